r"""Transforms of PyG ``Data``/``Batch`` for gdl datasets: random rotations of every typed field,
centring, graphs (radius, k-NN, fully connected), target selection and standardisation.

Graphs follow PyG's convention: ``edge_index[0]`` is the source ``j``, ``edge_index[1]`` the
target ``i`` (messages flow ``j → i``). Building a graph replaces ``edge_index`` and drops the
registered edge-level fields (``edge_attr``, ``edge_vec``) that described the old edges. Radius and
k-NN graphs use ``torch_cluster`` (imported when the transform runs); they respect ``data.batch``.

Rotations reuse :func:`gdl.groups.act_on_data`, so positions (``"pos"`` fields, e.g. ``pos`` and
``pos_target``), vectors (``1o``: ``vel``, ``dipole_vec``, ``displacement``) and tensors (``2e``:
``quadrupole``) are rotated consistently, by the types of :data:`gdl.keys.FIELDS` (unregistered
fields are invariant unless declared with ``types=``).

Standardisation is :class:`gdl.data.standardize.Standardize` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch_geometric.transforms import BaseTransform

from ..groups.action import FieldTypeLike, GroupElement, act_on_data, resolve_data_types
from ..groups.so3 import as_generator, haar, haar_o3
from ..keys import FIELDS, QM9_TARGETS
from .standardize import Standardize

__all__ = [
    "Center",
    "ChargeProducts",
    "FullyConnected",
    "KNNGraph",
    "RadiusGraph",
    "RandomRotation",
    "SelectTargets",
    "Standardize",
    "fully_connected_index",
]

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


class RandomRotation(BaseTransform):
    r"""Rotate a ``Data``/``Batch`` by a random element of SO(3) (or O(3)) drawn from the Haar measure,
    acting on every typed field (module docstring); one draw per call, shared by a whole batch.

    Args:
        group: ``"SO3"`` (rotations) or ``"O3"`` (rotations and, with probability ½, the inversion
            :math:`-I` composed with them; ``1o`` fields flip, ``2e`` fields do not). Default ``"SO3"``.
        seed: seed or ``torch.Generator`` of this transform's own generator; ``None`` draws one from
            torch's global RNG. Default ``None``. With DataLoader workers, each worker starts from
            a copy of the same state: seed per worker (``worker_init_fn``) if that matters.
        types: extra or overriding field types, ``{name: type}`` (e.g. ``{"f": "1o"}``).
            Default ``None`` (the registry).
    """

    def __init__(
        self,
        group: Literal["SO3", "O3"] = "SO3",
        seed: int | torch.Generator | None = None,
        types: Mapping[str, FieldTypeLike] | None = None,
    ) -> None:
        if group not in ("SO3", "O3"):
            raise ValueError(f"RandomRotation: group must be 'SO3' or 'O3', got {group!r}")
        self.group = group
        self.generator = as_generator(seed)
        self.types = dict(types or {})

    def sample(self) -> torch.Tensor:
        """The next random matrix ``[3, 3]`` (float64)."""
        draw = haar if self.group == "SO3" else haar_o3
        return draw(1, self.generator, dtype=torch.float64)[0]

    def forward(self, data: Any) -> Any:
        return act_on_data(data, GroupElement(self.sample()), self.types or None)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(group={self.group!r})"


class Center(BaseTransform):
    r"""Translate each graph so that the mean of its ``pos`` is the origin; every ``"pos"``-typed
    field (``pos``, ``pos_target``) moves by the same vector, vectors and tensors are unchanged."""

    def forward(self, data: Any) -> Any:
        pos = _check_pos(data, "Center")
        batch = _batch(data)
        if batch is None:
            shift = pos.mean(0, keepdim=True).expand_as(pos)
        else:
            n = int(batch.max()) + 1 if batch.numel() else 0
            total = torch.zeros(n, 3, dtype=pos.dtype, device=pos.device).index_add_(0, batch, pos)
            count = torch.bincount(batch, minlength=n).clamp_min(1).to(pos.dtype)
            shift = (total / count[:, None])[batch]
        for k, ft in resolve_data_types(data).items():
            if ft.rep == "pos" and ft.level == "node":
                data[k] = data[k] - shift.to(data[k].dtype)
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


class SelectTargets(BaseTransform):
    r"""Make every target addressable by name: QM9 target names copy their column of ``y``
    (``data.homo = y[:, 2:3]``, graph ``0e`` ``[1, 1]``); other names must already be fields
    (``dipole_vec``, ``charges``, ``displacement``), which are checked and left as they are.

    Args:
        names: target names (one string or a sequence).
    """

    def __init__(self, names: str | Sequence[str]) -> None:
        self.names = (names,) if isinstance(names, str) else tuple(names)
        if not self.names:
            raise ValueError("SelectTargets: give at least one target name")

    def forward(self, data: Any) -> Any:
        for name in self.names:
            if name in QM9_TARGETS and "y" in data:
                y = data.y
                if y.dim() != 2 or y.shape[1] != len(QM9_TARGETS):
                    raise ValueError(
                        f"SelectTargets: data.y must be [B, {len(QM9_TARGETS)}], found {tuple(y.shape)}"
                    )
                k = QM9_TARGETS.index(name)
                data[name] = y[:, k : k + 1]
            elif name not in data:
                raise KeyError(
                    f"SelectTargets: target {name!r} is neither a field of the data "
                    f"({', '.join(sorted(data.keys()))}) nor a QM9 column of y ({', '.join(QM9_TARGETS)})"
                )
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({list(self.names)})"
