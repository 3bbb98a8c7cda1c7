r"""Linear-theory velocity reconstruction from positions (numpy only).

Paint the points on an N³ grid (cloud-in-cell), take the overdensity :math:`\delta_g`, smooth it
with a Gaussian of radius R and solve the linear continuity equation for the displacement:

.. math::
    \psi(k) = \frac{i\mathbf k}{k^2}\,\delta_g(k)\,e^{-k^2R^2/2},\qquad
    \hat{\mathbf v} = \beta\,\psi(\mathbf x),\qquad \beta \approx 100\,f/b\ \mathrm{km/s\,(Mpc/h)^{-1}}

read at the points. The amplitude β (growth rate over bias, unknown per cloud) is the single
free parameter, fitted by least squares on training clouds only; R is chosen among a few
candidates by the training R². The prediction is an equivariant ``1o`` function of the positions
(exactly under the cube group and periodic translations of the box).

**Truncated at a radius** (``truncation`` :math:`R_t`): in real space the displacement is the
overdensity convolved with :math:`\hat{\mathbf r}/(4\pi r^2)` (the gravity kernel); keeping only the
matter within :math:`R_t` of each point multiplies the kernel's Fourier transform by

.. math::
    1 - j_0(kR_t) = 1 - \frac{\sin kR_t}{kR_t},

since :math:`\int_0^{R_t} j_1(kr)\,dr = (1 - j_0(kR_t))/k`. That is the linear-theory estimate
that a network whose receptive field is a ball of radius :math:`R_t` could at best reproduce — the
comparison that says how much of the velocity comes from beyond a message-passing network's reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..data.sim.grid import cic_paint, cic_read, gaussian_smoothing, irfftn, k_grid, rfftn

__all__ = ["LinearTheoryVelocity", "linear_displacement"]


def _check_truncation(truncation: float | None) -> float | None:
    if truncation is not None and not float(truncation) > 0:
        raise ValueError(f"truncation must be a radius > 0 (Mpc/h) or None, got {truncation!r}")
    return None if truncation is None else float(truncation)


def linear_displacement(
    pos: np.ndarray,
    box: float,
    grid: int = 64,
    smoothing: float | None = None,
    truncation: float | None = None,
) -> np.ndarray:
    """The smoothed linear displacement :math:`\\psi` of the galaxy field at the points ``[n, 3]``
    (Mpc/h per unit bias); ``smoothing`` R in Mpc/h, at least one cell (default two cells);
    ``truncation`` :math:`R_t` in Mpc/h (> 0): only the matter within :math:`R_t` of a point
    (module docstring; default ``None``: all of the box)."""
    truncation = _check_truncation(truncation)
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise ValueError(f"pos must have shape [n, 3] with n > 0, got {pos.shape}")
    if not np.isfinite(pos).all():
        raise ValueError("pos contains NaN or inf")
    kg = k_grid(int(grid), float(box))
    r = 2 * kg.cell if smoothing is None else float(smoothing)
    if not r >= kg.cell:
        raise ValueError(
            f"grid too coarse for the requested smoothing: R={r} Mpc/h is below the cell size "
            f"{kg.cell:.4g} Mpc/h (box {box} / grid {grid}); raise grid or R"
        )
    counts = cic_paint(pos, kg.n, kg.box)
    delta_k = rfftn(counts / counts.mean() - 1.0) * gaussian_smoothing(kg, r)
    if truncation is not None:  # 1 - sin(k R_t) / (k R_t); np.sinc(x) = sin(pi x) / (pi x)
        delta_k = delta_k * (1.0 - np.sinc(np.sqrt(kg.k2) * truncation / np.pi))
    inv_k2 = np.where(kg.k2 > 0, 1.0 / np.where(kg.k2 > 0, kg.k2, 1.0), 0.0)
    psi = irfftn(np.stack([1j * kd * delta_k * inv_k2 for kd in kg.kd]), kg.n)  # [3, N, N, N]
    return cic_read(psi, pos, kg.box)


class LinearTheoryVelocity:
    """Linear-theory velocities (module docstring) with β and R fitted on training clouds.

    Args:
        grid: N of the painting grid. Default ``64``.
        smoothing: candidate Gaussian radii R (Mpc/h), each at least one cell; ``None`` tries
            1, 1.5, 2, 3 and 4 cells. Default ``None``.
        truncation: keep only the matter within this radius (Mpc/h) of each point (module
            docstring). Default ``None`` (the whole box).
    """

    def __init__(
        self,
        grid: int = 64,
        smoothing: float | Sequence[float] | None = None,
        truncation: float | None = None,
    ):
        if int(grid) != grid or grid < 4:
            raise ValueError(f"grid must be an integer >= 4, got {grid!r}")
        self.truncation = _check_truncation(truncation)
        self.grid = int(grid)
        self.smoothing = (
            None if smoothing is None else tuple(np.atleast_1d(np.asarray(smoothing, dtype=float)))
        )
        self.beta_: float | None = None

    def _candidates(self, box: float) -> tuple[float, ...]:
        if self.smoothing is not None:
            return self.smoothing
        cell = box / self.grid
        return tuple(cell * f for f in (1.0, 1.5, 2.0, 3.0, 4.0))

    def fit(self, clouds: Iterable[tuple[np.ndarray, np.ndarray, float]]) -> LinearTheoryVelocity:
        """Fit on ``(pos [n, 3], velocity [n, 3], box)`` triples (all with the same box)."""
        sums: dict[float, np.ndarray] | None = None  # R -> [Σ v·t, Σ t·t]
        vv, vsum, count, box0 = 0.0, np.zeros(3), 0, None
        for pos, vel, box in clouds:
            vel = np.asarray(vel, dtype=np.float64)
            if not np.isfinite(vel).all():
                raise ValueError("training velocities contain NaN or inf")
            if box0 is None:
                box0 = float(box)
                sums = {r: np.zeros(2) for r in self._candidates(box0)}
            elif float(box) != box0:
                raise ValueError(f"all training clouds must share one box, got {box0} and {box}")
            for r in sums:
                t = linear_displacement(pos, box, self.grid, r, self.truncation)
                sums[r] += [np.sum(vel * t), np.sum(t * t)]
            vv += float(np.sum(vel * vel))
            vsum += vel.sum(0)
            count += len(vel)
        if sums is None or count == 0:
            raise ValueError("fit needs at least one training cloud")
        tot = vv - float(vsum @ vsum) / count  # Σ |v - mean|²
        r2 = {}
        for r, (vt, tt) in sums.items():
            beta = vt / tt if tt > 0 else 0.0
            r2[r] = 1.0 - (vv - 2 * beta * vt + beta * beta * tt) / tot
        self.smoothing_ = max(r2, key=r2.get)
        vt, tt = sums[self.smoothing_]
        self.beta_ = float(vt / tt) if tt > 0 else 0.0
        self.train_r2_ = r2
        return self

    def predict(self, pos: np.ndarray, box: float) -> np.ndarray:
        """Predicted velocities ``[n, 3]`` (km/s)."""
        if self.beta_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return self.beta_ * linear_displacement(pos, box, self.grid, self.smoothing_, self.truncation)

    def __repr__(self) -> str:
        fitted = "" if self.beta_ is None else f", beta={self.beta_:.4g}, R={self.smoothing_:.4g}"
        cut = "" if self.truncation is None else f", truncation={self.truncation:.4g}"
        return f"{type(self).__name__}(grid={self.grid}{cut}{fitted})"
