r"""Radius and k-nearest-neighbour graphs in a periodic box, with minimum-image edge vectors.

Built with :class:`scipy.spatial.cKDTree` (``boxsize=L``), so neighbours are found across the
box boundary. Every edge ``(j, i)`` (source j, target i, as in PyG) carries the minimum-image
vector

.. math::
    \mathbf r_{ij} = \mathbf d - \mathbf L \odot \mathrm{round}(\mathbf d \oslash \mathbf L),
    \qquad \mathbf d = \mathbf x_j - \mathbf x_i

in ``edge_vec``, which every gdl layer uses instead of ``pos[j] - pos[i]`` when present. The
graphs (and ``edge_vec``) are invariant under periodic translations and equivariant under the
cube group; they are well defined for cutoffs below half the smallest box side.

:class:`PeriodicKNNGraph` and :class:`PeriodicRadiusGraph` are PyG transforms reading the box
from ``data.box`` (``[1, 3]``); :func:`periodic_knn_graph` and :func:`periodic_radius_graph`
work on arrays.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..sim.grid import wrap_positions

__all__ = [
    "PeriodicKNNGraph",
    "PeriodicRadiusGraph",
    "minimum_image",
    "periodic_knn_graph",
    "periodic_radius_graph",
    "wrap_positions",
]


def _box_array(box: float | np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(box, torch.Tensor):
        box = box.detach().cpu().double().numpy()
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size == 1:
        b = np.repeat(b, 3)
    if b.size != 3:
        raise ValueError(f"box must be a side length or 3 side lengths, got shape {np.shape(box)}")
    if not (np.isfinite(b).all() and (b > 0).all()):
        raise ValueError(f"box side lengths must be > 0, got {b.tolist()}")
    return b


def minimum_image(vec: torch.Tensor | np.ndarray, box: float | np.ndarray | torch.Tensor):
    """Map difference vectors ``[..., 3]`` to their shortest periodic image (same type as ``vec``)."""
    b = _box_array(box)
    if isinstance(vec, torch.Tensor):
        bt = torch.as_tensor(b, dtype=vec.dtype, device=vec.device)
        return vec - bt * torch.round(vec / bt)
    vec = np.asarray(vec)
    return vec - b * np.round(vec / b)


def _prepare(pos: torch.Tensor | np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    p = (
        pos.detach().cpu().double().numpy()
        if isinstance(pos, torch.Tensor)
        else np.asarray(pos, dtype=np.float64)
    )
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"pos must have shape [N, 3], got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("pos contains NaN or inf")
    b = _box_array(box)
    if ((p < 0) | (p >= b)).any():
        warnings.warn("positions outside [0, L) were wrapped into the periodic box", stacklevel=3)
        p = wrap_positions(p, b)
    return p, b


def _as_output(
    src: np.ndarray, dst: np.ndarray, p: np.ndarray, b: np.ndarray, like
) -> tuple[torch.Tensor, torch.Tensor]:
    vec = minimum_image(p[src] - p[dst], b)  # x_j - x_i, float64
    dtype = (
        like.dtype
        if isinstance(like, torch.Tensor) and like.is_floating_point()
        else torch.get_default_dtype()
    )
    device = like.device if isinstance(like, torch.Tensor) else None
    edge_index = torch.as_tensor(np.stack([src, dst]), dtype=torch.long, device=device)
    return edge_index, torch.as_tensor(vec, dtype=dtype, device=device)


def periodic_knn_graph(
    pos: torch.Tensor | np.ndarray, box: float | np.ndarray | torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest periodic neighbours ``j`` of every point ``i`` as edges ``j -> i``.

    Returns ``(edge_index [2, N k], edge_vec [N k, 3])``, edges sorted by target then distance;
    ``edge_vec`` has the dtype of ``pos`` (a tensor) or the default dtype."""
    p, b = _prepare(pos, box)
    n = len(p)
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k={k} neighbours need more than k points, got {n}")
    tree = cKDTree(p, boxsize=b)
    _, nbr = tree.query(p, k=int(k) + 1)  # [N, k+1], self usually first
    # drop each point itself (not merely the first column: coincident points may come first)
    self_mask = nbr == np.arange(n)[:, None]
    has_self = self_mask.any(1)
    keep = ~self_mask
    keep[~has_self, -1] = False  # self fell outside k+1 (>k coincident points): drop the farthest
    src = nbr[keep].reshape(n, int(k))
    dst = np.repeat(np.arange(n), int(k)).reshape(n, int(k))
    src, dst = src.ravel(), dst.ravel()
    return _as_output(src, dst, p, b, pos)


def periodic_radius_graph(
    pos: torch.Tensor | np.ndarray,
    box: float | np.ndarray | torch.Tensor,
    r: float,
    max_num_neighbors: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs closer than ``r`` in the periodic metric, both directions, no self loops.

    ``r`` must be below half the smallest box side (beyond, a pair would have several images).
    With ``max_num_neighbors`` only the nearest that many sources are kept per target.
    Returns ``(edge_index [2, E], edge_vec [E, 3])`` sorted by target then distance."""
    p, b = _prepare(pos, box)
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"radius r must be > 0, got {r}")
    if r >= b.min() / 2:
        raise ValueError(
            f"radius r={r} must be below half the smallest box side ({b.min() / 2}) "
            "for a unique minimum image"
        )
    tree = cKDTree(p, boxsize=b)
    pairs = tree.query_pairs(r, output_type="ndarray")  # [P, 2], i < j
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    dist = np.linalg.norm(minimum_image(p[src] - p[dst], b), axis=1)
    order = np.lexsort((dist, dst))
    src, dst, dist = src[order], dst[order], dist[order]
    if max_num_neighbors is not None:
        if max_num_neighbors < 1:
            raise ValueError(f"max_num_neighbors must be >= 1, got {max_num_neighbors}")
        starts = np.searchsorted(dst, dst, side="left")
        rank = np.arange(len(dst)) - starts
        keep = rank < max_num_neighbors
        src, dst = src[keep], dst[keep]
    return _as_output(src.astype(np.int64), dst.astype(np.int64), p, b, pos)


class _PeriodicGraph(BaseTransform):
    def _box(self, data: Data):
        if getattr(data, "box", None) is None:
            raise KeyError(f"{type(self).__name__} needs data.box ([1, 3] periodic box side lengths)")
        return data.box.reshape(-1)[:3]

    def _build(self, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, data: Data) -> Data:
        if getattr(data, "pos", None) is None:
            raise KeyError(f"{type(self).__name__} needs data.pos")
        data.edge_index, data.edge_vec = self._build(data)
        return data


class PeriodicKNNGraph(_PeriodicGraph):
    """PyG transform: k-NN graph in the periodic box ``data.box`` (:func:`periodic_knn_graph`);
    sets ``edge_index`` and minimum-image ``edge_vec``. Balla et al. 2024 use ``k = 10``.

    Args:
        k: neighbours per point. Default ``10``.
    """

    def __init__(self, k: int = 10):
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def _build(self, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
        return periodic_knn_graph(data.pos, self._box(data), self.k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k})"


class PeriodicRadiusGraph(_PeriodicGraph):
    """PyG transform: radius graph in the periodic box ``data.box`` (:func:`periodic_radius_graph`);
    sets ``edge_index`` and minimum-image ``edge_vec``. CosmoBench uses ``r = 0.1 L`` for velocities.

    Args:
        r: cutoff radius (Mpc/h), below half the box side.
        max_num_neighbors: keep at most this many nearest neighbours per point; ``None`` keeps all.
            Default ``None``.
    """

    def __init__(self, r: float, max_num_neighbors: int | None = None):
        if not r > 0:
            raise ValueError(f"radius r must be > 0, got {r}")
        self.r = float(r)
        self.max_num_neighbors = max_num_neighbors

    def _build(self, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
        return periodic_radius_graph(data.pos, self._box(data), self.r, self.max_num_neighbors)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(r={self.r}, max_num_neighbors={self.max_num_neighbors})"
