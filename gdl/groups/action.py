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

These are pure functions used by the equivariance checker (:mod:`gdl.testing`), by rotation
transforms and by the augmentation strategies, so all of them rotate data the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import torch
from e3nn import o3

from ..keys import FIELDS, LEVELS, NON_IRREPS_REPS, FieldInfo, Level, Target
from .so3 import wigner_D

__all__ = [
    "FieldType",
    "FieldTypeLike",
    "GroupElement",
    "act",
    "act_on_data",
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


FieldTypeLike = Union[FieldType, Target, FieldInfo, str, o3.Irreps, tuple]


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
                raise ValueError(f"position field {name!r} must have last dimension 3, got shape {tuple(value.shape)}")
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


def _permute(value: torch.Tensor, ftype: FieldType, g: GroupElement, inv: torch.Tensor | None, name: str) -> torch.Tensor:
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


def permute_within_graphs(batch: torch.Tensor | None, num_nodes: int, generator: torch.Generator) -> torch.Tensor:
    """A random node permutation that keeps every node inside its graph (and ``batch`` sorted)."""
    key = torch.rand(num_nodes, generator=generator, dtype=torch.float64)
    if batch is not None:
        key = key + batch.detach().cpu().to(torch.float64) * 2.0
    return torch.argsort(key)


def resolve_data_types(data: Any, overrides: Mapping[str, FieldTypeLike] | None = None) -> dict[str, FieldType]:
    """The type of every tensor field of a PyG ``Data``/``Batch``: ``overrides`` first, then the
    registry :data:`gdl.keys.FIELDS`, then PyG's own guess (node, edge or graph attribute) as an
    invariant. Declared fields that the data lacks raise a ``KeyError`` naming them."""
    overrides = dict(overrides or {})
    keys = [k for k in data.keys() if isinstance(data[k], torch.Tensor)]
    missing = [k for k in overrides if k not in keys]
    if missing:
        raise KeyError(f"declared input field(s) {missing} missing from the data; fields present: {sorted(keys)}")
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
