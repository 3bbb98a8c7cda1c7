r"""The synthetic galaxy generator behind :class:`gdl.data.GalaxyClouds` (numpy only).

One cloud is a pure function of ``(seed, index)``: :meth:`GalaxyGenerator.draw` draws its
parameters (:class:`CloudParams`) and its noise (:class:`CloudNoise`) from
``numpy.random.SeedSequence([seed, index])``, and :meth:`GalaxyGenerator.realize` turns them into
points (:class:`Cloud`). The physics follows ``docs/datasets.md`` (units Mpc/h, km/s, z = 0):

1. linear power :math:`P(k)(1 + \varepsilon\mu^2)` (:class:`~gdl.data.sim.cosmology.LinearPower`,
   μ the cosine to the z axis), Gaussian field :math:`\delta_L(k) = W_k\sqrt{P/\Delta V}` from the
   white noise ``w`` on the N³ grid;
2. lognormal mode (:class:`GalaxyGenerator`): galaxy density :math:`\rho = e^G/\langle e^G\rangle`
   with :math:`P_G` from :func:`~gdl.data.sim.grid.lognormal_spectrum` of
   :math:`b^2 P(k)/W_\mathrm{cell}(k)`, the same white noise; ``n`` points drawn multinomially over
   cells (:math:`p \propto \rho`), uniform inside a cell. Uniform placement multiplies the points'
   power by the cell window :math:`W_\mathrm{cell} = \prod_a \mathrm{sinc}^2(k_a\Delta/2)`
   (:func:`cell_window`), which the grid's target divides out: the points' own spectrum is
   :math:`b^2P(k)` for every :math:`|k_a| < k_\mathrm{Nyq}` (measured within 5% up to k_Nyq/2);
   Zel'dovich mode (:class:`ZeldovichGenerator`): ``n`` distinct Lagrangian cells drawn without
   replacement with weights :math:`e^{\beta\delta_L}`, β solved so that the large-scale bias is
   the requested b; a uniform point in each, moved by ψ;
   2LPT mode (:class:`SecondOrderGenerator`): the ``n`` cells of highest δ_L (a Lagrangian
   threshold), moved by :math:`\psi^{(1)} + \psi^{(2)}`, bias predicted from the threshold;
   the bias b is a number, a range, or ``"halo"`` (abundance matching, :mod:`gdl.data.sim.halos`);
3. velocities :math:`v = 100 f \psi` km/s (f the exact ΛCDM growth rate),
   :math:`\psi(k) = i k \delta_L/k^2`, read by cloud-in-cell, plus an optional isotropic
   dispersion :math:`\sigma_v`;
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

from ...keys import change_of_basis_2e
from .cosmology import Cosmology, LinearPower, growth_rate, second_order_growth_rate
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
    "SecondOrderGenerator",
    "ZeldovichGenerator",
    "cell_window",
    "make_generator",
    "threshold_bias",
    "weighted_selection_bias",
]

_COB_2E = change_of_basis_2e(torch.float64).numpy()  # [5, 3, 3] e3nn 2e basis


@dataclass(frozen=True)
class CloudParams:
    """The labels of one cloud: Ωm, σ8, the large-scale bias b its points show (requested, or
    predicted by the mode's bias model) and the nuisance parameters Ωb, h, n_s."""

    omega_m: float
    sigma_8: float
    bias: float
    omega_b: float = 0.049
    h: float = 0.6711
    n_s: float = 0.9624

    @property
    def cosmology(self) -> Cosmology:
        return Cosmology(self.omega_m, self.sigma_8, self.h, self.omega_b, self.n_s)


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
        om = float(rp.uniform(*c.omega_m))
        s8 = float(rp.uniform(*c.sigma_8))
        b = rp.uniform(*c.bias) if isinstance(c.bias, tuple) else c.bias
        nuisance = {
            k: float(rp.uniform(*v) if isinstance(v, tuple) else v)
            for k, v in (("omega_b", c.omega_b), ("h", c.h), ("n_s", c.n_s))
        }
        noise = CloudNoise.draw(np.random.default_rng(ss_noise), c.grid, c.num_points, self.uniform_key)
        if isinstance(b, str):
            b = self.model_bias(CloudParams(om, s8, math.nan, **nuisance))
        return CloudParams(om, s8, float(b), **nuisance), noise

    def model_bias(self, params: CloudParams) -> float:
        """The bias of ``params``' cosmology under the config's bias model (``"halo"``: the
        abundance-matched bias of :func:`gdl.data.sim.halos.abundance_matched_bias` at the number
        density ``num_points / box_size**3``)."""
        c = self.config
        if c.bias != "halo":
            raise ValueError(f"{type(self).__name__} has no bias model {c.bias!r}")
        from .halos import abundance_matched_bias

        pk = LinearPower(params.cosmology, c.power)
        return abundance_matched_bias(params.cosmology, c.num_points / c.box_size**3, power=pk).bias

    def __call__(self, index: int) -> Cloud:
        return self.realize(*self.draw(index))

    # -- physics ----------------------------------------------------------------------------
    def power_grid(self, params: CloudParams) -> np.ndarray:
        """Linear :math:`P(k)(1 + \\varepsilon\\mu^2)` on the half-grid (0 at k = 0)."""
        c = self.config
        p = self.kgrid.radial(LinearPower(params.cosmology, c.power))
        if c.anisotropy:
            p = p * (1.0 + c.anisotropy * self.kgrid.mu2())
        return p

    def linear_field(self, params: CloudParams, noise: CloudNoise) -> np.ndarray:
        """The cloud's linear matter field :math:`\\delta_L(\\mathbf k)` on the ``rfftn`` half-grid,
        normalised as a continuous Fourier transform (:math:`E|\\delta_L|^2 = V P(k)`)."""
        dv = self.kgrid.cell**3
        return rfftn(noise.white) * np.sqrt(self.power_grid(params) / dv) * dv

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
        pos, sample_at, density, clipped, extra_velocity = self.place(params, noise, wk, power, psi)
        f = growth_rate(params.omega_m)
        at_points = cic_read(fields, sample_at, c.box_size, channels_last=True)  # [n, 8]
        vel = 100.0 * f * at_points[:, :3] + c.velocity_dispersion * noise.dispersion
        if extra_velocity is not None:  # 2LPT: 100 f₂ ψ⁽²⁾ at the points
            vel = vel + extra_velocity
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

    @functools.cached_property
    def _cell_window(self) -> np.ndarray:
        return cell_window(self.kgrid)

    def place(
        self, params: CloudParams, noise: CloudNoise, wk: np.ndarray, power: np.ndarray, psi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], np.ndarray | None]:
        """Lognormal points from the white noise ``wk`` (Fourier), the linear ``power`` on the
        half-grid and the displacement ``psi [N, N, N, 3]``. Returns ``(positions, where
        velocities and shapes are read, density, (clipped modes, clipped power), velocity added
        to the linear one or None)``."""
        kg = self.kgrid
        # the cell window is divided out of the grid's target, so that points placed uniformly
        # inside the cells have the power b²P(k) (module docstring)
        pg, clipped_modes, clipped_power = lognormal_spectrum(params.bias**2 * power / self._cell_window, kg)
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
        return pos, pos, rho, (clipped_modes, clipped_power), None


def cell_window(kg: KGrid) -> np.ndarray:
    r"""Power window of a point placed uniformly inside its cell, on the half-grid:
    :math:`\prod_a \mathrm{sinc}^2(k_a\Delta/2)`."""
    w = np.ones(kg.shape)
    for k in kg.k:
        w = w * np.sinc(k * kg.cell / (2 * np.pi)) ** 2
    return w


def _contract_2e(m: int, kg: KGrid) -> np.ndarray:
    """:math:`\\sum_{ab} B^m_{ab} k_a k_b` on the half-grid (Nyquist-free k; B the 2e basis)."""
    out = np.zeros(kg.shape)
    for a in range(3):
        for b in range(3):
            if _COB_2E[m, a, b] != 0.0:
                out = out + _COB_2E[m, a, b] * kg.kd[a] * kg.kd[b]
    return out


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(96)
_GH_W = _GH_W / _GH_W.sum()  # E[g(x)], x ~ N(0, 1)


def _selection_stats(beta_sigma: float, frac: float) -> tuple[float, float]:
    """For weights :math:`w = e^{\\beta\\sigma x - \\beta^2\\sigma^2/2}` (x ~ N(0, 1), mean 1) and
    the Poissonised weighted sampling without replacement of a fraction ``frac`` of the cells
    (cell kept with probability :math:`p = 1 - e^{-t w}`, t fixed by E[p] = frac), returns
    ``(E[p x] / E[p], t)``: the Lagrangian bias times σ."""
    from scipy.optimize import brentq

    lw = beta_sigma * _GH_X - 0.5 * beta_sigma**2
    lw = lw - lw.max()

    def mean_p(log_t: float) -> float:
        with np.errstate(over="ignore"):
            return float(_GH_W @ -np.expm1(-np.exp(log_t + lw))) - frac

    with np.errstate(over="ignore"):
        log_t = brentq(mean_p, -60.0 - abs(beta_sigma) * 40.0, 60.0 + abs(beta_sigma) * 40.0, xtol=1e-12)
        p = -np.expm1(-np.exp(log_t + lw))
    return float(_GH_W @ (p * _GH_X)) / float(_GH_W @ p), log_t


def weighted_selection_bias(beta: float, sigma: float, frac: float) -> float:
    """Lagrangian linear bias :math:`b_L` of the Zel'dovich mode's selection (weights
    :math:`e^{\\beta\\delta}`, a fraction ``frac`` of cells drawn without replacement) for a
    Gaussian cell field of rms ``sigma`` (Stein's lemma: :math:`b_L = E[p\\,\\delta]/(\\sigma^2 E[p])`).
    Tends to β when ``frac`` → 0 and to :func:`threshold_bias` when β → ∞."""
    return _selection_stats(beta * sigma, frac)[0] / sigma


def threshold_bias(sigma: float, frac: float) -> float:
    """Lagrangian linear bias of the cells above the threshold ν σ that keeps a fraction ``frac``
    of a Gaussian field of rms ``sigma`` (Kaiser 1984): :math:`b_L = \\varphi(\\nu)/(\\sigma\\,(1 -
    \\Phi(\\nu)))`, :math:`1 - \\Phi(\\nu) = ` ``frac``."""
    from scipy.stats import norm

    nu = norm.isf(frac)
    return float(norm.pdf(nu) / (sigma * frac))


class ZeldovichGenerator(GalaxyGenerator):
    """Zel'dovich clouds: ``n`` distinct Lagrangian cells drawn without replacement with weights
    :math:`e^{\\beta\\delta_L}` (exponential keys ``-ln(key)/weight``, Efraimidis & Spirakis 2006),
    a uniform point ``q`` in each, moved to ``q + ψ(q)``; velocities and shapes are read at ``q``.

    The bias. The Lagrangian bias of the selection is :func:`weighted_selection_bias` (β when
    ``n`` ≪ N³, less when the sampling without replacement saturates), the Eulerian bias of the
    displaced points :math:`b = 1 + b_L`; β is solved for so that ``b`` is the requested bias. A
    bias that no β reaches with ``n`` of the N³ cells (above ``1 + threshold_bias``) is an error.
    """

    mode = "zeldovich"
    uniform_key = True

    def cell_sigma(self, power: np.ndarray) -> float:
        """rms of the Gaussian cell field δ of half-grid ``power`` (its ξ at zero lag)."""
        return math.sqrt(float(irfftn(power / self.kgrid.cell**3, self.kgrid.n)[0, 0, 0]))

    def weight_exponent(self, params: CloudParams, power: np.ndarray) -> float:
        """β of the weights :math:`e^{\\beta\\delta}` that gives the bias ``params.bias``."""
        from scipy.optimize import brentq

        c = self.config
        sigma = self.cell_sigma(power)
        frac = c.num_points / c.grid**3
        target = params.bias - 1.0
        # |β σ| <= 25 reaches within ~1% of the threshold limit (sharper weights are not resolved
        # by the quadrature of weighted_selection_bias)
        lo, hi = (weighted_selection_bias(s * 25.0 / sigma, sigma, frac) for s in (-1.0, 1.0))
        if not lo < target < hi:
            raise ValueError(
                f"bias {params.bias:.4g} needs more tracers than grid cells allow: {c.num_points} points "
                f"drawn from {c.grid}^3 cells show a bias between {1 + lo:.4g} and {1 + hi:.4g} at this "
                f"cosmology (Ωm={params.omega_m:.3g}, σ8={params.sigma_8:.3g}); raise grid, lower "
                "num_points or request a bias in that range"
            )
        return brentq(
            lambda beta: weighted_selection_bias(beta, sigma, frac) - target,
            -25.0 / sigma,
            25.0 / sigma,
            xtol=1e-10,
        )

    def place(
        self, params: CloudParams, noise: CloudNoise, wk: np.ndarray, power: np.ndarray, psi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], np.ndarray | None]:
        c, kg = self.config, self.kgrid
        delta = irfftn(wk * np.sqrt(power / kg.cell**3), kg.n)
        beta = self.weight_exponent(params, power)
        weight = np.exp(beta * (delta - (delta.max() if beta > 0 else delta.min())))
        weight /= weight.mean()
        keys = -np.log(noise.key.ravel()) / weight.ravel()
        n = c.num_points
        chosen = np.argpartition(keys, n - 1)[:n]
        chosen = chosen[np.argsort(keys[chosen], kind="stable")]
        q = (np.stack(np.unravel_index(chosen, weight.shape), axis=1) + noise.offset) * kg.cell
        q = wrap_positions(q, c.box_size)
        pos = q + cic_read(psi, q, c.box_size, channels_last=True)
        return pos, q, weight, (0.0, 0.0), None


class SecondOrderGenerator(ZeldovichGenerator):
    """2LPT clouds with tracers chosen by a Lagrangian threshold: the ``n`` cells of highest linear
    density δ (the grid's cell field) hold one tracer each, uniform inside the cell at ``q``, moved
    to :math:`x = q + \\psi^{(1)}(q) + \\psi^{(2)}(q)` with
    :math:`\\psi^{(2)}(k) = \\tfrac37\\, i\\mathbf k\\, S(k)/k^2`,
    :math:`S = \\sum_{i<j}(\\phi_{,ii}\\phi_{,jj} - \\phi_{,ij}^2)`, :math:`\\phi_{,ij} = k_ik_j\\delta/k^2`
    (Bouchet et al. 1995; Scoccimarro 1998), velocities :math:`100(f_1\\psi^{(1)} + f_2\\psi^{(2)})`.

    The bias is predicted from the selection (``bias="selection"``): the Kaiser (1984) threshold
    bias :math:`b_L` of :func:`threshold_bias` for the rms σ of the cell field and the fraction
    n/N³ of cells kept, and :math:`b = 1 + b_L` for the displaced points; it follows the cosmology
    (b·σ8 is nearly constant), like haloes at fixed number density."""

    mode = "2lpt"
    uniform_key = True

    def model_bias(self, params: CloudParams) -> float:
        c = self.config
        sigma = self.cell_sigma(self.power_grid(params))
        return 1.0 + threshold_bias(sigma, c.num_points / c.grid**3)

    @functools.cached_property
    def _tidal_kernels(self) -> np.ndarray:
        """``[N, N, N//2+1, 6]``: :math:`k_ik_j/k^2` for (xx, yy, zz, xy, xz, yz), Nyquist-free."""
        kg = self.kgrid
        pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
        return np.stack(
            [np.broadcast_to(kg.kd[i] * kg.kd[j] * kg.inv_k2, kg.shape) for i, j in pairs], axis=-1
        ).astype(np.float64)

    def place(
        self, params: CloudParams, noise: CloudNoise, wk: np.ndarray, power: np.ndarray, psi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], np.ndarray | None]:
        c, kg = self.config, self.kgrid
        delta_k = wk * np.sqrt(power / kg.cell**3)
        delta = irfftn(delta_k, kg.n)
        t = irfftn(delta_k[..., None] * self._tidal_kernels, kg.n, axes=(0, 1, 2))
        source = (
            t[..., 0] * t[..., 1]
            + t[..., 0] * t[..., 2]
            + t[..., 1] * t[..., 2]
            - t[..., 3] ** 2
            - t[..., 4] ** 2
            - t[..., 5] ** 2
        )
        psi_kernel = self._kernels[..., :3]
        psi2 = (3.0 / 7.0) * irfftn(rfftn(source)[..., None] * psi_kernel, kg.n, axes=(0, 1, 2))
        n = c.num_points
        flat = delta.ravel()
        chosen = np.argpartition(-flat, n - 1)[:n]
        chosen = chosen[np.argsort(-flat[chosen], kind="stable")]
        q = (np.stack(np.unravel_index(chosen, delta.shape), axis=1) + noise.offset) * kg.cell
        q = wrap_positions(q, c.box_size)
        both = cic_read(np.concatenate([psi, psi2], axis=-1), q, c.box_size, channels_last=True)
        pos = q + both[:, :3] + both[:, 3:]
        extra_velocity = 100.0 * second_order_growth_rate(params.omega_m) * both[:, 3:]
        selected = np.zeros(delta.size)
        selected[chosen] = 1.0
        return pos, q, selected.reshape(delta.shape), (0.0, 0.0), extra_velocity


GENERATORS: dict[str, type[GalaxyGenerator]] = {
    "lognormal": GalaxyGenerator,
    "zeldovich": ZeldovichGenerator,
    "2lpt": SecondOrderGenerator,
}
assert set(GENERATORS) == set(MODES)


def make_generator(config: GalaxyConfig | Mapping[str, Any] | None = None, seed: int = 0) -> GalaxyGenerator:
    """The generator class of ``config.mode``."""
    cfg = GalaxyConfig.from_any(config)
    return GENERATORS[cfg.mode](cfg, seed)
