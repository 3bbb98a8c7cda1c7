r"""Power spectrum of points in a periodic box (cloud-in-cell, window-deconvolved, shot noise removed).

For ``n`` points painted with cloud-in-cell (CIC) on an ``N³`` node grid, :math:`F(k)` the DFT of
the painted counts, the estimator per Fourier mode is

.. math::
    \hat P(k) = \frac{V |F(k)|^2 / n^2 - (V/n)\, C(k)}{W(k)^2},\qquad
    C(k) = \prod_a \Big(1 - \tfrac23 \sin^2\frac{k_a\Delta}{2}\Big)

(:math:`C` the CIC shot-noise factor of Jing 2005) with the window :math:`W`:

* ``window="cic"`` — points anywhere: :math:`W = \prod_a \mathrm{sinc}^2(k_a\Delta/2)` (aliasing
  of the signal is not corrected; use :math:`k \lesssim k_\mathrm{Nyq}/2`);
* ``window="cell"`` — points drawn uniformly inside the cells of *this same grid* (as
  :class:`gdl.data.GalaxyClouds` does): the CIC kernel averaged over a cell is the exact discrete
  window :math:`W = \prod_a (1 - \tfrac12 \sin^2(k_a\Delta/2))`, with no aliasing, so
  :math:`E[\hat P] = P_\mathrm{grid}(k)` holds mode by mode up to Nyquist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.sim.grid import KGrid, cic_paint, k_grid, rfftn

__all__ = ["PowerSpectrum", "bin_modes", "mode_power", "point_modes", "point_power", "power_spectrum"]

WINDOWS = ("cic", "cell")


def _window(kg: KGrid, window: str) -> tuple[np.ndarray, np.ndarray]:
    half = [k * kg.cell / 2 for k in kg.k]
    s2 = [np.sin(h) ** 2 for h in half]
    shot = (1 - 2 / 3 * s2[0]) * (1 - 2 / 3 * s2[1]) * (1 - 2 / 3 * s2[2])
    if window == "cic":
        w = np.sinc(kg.k[0] * kg.cell / (2 * np.pi)) ** 2
        w = w * np.sinc(kg.k[1] * kg.cell / (2 * np.pi)) ** 2 * np.sinc(kg.k[2] * kg.cell / (2 * np.pi)) ** 2
    elif window == "cell":
        w = (1 - 0.5 * s2[0]) * (1 - 0.5 * s2[1]) * (1 - 0.5 * s2[2])
    else:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    return w, shot


def mode_power(pos: np.ndarray, box: float, grid: int, window: str = "cic") -> tuple[KGrid, np.ndarray]:
    """The estimator of the module docstring on every mode of the ``rfftn`` half-grid.

    Returns ``(kgrid, P [N, N, N//2+1])`` (P at k = 0 set to 0)."""
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise ValueError(f"pos must have shape [n, 3] with n > 0, got {pos.shape}")
    if not np.isfinite(pos).all():
        raise ValueError("pos contains NaN or inf")
    kg = k_grid(int(grid), float(box))
    n = len(pos)
    f = rfftn(cic_paint(pos, kg.n, kg.box))
    w, shot = _window(kg, window)
    vol = kg.box**3
    p = (vol * np.abs(f) ** 2 / n**2 - vol / n * shot) / w**2
    p[0, 0, 0] = 0.0
    return kg, p


def bin_modes(kg: KGrid, values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average ``values`` on the half-grid in shells of ``|k|`` between ``edges`` (h/Mpc).

    Each half-grid entry counts once (its Hermitian twin carries no new information).
    Returns ``(k_mean, value_mean, modes)``; empty shells give NaN."""
    k = np.sqrt(kg.k2).ravel()
    idx = np.digitize(k, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1) & (k > 0)
    nb = len(edges) - 1
    modes = np.bincount(idx[ok], minlength=nb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        kmean = np.bincount(idx[ok], weights=k[ok], minlength=nb) / modes
        vmean = np.bincount(idx[ok], weights=values.ravel()[ok], minlength=nb) / modes
    return kmean, vmean, modes


@dataclass
class PowerSpectrum:
    """Binned power spectrum: ``k`` (mean |k| per bin, h/Mpc), ``power`` ((Mpc/h)³), ``modes``."""

    k: np.ndarray
    power: np.ndarray
    modes: np.ndarray


def power_spectrum(
    pos: np.ndarray, box: float, grid: int = 64, edges: np.ndarray | None = None, window: str = "cic"
) -> PowerSpectrum:
    """Binned :func:`mode_power`; default bins of width ``2π/box`` up to the Nyquist frequency."""
    kg, p = mode_power(pos, box, grid, window)
    if edges is None:
        edges = np.arange(0.5, kg.n // 2 + 1) * kg.k_fundamental
    k, pk, modes = bin_modes(kg, p, np.asarray(edges, dtype=np.float64))
    return PowerSpectrum(k, pk, modes)


def point_modes(pos: np.ndarray, box: float, kmax: float, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact Fourier modes of the points' density contrast, no grid and no window:
    :math:`\delta(\mathbf k) = \frac{V}{n}\sum_j e^{-i\mathbf k\cdot\mathbf x_j}` for every
    :math:`\mathbf k = k_f\mathbf m` (integer :math:`\mathbf m`, :math:`m_z \ge 0`, the half-space of
    ``rfftn``) with :math:`0 < |\mathbf k| \le` ``kmax``. Its shot noise is exactly
    :math:`E|\delta|^2 = V P(k) + V^2/n`.

    Returns ``(m [M, 3] int, delta [M] complex)``. Cost ``n × (2 m_max + 1)² (m_max + 1)``
    (points summed ``chunk`` at a time).
    """
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise ValueError(f"pos must have shape [n, 3] with n > 0, got {pos.shape}")
    kf = 2 * np.pi / box
    mmax = int(np.floor(kmax / kf + 1e-9))
    if mmax < 1:
        raise ValueError(f"kmax={kmax} is below the fundamental 2π/L = {kf:.4g}")
    full = np.arange(-mmax, mmax + 1)
    half = np.arange(0, mmax + 1)
    F = np.zeros((len(full) * len(full), len(half)), dtype=np.complex128)
    for s in range(0, len(pos), chunk):
        p = pos[s : s + chunk]
        phase = np.exp(-1j * kf * p[:, :, None] * full[None, None, :])  # [c, 3, 2m+1]
        exy = (phase[:, 0, :, None] * phase[:, 1, None, :]).reshape(len(p), -1)  # [c, (2m+1)²]
        F += exy.T @ phase[:, 2, mmax:]  # m_z >= 0
    F = F.reshape(len(full), len(full), len(half))
    mx, my, mz = np.meshgrid(full, full, half, indexing="ij")
    m2 = mx**2 + my**2 + mz**2
    keep = (m2 > 0) & (m2 * kf * kf <= kmax * kmax * (1 + 1e-12))
    m = np.stack([mx[keep], my[keep], mz[keep]], axis=1)
    return m, F[keep] * box**3 / len(pos)


def point_power(pos: np.ndarray, box: float, edges: np.ndarray, reference=None) -> PowerSpectrum:
    """Binned exact power spectrum of the points (:func:`point_modes`), shot noise :math:`V/n`
    subtracted, in shells of ``|k|`` between ``edges`` (h/Mpc) up to ``edges[-1]``. With
    ``reference`` (a function of k), each mode is divided by ``reference(|k|)`` before binning, so
    ``power`` holds the mean ratio."""
    edges = np.asarray(edges, dtype=np.float64)
    m, d = point_modes(pos, box, edges[-1])
    vol = box**3
    p = np.abs(d) ** 2 / vol - vol / len(pos)
    k = np.sqrt((m**2).sum(1)) * 2 * np.pi / box
    if reference is not None:
        p = p / reference(k)
    idx = np.digitize(k, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    nb = len(edges) - 1
    modes = np.bincount(idx[ok], minlength=nb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        kmean = np.bincount(idx[ok], weights=k[ok], minlength=nb) / modes
        pmean = np.bincount(idx[ok], weights=p[ok], minlength=nb) / modes
    return PowerSpectrum(kmean, pmean, modes)
