r"""Graph construction for PyG ``Data``/``Batch``: radius, k-NN and fully connected graphs, and the
charge products EGNN puts on the edges of its N-body graphs.

Graphs follow PyG's convention: ``edge_index[0]`` is the source ``j``, ``edge_index[1]`` the
target ``i`` (messages flow ``j → i``). Building a graph replaces ``edge_index`` and drops the
registered edge-level fields (``edge_attr``, ``edge_vec``) that described the old edges. Radius and
k-NN graphs use ``torch_cluster`` (imported when the transform runs); they respect ``data.batch``.
Graphs in a periodic box are in :mod:`gdl.data.transforms.periodic`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.transforms import BaseTransform

from ...keys import FIELDS

__all__ = ["ChargeProducts", "FullyConnected", "KNNGraph", "RadiusGraph", "fully_connected_index"]

_EDGE_FIELDS = tuple(k for k, v in FIELDS.items() if v.level == "edge" and k != "edge_index")


def _torch_cluster(what: str) -> Any:
    try:
        import torch_cluster
    except ImportError:
        raise ImportError(
            f"{what} needs the 'torch_cluster' package: install it with `pip install torch-cluster` "
            "(`make install` builds it); FullyConnected works without it"
        ) from None
    return torch_cluster


def _check_pos(data: Any, who: str) -> torch.Tensor:
    pos = getattr(data, "pos", None)
    if not isinstance(pos, torch.Tensor) or pos.dim() != 2 or pos.shape[1] != 3:
        found = (
            None if pos is None else tuple(pos.shape) if isinstance(pos, torch.Tensor) else type(pos).__name__
        )
        raise ValueError(f"{who}: data.pos must be a [N, 3] tensor, found {found}")
    return pos


def _batch(data: Any) -> torch.Tensor | None:
    b = getattr(data, "batch", None)
    return b if isinstance(b, torch.Tensor) else None


def _set_edges(data: Any, edge_index: torch.Tensor) -> Any:
    for k in _EDGE_FIELDS:
        if k in data:
            del data[k]
    data.edge_index = edge_index
    return data


class RadiusGraph(BaseTransform):
    r"""Edges ``j → i`` between points closer than ``r`` (``torch_cluster.radius_graph``).

    Args:
        r: cutoff radius (units of ``pos``).
        loop: include self loops. Default ``False``.
        max_num_neighbors: at most this many sources per target (nearest not guaranteed: the
            ``torch_cluster`` limit). Default ``64`` (QM9 molecules have at most 29 atoms).
    """

    def __init__(self, r: float, loop: bool = False, max_num_neighbors: int = 64) -> None:
        if not r > 0:
            raise ValueError(f"RadiusGraph: r must be positive, got {r!r}")
        self.r, self.loop, self.max_num_neighbors = float(r), bool(loop), int(max_num_neighbors)

    def forward(self, data: Any) -> Any:
        tc = _torch_cluster("RadiusGraph")
        pos = _check_pos(data, "RadiusGraph")
        ei = tc.radius_graph(
            pos, self.r, _batch(data), self.loop, self.max_num_neighbors, flow="source_to_target"
        )
        return _set_edges(data, ei)

    def __repr__(self) -> str:
        name = self.__class__.__name__
        return f"{name}(r={self.r}, loop={self.loop}, max_num_neighbors={self.max_num_neighbors})"


class KNNGraph(BaseTransform):
    r"""Edges ``j → i`` from the ``k`` nearest neighbours ``j`` of every point ``i``
    (``torch_cluster.knn_graph``); every target has ``min(k, n - 1)`` incoming edges.

    Args:
        k: number of neighbours. Default ``16``.
        loop: count the point itself as a neighbour. Default ``False``.
    """

    def __init__(self, k: int = 16, loop: bool = False) -> None:
        if int(k) < 1:
            raise ValueError(f"KNNGraph: k must be >= 1, got {k!r}")
        self.k, self.loop = int(k), bool(loop)

    def forward(self, data: Any) -> Any:
        tc = _torch_cluster("KNNGraph")
        pos = _check_pos(data, "KNNGraph")
        ei = tc.knn_graph(pos, self.k, _batch(data), self.loop, flow="source_to_target")
        return _set_edges(data, ei)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, loop={self.loop})"


def fully_connected_index(
    num_nodes: int,
    batch: torch.Tensor | None = None,
    loop: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """All ordered pairs ``(j, i)`` inside each graph (``batch [N]`` sorted, or one graph), ``[2, E]``
    sorted by source; without self loops unless ``loop``."""
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=device)
    if batch.numel() != num_nodes:
        raise ValueError(f"batch has {batch.numel()} entries for {num_nodes} nodes")
    if num_nodes and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("fully_connected_index: batch must be sorted (nodes of a graph contiguous)")
    sizes = torch.bincount(batch)  # [B]
    start = torch.cumsum(sizes, 0) - sizes  # first node of each graph
    partners = sizes[batch]  # [N]: partners of each node (itself included)
    src = torch.repeat_interleave(torch.arange(num_nodes, device=batch.device), partners)
    first_edge = torch.repeat_interleave(torch.cumsum(partners, 0) - partners, partners)
    dst = start[batch[src]] + torch.arange(src.numel(), device=batch.device) - first_edge
    keep = torch.ones_like(src, dtype=torch.bool) if loop else src != dst
    return torch.stack([src[keep], dst[keep]])


class FullyConnected(BaseTransform):
    r"""Edges ``j → i`` between all pairs of nodes of each graph (respects ``data.batch``).

    Args:
        loop: include self loops. Default ``False``.
    """

    def __init__(self, loop: bool = False) -> None:
        self.loop = bool(loop)

    def forward(self, data: Any) -> Any:
        pos = _check_pos(data, "FullyConnected")
        return _set_edges(data, fully_connected_index(pos.shape[0], _batch(data), self.loop, pos.device))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(loop={self.loop})"


class ChargeProducts(BaseTransform):
    r"""``edge_attr = x[j] * x[i]`` on the current edges: the product of charges :math:`q_i q_j`
    that EGNN feeds its N-body model, recomputed after a new graph is built.

    Args:
        field: node field holding the charges. Default ``"x"``.
    """

    def __init__(self, field: str = "x") -> None:
        self.field = field

    def forward(self, data: Any) -> Any:
        if "edge_index" not in data or self.field not in data:
            raise KeyError(f"ChargeProducts needs data.edge_index and data.{self.field}")
        q = data[self.field]
        j, i = data.edge_index
        data.edge_attr = q[j] * q[i]
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(field={self.field!r})"
