r"""Pair statistics of points in a periodic box: the two-point correlation function and the
CosmoBench pair-distance features (numpy/scipy only).

* :func:`tpcf` — :math:`\xi(r) = DD(r)/RR(r) - 1` in radial bins, ``DD`` the pair counts from a
  periodic :class:`scipy.spatial.cKDTree` and ``RR`` the analytic count of a uniform periodic box,
  :math:`RR = \frac{n(n-1)}{2}\,\frac{4\pi(r_{hi}^3 - r_{lo}^3)}{3V}` (exact for :math:`r < L/2`).
* :func:`pair_distance_features` — for each cutoff :math:`R_c`, the mean, standard deviation and
  1/3, 2/3 quantiles of the squared pair distances below :math:`R_c` (the 4 × 12 features of the
  CosmoBench least-squares model, Huang et al. 2025, whose fit has 49 parameters).

Both are invariant under the symmetries of the periodic box (cube group, translations) and under
point permutations.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..data.sim.grid import wrap_positions

__all__ = [
    "TwoPointFeatures",
    "PairDistanceFeatures",
    "analytic_random_pairs",
    "default_pair_radii",
    "default_tpcf_edges",
    "pair_counts",
    "pair_distance_features",
    "pair_distances",
    "tpcf",
]


def _check(pos: np.ndarray, box: float) -> np.ndarray:
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape [n, 3], got {pos.shape}")
    if not np.isfinite(pos).all():
        raise ValueError("pos contains NaN or inf")
    if not box > 0:
        raise ValueError(f"box size must be > 0, got {box}")
    return wrap_positions(pos, box)


def pair_distances(pos: np.ndarray, box: float, r_max: float) -> np.ndarray:
    """Periodic distances of all unordered pairs closer than ``r_max`` (< L/2), sorted ascending."""
    pos = _check(pos, box)
    if not 0 < r_max < box / 2:
        raise ValueError(f"r_max must lie in (0, L/2) = (0, {box / 2}), got {r_max}")
    pairs = cKDTree(pos, boxsize=box).query_pairs(r_max, output_type="ndarray")
    d = pos[pairs[:, 0]] - pos[pairs[:, 1]]
    d -= box * np.round(d / box)
    return np.sort(np.sqrt(np.einsum("ij,ij->i", d, d)))


def pair_counts(pos: np.ndarray, box: float, edges: np.ndarray) -> np.ndarray:
    """Unordered pair counts in the radial bins ``edges`` (``len(edges) - 1`` values)."""
    edges = _edges(edges, box)
    return np.histogram(pair_distances(pos, box, edges[-1] * (1 + 1e-12)), edges)[0].astype(np.float64)


def analytic_random_pairs(n: int, box: float, edges: np.ndarray) -> np.ndarray:
    """Expected unordered pair counts of ``n`` uniform points in a periodic cube of side ``box``."""
    edges = _edges(edges, box)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    return n * (n - 1) / 2.0 * shell / box**3


def tpcf(pos: np.ndarray, box: float, edges: np.ndarray) -> np.ndarray:
    """The periodic two-point correlation function :math:`DD/RR - 1` in the bins ``edges``."""
    n = len(pos)
    if n < 2:
        raise ValueError(f"the two-point function needs at least 2 points, got {n}")
    return pair_counts(pos, box, edges) / analytic_random_pairs(n, box, edges) - 1.0


def _edges(edges: np.ndarray, box: float) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not (np.diff(edges) > 0).all() or edges[0] < 0:
        raise ValueError(f"bin edges must be increasing and >= 0, got {edges}")
    if edges[-1] >= box / 2:
        raise ValueError(f"the largest bin edge {edges[-1]} must be below half the box ({box / 2})")
    return edges


def default_tpcf_edges(box: float) -> np.ndarray:
    """24 linear bins from 0.0005 L to 0.15 L (0.5–150 Mpc/h at L = 1000, as Balla et al. 2024)."""
    return np.linspace(0.0005, 0.15, 25) * box


def default_pair_radii(box: float) -> np.ndarray:
    """12 cutoffs spaced geometrically from 0.006 L to 0.12 L."""
    return np.geomspace(0.006, 0.12, 12) * box


def pair_distance_features(pos: np.ndarray, box: float, radii: np.ndarray) -> np.ndarray:
    """``[4 * len(radii)]``: per cutoff, mean, std, 1/3 and 2/3 quantiles of the squared pair
    distances below it (module docstring; 0 where a cutoff holds no pair)."""
    radii = np.sort(np.asarray(radii, dtype=np.float64))
    d2 = pair_distances(pos, box, radii[-1] * (1 + 1e-12)) ** 2
    out = np.zeros((4, len(radii)))
    for j, r in enumerate(radii):
        v = d2[: np.searchsorted(d2, r * r, side="right")]
        if len(v):
            out[:, j] = [v.mean(), v.std(), np.quantile(v, 1 / 3), np.quantile(v, 2 / 3)]
    return out.ravel()


class TwoPointFeatures:
    """Feature map ``(pos, box) -> ξ(r)`` in fixed bins (default :func:`default_tpcf_edges`).

    Args:
        edges: bin edges in Mpc/h, or ``None`` for the default of each box. Default ``None``.
    """

    def __init__(self, edges: np.ndarray | None = None):
        self.edges = None if edges is None else np.asarray(edges, dtype=np.float64)

    def __call__(self, pos: np.ndarray, box: float) -> np.ndarray:
        return tpcf(pos, box, default_tpcf_edges(box) if self.edges is None else self.edges)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(edges={'default' if self.edges is None else len(self.edges) - 1})"


class PairDistanceFeatures:
    """Feature map ``(pos, box) ->`` :func:`pair_distance_features` (default :func:`default_pair_radii`).

    Args:
        radii: cutoffs in Mpc/h, or ``None`` for the default of each box. Default ``None``.
    """

    def __init__(self, radii: np.ndarray | None = None):
        self.radii = None if radii is None else np.asarray(radii, dtype=np.float64)

    def __call__(self, pos: np.ndarray, box: float) -> np.ndarray:
        return pair_distance_features(pos, box, default_pair_radii(box) if self.radii is None else self.radii)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(radii={'default' if self.radii is None else len(self.radii)})"
