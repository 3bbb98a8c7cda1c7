r"""The synthetic galaxy generator behind :class:`gdl.data.GalaxyClouds` (numpy only).

One cloud is a pure function of ``(seed, index)``: :meth:`GalaxyGenerator.draw` draws its
parameters (:class:`CloudParams`) and its noise (:class:`CloudNoise`) from
``numpy.random.SeedSequence([seed, index])``, and :meth:`GalaxyGenerator.realize` turns them into
points (:class:`Cloud`). The physics follows ``docs/datasets.md`` (units Mpc/h, km/s, z = 0):

1. linear power :math:`P(k)(1 + \varepsilon\mu^2)` (:class:`~gdl.data.cosmology.LinearPower`,
   μ the cosine to the z axis), Gaussian field :math:`\delta_L(k) = W_k\sqrt{P/\Delta V}` from the
   white noise ``w`` on the N³ grid;
2. lognormal mode (:class:`GalaxyGenerator`): galaxy density :math:`\rho = e^G/\langle e^G\rangle`
   with :math:`P_G` from :func:`~gdl.data.grid.lognormal_spectrum` of :math:`b^2 P`, the same white
   noise; ``n`` points drawn multinomially over cells (:math:`p \propto \rho`), uniform inside a cell;
   Zel'dovich mode (:class:`ZeldovichGenerator`): ``n`` distinct Lagrangian cells drawn without
   replacement with weights :math:`e^{(b-1)\delta_L}`, a uniform point in each, moved by ψ;
3. velocities :math:`v = 100 f \psi` km/s, :math:`\psi(k) = i k \delta_L/k^2`, read by cloud-in-cell,
   plus an optional isotropic dispersion :math:`\sigma_v`;
4. shapes (linear alignment): :math:`S = -A_{IA}\tilde T/\mathrm{rms}(\tilde T)` + isotropic
   traceless Gaussian noise, :math:`\tilde T` the traceless tidal tensor
   :math:`k_a k_b \delta_L e^{-k^2R^2/2}/k^2`, as e3nn ``2e`` components;
5. optional redshift-space distortion along z: :math:`s_z = z + v_z/100` Mpc/h, modulo L.

Exact symmetry. The noise of a cloud consists of grid-attached arrays (white noise ``white`` and
cell keys ``key``, both ``[N, N, N]``) and point-attached arrays (``choice [n]``, in-cell
``offset [n, 3]``, ``dispersion [n, 3]``, ``shape_noise [n, 5]``). :meth:`CloudNoise.act` applies a
cube-group element to all of them (grids permuted about the origin, offsets and dispersions
rotated as vectors, shape noise as ``2e``); every step above commutes with that action (cells are
visited in the order of their keys, not of their memory layout), so the realised cloud maps
exactly: positions ``R x mod L``, velocities ``R v``, shapes ``D²(R) S``, point k to point k
(up to float rounding). This holds for the whole cube group when ε = 0 and RSD is off, and for
the subgroup that maps the z axis to ±z otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..keys import change_of_basis_2e
from .cosmology import Cosmology, LinearPower, growth_rate
from .galaxy_config import MODES, GalaxyConfig
from .grid import (
    KGrid,
    cic_read,
    cube_act_grid,
    gaussian_smoothing,
    irfftn,
    k_grid,
    lognormal_spectrum,
    rfftn,
    wrap_positions,
)

__all__ = [
    "GENERATORS",
    "MODES",
    "Cloud",
    "CloudNoise",
    "CloudParams",
    "GalaxyConfig",
    "GalaxyGenerator",
    "ZeldovichGenerator",
    "make_generator",
]

_COB_2E = change_of_basis_2e(torch.float64).numpy()  # [5, 3, 3] e3nn 2e basis


@dataclass(frozen=True)
class CloudParams:
    """The labels of one cloud: Ωm, σ8 and the galaxy bias b."""

    omega_m: float
    sigma_8: float
    bias: float


@dataclass
class CloudNoise:
    """All randomness of one cloud (module docstring): grid-attached ``white`` (unit Gaussian)
    and ``key`` ``[N, N, N]``; point-attached ``choice [n]`` (uniform), ``offset [n, 3]`` (in cell
    units, uniform in [-1/2, 1/2)), ``dispersion [n, 3]`` and ``shape_noise [n, 5]`` (unit
    Gaussians). ``key`` is a random permutation of the cells (int64 ranks) in lognormal mode and
    iid uniforms in Zel'dovich mode (``uniform_key``)."""

    white: np.ndarray
    key: np.ndarray
    choice: np.ndarray
    offset: np.ndarray
    dispersion: np.ndarray
    shape_noise: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, grid: int, n: int, uniform_key: bool = False) -> CloudNoise:
        shape = (grid, grid, grid)
        return cls(
            white=rng.standard_normal(shape),
            key=rng.random(shape) if uniform_key else rng.permutation(grid**3).reshape(shape),
            choice=rng.random(n),
            offset=rng.random((n, 3)) - 0.5,
            dispersion=rng.standard_normal((n, 3)),
            shape_noise=rng.standard_normal((n, 5)),
        )

    def act(self, R: np.ndarray) -> CloudNoise:
        """The noise mapped by a cube-group element ``R`` (a signed permutation matrix)."""
        R = np.asarray(R, dtype=np.float64)
        D2 = np.einsum("kij,ia,jb,lab->kl", _COB_2E, R, R, _COB_2E)  # Wigner D of 2e for R
        return CloudNoise(
            white=cube_act_grid(self.white, R),
            key=cube_act_grid(self.key, R),
            choice=self.choice.copy(),
            offset=self.offset @ R.T,
            dispersion=self.dispersion @ R.T,
            shape_noise=self.shape_noise @ D2.T,
        )


@dataclass
class Cloud:
    """One realised cloud (float64 numpy arrays): ``pos [n, 3]`` in [0, L), ``velocity [n, 3]``
    (km/s), ``shape [n, 5]`` (e3nn ``2e``), its :class:`CloudParams`, the box side, the lognormal
    density ``density [N, N, N]`` (mean 1; Zel'dovich mode: the Lagrangian weights, mean 1), and
    the fraction of lognormal modes whose negative Gaussian power was clipped and that power over
    the total (both 0 in Zel'dovich mode; at the defaults at most ~1% and ~2e-4)."""

    pos: np.ndarray
    velocity: np.ndarray
    shape: np.ndarray
    params: CloudParams
    box_size: float
    density: np.ndarray = field(repr=False)
    clipped_fraction: float = 0.0
    clipped_power: float = 0.0


class GalaxyGenerator:
    """Lognormal galaxy clouds (module docstring). Subclasses override :meth:`place`.

    Args:
        config: a :class:`GalaxyConfig` (or mapping). Default ``GalaxyConfig()``.
        seed: the global seed; cloud ``i`` depends only on ``(seed, i)``. Default ``0``.
    """

    mode = "lognormal"
    #: whether :attr:`CloudNoise.key` holds uniforms (else a permutation of the cells)
    uniform_key = False

    def __init__(self, config: GalaxyConfig | Mapping[str, Any] | None = None, seed: int = 0):
        self.config = GalaxyConfig.from_any(config)
        if self.config.mode != self.mode:
            raise ValueError(
                f"{type(self).__name__} generates mode {self.mode!r}, config asks for {self.config.mode!r}"
            )
        self.seed = int(seed)
        self.kgrid: KGrid = k_grid(self.config.grid, self.config.box_size)

    # -- randomness -------------------------------------------------------------------------
    def draw(self, index: int) -> tuple[CloudParams, CloudNoise]:
        """Parameters and noise of cloud ``index`` (a pure function of ``(seed, index)``)."""
        if index < 0:
            raise IndexError(f"cloud index must be >= 0, got {index}")
        ss_params, ss_noise = np.random.SeedSequence([self.seed, int(index)]).spawn(2)
        rp = np.random.default_rng(ss_params)
        c = self.config
        om = rp.uniform(*c.omega_m)
        s8 = rp.uniform(*c.sigma_8)
        b = rp.uniform(*c.bias) if isinstance(c.bias, tuple) else c.bias
        noise = CloudNoise.draw(np.random.default_rng(ss_noise), c.grid, c.num_points, self.uniform_key)
        return CloudParams(float(om), float(s8), float(b)), noise

    def __call__(self, index: int) -> Cloud:
        return self.realize(*self.draw(index))

    # -- physics ----------------------------------------------------------------------------
    def power_grid(self, params: CloudParams) -> np.ndarray:
        """Linear :math:`P(k)(1 + \\varepsilon\\mu^2)` on the half-grid (0 at k = 0)."""
        c = self.config
        pk = LinearPower(Cosmology(params.omega_m, params.sigma_8, c.h, c.omega_b, c.n_s))
        p = self.kgrid.radial(pk)
        if c.anisotropy:
            p = p * (1.0 + c.anisotropy * self.kgrid.mu2())
        return p

    def realize(self, params: CloudParams, noise: CloudNoise) -> Cloud:
        """Turn parameters and noise into a :class:`Cloud`."""
        c, kg = self.config, self.kgrid
        n = c.num_points
        if noise.white.shape != (c.grid,) * 3 or noise.choice.shape != (n,):
            raise ValueError(
                f"noise of grid {noise.white.shape} and {noise.choice.shape[0]} points does not match "
                f"the config (grid {c.grid}, {n} points)"
            )
        dv = kg.cell**3
        power = self.power_grid(params)
        wk = rfftn(noise.white)
        delta_k = wk * np.sqrt(power / dv)  # linear matter field, δ(0) = 0 since P(0) = 0
        # displacement ψ (3) and smoothed tidal tensor T̃ in the 2e basis (5) on the grid: [N, N, N, 8]
        fields = irfftn(delta_k[..., None] * self._kernels, kg.n, axes=(0, 1, 2))
        psi = fields[..., :3]
        rms = math.sqrt(float(np.mean(fields[..., 3:] ** 2)))
        # clipped: (fraction of modes, fraction of power) clipped by the lognormal transform
        pos, sample_at, density, clipped = self.place(params, noise, wk, power, psi)
        f = growth_rate(params.omega_m)
        at_points = cic_read(fields, sample_at, c.box_size, channels_last=True)  # [n, 8]
        vel = 100.0 * f * at_points[:, :3] + c.velocity_dispersion * noise.dispersion
        shape = -c.alignment * at_points[:, 3:] / (rms if rms > 0 else 1.0)
        shape = shape + c.shape_noise * noise.shape_noise
        if c.rsd:
            pos = pos.copy()
            pos[:, 2] += vel[:, 2] / 100.0
        pos = wrap_positions(pos, c.box_size)
        return Cloud(pos, vel, shape, params, c.box_size, density, *clipped)

    @functools.cached_property
    def _kernels(self) -> np.ndarray:
        """``[N, N, N//2+1, 8]``: :math:`i k_a/k^2` (ψ) and :math:`B^m_{ab} k_a k_b e^{-k^2R^2/2}/k^2`
        (the 2e components of the smoothed tidal tensor), with Nyquist-free k."""
        kg = self.kgrid
        psi = [1j * kd * kg.inv_k2 for kd in kg.kd]
        smooth = gaussian_smoothing(kg, self.config.smoothing) * kg.inv_k2
        tidal = [_contract_2e(m, kg) * smooth for m in range(5)]
        return np.stack([np.broadcast_to(a, kg.shape) for a in psi + tidal], axis=-1).astype(np.complex128)

    def place(
        self, params: CloudParams, noise: CloudNoise, wk: np.ndarray, power: np.ndarray, psi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
        """Lognormal points from the white noise ``wk`` (Fourier), the linear ``power`` on the
        half-grid and the displacement ``psi [N, N, N, 3]``. Returns ``(positions, where
        velocities and shapes are read, density, (clipped modes, clipped power))``."""
        kg = self.kgrid
        pg, clipped_modes, clipped_power = lognormal_spectrum(params.bias**2 * power, kg)
        g = irfftn(wk * np.sqrt(pg / kg.cell**3), kg.n)
        rho = np.exp(g - g.max())  # the exp(-σ_G²/2) factor cancels in the normalisation below
        rho /= rho.mean()
        # multinomial over cells, visiting cells in the order of their keys (symmetric under the cube group)
        order = np.empty(noise.key.size, dtype=np.int64)
        order[noise.key.ravel()] = np.arange(noise.key.size)
        cdf = np.cumsum(rho.ravel()[order])
        cdf /= cdf[-1]
        cells = order[np.minimum(np.searchsorted(cdf, noise.choice, side="right"), cdf.size - 1)]
        pos = (np.stack(np.unravel_index(cells, rho.shape), axis=1) + noise.offset) * kg.cell
        return pos, pos, rho, (clipped_modes, clipped_power)


def _contract_2e(m: int, kg: KGrid) -> np.ndarray:
    """:math:`\\sum_{ab} B^m_{ab} k_a k_b` on the half-grid (Nyquist-free k; B the 2e basis)."""
    out = np.zeros(kg.shape)
    for a in range(3):
        for b in range(3):
            if _COB_2E[m, a, b] != 0.0:
                out = out + _COB_2E[m, a, b] * kg.kd[a] * kg.kd[b]
    return out


class ZeldovichGenerator(GalaxyGenerator):
    """Zel'dovich clouds: ``n`` distinct Lagrangian cells drawn without replacement with weights
    :math:`e^{(b-1)\\delta_L}` (exponential keys ``-ln(key)/weight``, Efraimidis & Spirakis 2006),
    a uniform point ``q`` in each, moved to ``q + ψ(q)``; velocities and shapes are read at ``q``."""

    mode = "zeldovich"
    uniform_key = True

    def place(
        self, params: CloudParams, noise: CloudNoise, wk: np.ndarray, power: np.ndarray, psi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
        c, kg = self.config, self.kgrid
        delta = irfftn(wk * np.sqrt(power / kg.cell**3), kg.n)
        weight = np.exp((params.bias - 1.0) * (delta - delta.max()))
        weight /= weight.mean()
        keys = -np.log(noise.key.ravel()) / weight.ravel()
        n = c.num_points
        chosen = np.argpartition(keys, n - 1)[:n] if n < keys.size else np.arange(keys.size)
        chosen = chosen[np.argsort(keys[chosen], kind="stable")]
        q = (np.stack(np.unravel_index(chosen, weight.shape), axis=1) + noise.offset) * kg.cell
        q = wrap_positions(q, c.box_size)
        pos = q + cic_read(psi, q, c.box_size, channels_last=True)
        return pos, q, weight, (0.0, 0.0)


GENERATORS: dict[str, type[GalaxyGenerator]] = {"lognormal": GalaxyGenerator, "zeldovich": ZeldovichGenerator}
assert set(GENERATORS) == set(MODES)


def make_generator(config: GalaxyConfig | Mapping[str, Any] | None = None, seed: int = 0) -> GalaxyGenerator:
    """The generator class of ``config.mode``."""
    cfg = GalaxyConfig.from_any(config)
    return GENERATORS[cfg.mode](cfg, seed)
