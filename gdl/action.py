r"""How :math:`E(3)` and node permutations act on typed fields and on PyG ``Data`` objects.

A :class:`FieldType` says how one tensor transforms (its representation and its level); the field
registry :data:`gdl.keys.FIELDS` gives the type of every standard ``Data`` field. A
:class:`GroupElement` bundles an orthogonal matrix ``R``, an optional translation ``t`` and an
optional node permutation; :func:`act` and :func:`act_on_data` apply it.

Action on a field of representation ``rep`` (see :mod:`gdl.keys`):

* ``"pos"``: ``x -> x @ R.T + t``;
* irreps: ``x -> x @ D(R).T`` with ``D`` the Wigner-D matrix of the irreps (parity included when
  ``det R = -1``); works for any leading shape, e.g. vector channels ``[N, C, 3]`` as ``"1o"``;
* ``"invariant"``, ``"batch"``: unchanged;
* node permutation ``perm`` (new node ``k`` is old node ``perm[k]``): node-level fields are
  re-indexed, ``edge_index`` is relabelled, edge- and graph-level fields keep their order.

Batched action: :func:`act_per_graph` applies a *different* element to every graph of a ``Batch``
(``R [B, 3, 3]``, optional ``t [B, 3]``), and :func:`act_fields_per_graph` does the same for a dict of
typed tensors such as a model's outputs (e.g. mapping equivariant outputs back with ``R^T``). Their
``0e``/``1o``/``2e`` blocks are plain tensor operations (:func:`gdl.groups.anchors.anchor_basis`), so
gradients flow into ``R`` (learned augmentation distributions); other irreps use e3nn's Wigner-D.

These are pure functions used by the equivariance checker (:mod:`gdl.testing`), by rotation
transforms (:mod:`gdl.data.transforms`) and by the symmetry strategies (augmentation, frame
averaging, learned augmentation), so all of them rotate data the same way.

Why this module sits at the top of the package, next to :mod:`gdl.keys`: it is where group theory
meets data. :mod:`gdl.groups` is pure group theory on tensors (rotation maps, finite groups,
anchors) and knows nothing of PyG; :mod:`gdl.keys` says how each ``Data`` field transforms; this
module applies group elements to those fields and to whole ``Data``/``Batch`` objects. It depends
on both and on nothing above them (not on :mod:`gdl.data`, :mod:`gdl.nn` or :mod:`gdl.symmetry`),
so the data pipeline, the checker and the strategies can all import it. ``gdl.groups`` still
re-exports its names (``from gdl.groups import act_on_data`` works) for compatibility.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from e3nn import o3

from .groups.anchors import anchor_basis
from .groups.so3 import wigner_D
from .keys import FIELDS, LEVELS, NON_IRREPS_REPS, FieldInfo, Level, Target

__all__ = [
    "FieldType",
    "FieldTypeLike",
    "GroupElement",
    "act",
    "act_batched",
    "act_fields_per_graph",
    "act_on_data",
    "act_per_graph",
    "edge",
    "field_type",
    "graph",
    "node",
    "permute_within_graphs",
    "resolve_data_types",
]


@dataclass(frozen=True)
class FieldType:
    """How a tensor transforms: ``rep`` (``"pos"``, ``"invariant"``, ``"batch"``, ``"edge_index"`` or
    an ``e3nn`` irreps) and ``level`` (``"node"``, ``"edge"`` or ``"graph"``)."""

    rep: Any
    level: Level = "node"

    def __post_init__(self) -> None:
        rep = self.rep
        if not (isinstance(rep, str) and rep in NON_IRREPS_REPS):
            try:
                rep = o3.Irreps(rep)
            except (ValueError, AssertionError, TypeError) as e:
                raise ValueError(
                    f"invalid field representation {self.rep!r}: use one of {NON_IRREPS_REPS} or an irreps "
                    f"string such as '1o' or '8x0e+2x1o' ({e})"
                ) from None
        object.__setattr__(self, "rep", rep)
        if self.level not in LEVELS:
            raise ValueError(f"invalid level {self.level!r}: use one of {LEVELS}")

    @property
    def irreps(self) -> o3.Irreps | None:
        return self.rep if isinstance(self.rep, o3.Irreps) else None

    def __str__(self) -> str:
        return f"{self.level}:{self.rep}"


FieldTypeLike = FieldType | Target | FieldInfo | str | o3.Irreps | tuple


def node(rep: Any) -> FieldType:
    """A node-level field type, e.g. ``node("1o")``."""
    return FieldType(rep, "node")


def edge(rep: Any) -> FieldType:
    """An edge-level field type, e.g. ``edge("1o")`` for edge vectors."""
    return FieldType(rep, "edge")


def graph(rep: Any) -> FieldType:
    """A graph-level field type, e.g. ``graph("2e")``."""
    return FieldType(rep, "graph")


def field_type(spec: FieldTypeLike, default_level: Level = "node") -> FieldType:
    """Normalise a type spec: a ``FieldType``, a :class:`~gdl.keys.Target`, a registry
    :class:`~gdl.keys.FieldInfo`, a representation (``"pos"``, ``"1o"``, ``o3.Irreps``) at
    ``default_level``, or a pair ``(level, rep)``."""
    if isinstance(spec, FieldType):
        return spec
    if isinstance(spec, Target):
        return FieldType(spec.irreps, spec.level)
    if isinstance(spec, FieldInfo):
        return FieldType(spec.rep, spec.level)
    if isinstance(spec, tuple) and len(spec) == 2:
        a, b = spec
        if isinstance(a, str) and a in LEVELS:
            return FieldType(b, a)  # type: ignore[arg-type]
        if isinstance(b, str) and b in LEVELS:
            return FieldType(a, b)  # type: ignore[arg-type]
        raise ValueError(f"a (level, rep) pair needs a level among {LEVELS}, got {spec!r}")
    return FieldType(spec, default_level)


@dataclass
class GroupElement:
    """An element of :math:`E(3) \\times S_N`: orthogonal ``R [3, 3]`` (det ±1), translation
    ``t [3]`` or ``None``, node permutation ``perm [N]`` or ``None`` (new node ``k`` = old ``perm[k]``)."""

    R: torch.Tensor
    t: torch.Tensor | None = None
    perm: torch.Tensor | None = None

    @property
    def improper(self) -> bool:
        return bool(torch.linalg.det(self.R.to(torch.float64)) < 0)

    def inverse_perm(self) -> torch.Tensor | None:
        if self.perm is None:
            return None
        inv = torch.empty_like(self.perm)
        inv[self.perm] = torch.arange(self.perm.numel(), device=self.perm.device)
        return inv


def _check_irreps_dim(value: torch.Tensor, irreps: o3.Irreps, name: str) -> None:
    if value.dim() == 0 or value.shape[-1] != irreps.dim:
        raise ValueError(
            f"field {name!r} is declared as {irreps} (dim {irreps.dim}) but its last dimension is "
            f"{tuple(value.shape)[-1:] or '()'} (shape {tuple(value.shape)})"
        )


def act(value: torch.Tensor, ftype: FieldType, g: GroupElement, name: str = "<tensor>") -> torch.Tensor:
    """Apply the rotation/reflection and translation of ``g`` to one field (not the permutation)."""
    rep = ftype.rep
    if isinstance(rep, str):
        if rep == "pos":
            if value.shape[-1] != 3:
                raise ValueError(
                    f"position field {name!r} must have last dimension 3, got shape {tuple(value.shape)}"
                )
            R = g.R.to(dtype=value.dtype, device=value.device)
            out = value @ R.T
            if g.t is not None:
                out = out + g.t.to(dtype=value.dtype, device=value.device)
            return out
        return value  # invariant, batch, edge_index
    _check_irreps_dim(value, rep, name)
    if all(mul_ir.ir.l == 0 and mul_ir.ir.p == 1 for mul_ir in rep):
        return value
    D = wigner_D(rep, g.R.to(torch.float64)).to(dtype=value.dtype, device=value.device)
    return value @ D.T


def _permute(
    value: torch.Tensor, ftype: FieldType, g: GroupElement, inv: torch.Tensor | None, name: str
) -> torch.Tensor:
    if g.perm is None:
        return value
    if ftype.rep == "edge_index":
        return inv.to(value.device)[value]  # type: ignore[union-attr]
    if ftype.level == "node":
        if value.dim() == 0 or value.shape[0] != g.perm.numel():
            raise ValueError(
                f"node-level field {name!r} has leading dimension {tuple(value.shape)[:1]} but the graph has "
                f"{g.perm.numel()} nodes"
            )
        return value[g.perm.to(value.device)]
    return value


def permute_within_graphs(
    batch: torch.Tensor | None, num_nodes: int, generator: torch.Generator
) -> torch.Tensor:
    """A random node permutation that keeps every node inside its graph (and ``batch`` sorted)."""
    key = torch.rand(num_nodes, generator=generator, dtype=torch.float64)
    if batch is not None:
        key = key + batch.detach().cpu().to(torch.float64) * 2.0
    return torch.argsort(key)


def resolve_data_types(
    data: Any, overrides: Mapping[str, FieldTypeLike] | None = None
) -> dict[str, FieldType]:
    """The type of every tensor field of a PyG ``Data``/``Batch``: ``overrides`` first, then the
    registry :data:`gdl.keys.FIELDS`, then PyG's own guess (node, edge or graph attribute) as an
    invariant. Declared fields that the data lacks raise a ``KeyError`` naming them."""
    overrides = dict(overrides or {})
    keys = [k for k in data.keys() if isinstance(data[k], torch.Tensor)]
    missing = [k for k in overrides if k not in keys]
    if missing:
        raise KeyError(
            f"declared input field(s) {missing} missing from the data; fields present: {sorted(keys)}"
        )
    types: dict[str, FieldType] = {}
    for k in keys:
        if k in overrides:
            default_level = FIELDS[k].level if k in FIELDS else _guess_level(data, k)
            types[k] = field_type(overrides[k], default_level)
        elif k in FIELDS:
            types[k] = field_type(FIELDS[k])
        else:
            types[k] = FieldType("invariant", _guess_level(data, k))
    return types


def _guess_level(data: Any, key: str) -> Level:
    try:
        if data.is_node_attr(key):
            return "node"
        if data.is_edge_attr(key):
            return "edge"
    except (AttributeError, KeyError):
        pass
    return "graph"


def act_on_data(data: Any, g: GroupElement, types: Mapping[str, FieldTypeLike] | None = None) -> Any:
    """A copy of a PyG ``Data``/``Batch`` with ``g`` applied to every tensor field according to its
    type (:func:`resolve_data_types`). Non-tensor fields are shared, tensors are new."""
    resolved = resolve_data_types(data, types)
    out = data.clone()
    inv = g.inverse_perm()
    for k, ft in resolved.items():
        v = act(data[k], ft, g, k)
        v = _permute(v, ft, g, inv, k)
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# a different group element per graph
# ---------------------------------------------------------------------------------------------
def act_batched(
    value: torch.Tensor,
    ftype: FieldType,
    R: torch.Tensor,
    index: torch.Tensor,
    t: torch.Tensor | None = None,
    name: str = "<tensor>",
) -> torch.Tensor:
    """Apply ``R[index[m]]`` (and ``t[index[m]]`` to positions) to row ``m`` of ``value``.

    Args:
        value: ``[M, ..., dim]`` tensor of type ``ftype`` (the level is not used here).
        ftype: its :class:`FieldType`.
        R: orthogonal matrices ``[B, 3, 3]`` (det ±1; parity enters through the irreps).
        index: ``[M]`` which element acts on each row.
        t: translations ``[B, 3]`` for ``"pos"`` fields, or ``None``.
        name: the field name for error messages.

    Returns:
        the transformed tensor, same shape; invariants are returned as they are.
    """
    rep = ftype.rep
    if isinstance(rep, str) and rep != "pos":
        return value  # invariant, batch, edge_index
    if value.dim() == 0 or value.shape[0] != index.shape[0]:
        raise ValueError(
            f"field {name!r} has leading dimension {tuple(value.shape)[:1]} but {index.shape[0]} rows "
            f"were expected for its level ({ftype.level})"
        )
    R = R.to(dtype=value.dtype, device=value.device)
    if isinstance(rep, str):  # positions
        if value.shape[-1] != 3:
            raise ValueError(
                f"position field {name!r} must have last dimension 3, got shape {tuple(value.shape)}"
            )
        out = torch.einsum("mij,m...j->m...i", R[index], value)
        if t is not None:
            shift = t.to(dtype=value.dtype, device=value.device)[index]  # [M, 3]
            out = out + shift.view(shift.shape[0], *([1] * (value.dim() - 2)), 3)
        return out
    _check_irreps_dim(value, rep, name)
    if all(mul_ir.ir.l == 0 and mul_ir.ir.p == 1 for mul_ir in rep):
        return value
    pieces, start = [], 0
    for mul_ir in rep:
        mul, ir = mul_ir.mul, mul_ir.ir
        block = value[..., start : start + mul * ir.dim]
        start += mul * ir.dim
        if ir.l == 0 and ir.p == 1:
            pieces.append(block)
            continue
        D = anchor_basis(R, str(ir))  # [B, 2l+1, 2l+1] Wigner-D (parity included)
        block = torch.einsum("mij,m...j->m...i", D[index], block.unflatten(-1, (mul, ir.dim)))
        pieces.append(block.flatten(-2))
    return torch.cat(pieces, dim=-1)


def _rows_index(
    level: Level, batch: torch.Tensor, edge_index: torch.Tensor | None, num_graphs: int, name: str
) -> torch.Tensor:
    if level == "node":
        return batch
    if level == "graph":
        return torch.arange(num_graphs, device=batch.device)
    if edge_index is None:
        raise ValueError(f"edge-level field {name!r} needs `edge_index` to find the graph of each edge")
    return batch[edge_index[1]]


def act_fields_per_graph(
    fields: Mapping[str, torch.Tensor],
    types: Mapping[str, FieldTypeLike],
    R: torch.Tensor,
    batch: torch.Tensor,
    edge_index: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Apply ``R[b]`` (and ``t[b]``) to the part of every typed field that belongs to graph ``b``.

    Args:
        fields: ``{name: tensor}``, e.g. a model's outputs.
        types: ``{name: type}`` for every field (a :class:`~gdl.keys.Target`, a :class:`FieldType`,
            ...; see :func:`field_type`); node-level rows belong to ``batch[row]``, edge-level rows to
            the graph of their target node, graph-level row ``b`` to graph ``b``.
        R: ``[B, 3, 3]`` orthogonal matrices, one per graph.
        batch: ``[N]`` graph of each node.
        edge_index: ``[2, E]``, needed for edge-level fields. Default ``None``.
        t: ``[B, 3]`` translations of ``"pos"`` fields. Default ``None``.

    Returns:
        a new dict with the same keys.
    """
    if R.dim() != 3 or R.shape[-2:] != (3, 3):
        raise ValueError(f"R must be [B, 3, 3] (one element per graph), got {tuple(R.shape)}")
    if t is not None and t.shape != (R.shape[0], 3):
        raise ValueError(f"t must be [B={R.shape[0]}, 3], got {tuple(t.shape)}")
    missing = [k for k in fields if k not in types]
    if missing:
        raise KeyError(f"no type given for field(s) {missing}; typed: {sorted(types)}")
    out = {}
    for k, v in fields.items():
        ft = field_type(types[k])
        if isinstance(ft.rep, str) and ft.rep != "pos":
            out[k] = v
            continue
        index = _rows_index(ft.level, batch, edge_index, R.shape[0], k)
        out[k] = act_batched(v, ft, R, index, t, k)
    return out


def act_per_graph(
    data: Any,
    R: torch.Tensor,
    t: torch.Tensor | None = None,
    types: Mapping[str, FieldTypeLike] | None = None,
) -> Any:
    """A copy of a PyG ``Batch`` (or a single ``Data``, ``B = 1``) with ``R[b]`` and ``t[b]`` applied to
    every typed field of graph ``b`` (types from :func:`resolve_data_types`: positions, ``vel``,
    ``edge_vec``, ...). Node order and ``edge_index`` are unchanged.

    Args:
        data: the batch.
        R: ``[B, 3, 3]`` orthogonal matrices, ``B = data.num_graphs``.
        t: ``[B, 3]`` translations of position fields, or ``None``.
        types: type overrides for fields the registry does not know. Default ``None``.
    """
    num_graphs = int(getattr(data, "num_graphs", 1) or 1) if "batch" in data.keys() else 1
    if R.dim() != 3 or R.shape[0] != num_graphs:
        raise ValueError(
            f"R must be [B={num_graphs}, 3, 3] for a batch of {num_graphs} graphs, got {tuple(R.shape)}"
        )
    resolved = resolve_data_types(data, types)
    if "batch" in data.keys() and data.batch is not None:
        batch = data.batch
    else:
        batch = torch.zeros(data.num_nodes, dtype=torch.long, device=R.device)
    fields = {k: data[k] for k in resolved}
    moved = act_fields_per_graph(fields, resolved, R, batch, getattr(data, "edge_index", None), t)
    out = copy.copy(data)
    for k, v in moved.items():
        if v is not fields[k]:
            out[k] = v
    return out
