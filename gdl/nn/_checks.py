"""Input validation shared by gdl layers and models: clear errors instead of silent broadcasting
or NaN.

Two kinds of check (see :mod:`gdl.debug`):

* **shape checks** (rank, sizes, dtypes) need no value from the device: layers always make them;
* **value checks** (NaN/inf, ``edge_index`` bounds) synchronise device and host: they run when
  ``values=True`` (what :func:`gdl.models.check_batch` passes, once per model forward) or, for a
  bare layer, under :func:`gdl.debug`.

All checks are skipped while ``torch.compile`` traces (value checks would break the graph).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from e3nn import o3

from ..debug import is_debug_enabled

__all__ = [
    "check_edge_index",
    "check_edge_vec",
    "check_features",
    "check_message_passing_kwargs",
    "check_pos",
    "check_types",
    "values_checked",
]


def values_checked(values: bool | None) -> bool:
    """Whether to make value checks now: ``values`` when given, else :func:`gdl.is_debug_enabled`;
    never while ``torch.compile`` traces. The one rule every value check in gdl follows."""
    if torch.compiler.is_compiling():
        return False
    return is_debug_enabled() if values is None else bool(values)


def check_pos(pos: torch.Tensor, name: str = "pos", *, values: bool | None = None) -> None:
    """``pos`` must be a floating ``[N, 3]`` tensor; without NaN/inf when values are checked."""
    if not isinstance(pos, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape [N, 3], got {type(pos).__name__}")
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"{name} must have shape [N, 3], got {tuple(pos.shape)}")
    if not pos.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {pos.dtype}")
    if values_checked(values) and not bool(torch.isfinite(pos).all()):
        bad = (~torch.isfinite(pos).all(dim=1)).nonzero().flatten()[:5].tolist()
        raise ValueError(f"{name} contains NaN or inf (rows {bad}...)")


def check_edge_index(edge_index: torch.Tensor, num_nodes: int, *, values: bool | None = None) -> None:
    """``edge_index`` must be an integer ``[2, E]`` tensor; entries in ``[0, num_nodes)`` when
    values are checked."""
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(f"edge_index must be a tensor of shape [2, E], got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must hold integers, got {edge_index.dtype}")
    if values_checked(values) and edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"edge_index has entries in [{lo}, {hi}] but there are {num_nodes} nodes")


def check_edge_vec(edge_vec: torch.Tensor, num_edges: int, *, values: bool | None = None) -> None:
    """``edge_vec`` must be a floating ``[E, 3]`` tensor with one row per edge; finite when values
    are checked."""
    if not isinstance(edge_vec, torch.Tensor) or edge_vec.dim() != 2 or edge_vec.shape[1] != 3:
        what = tuple(edge_vec.shape) if isinstance(edge_vec, torch.Tensor) else type(edge_vec).__name__
        raise ValueError(f"edge_vec must have shape [E, 3], got {what}")
    if edge_vec.shape[0] != num_edges:
        raise ValueError(f"edge_vec has {edge_vec.shape[0]} rows but edge_index has {num_edges} edges")
    if values_checked(values) and not bool(torch.isfinite(edge_vec).all()):
        raise ValueError("edge_vec contains NaN or inf")


def check_types(z: torch.Tensor, num_nodes: int, num_types: int, *, values: bool | None = None) -> None:
    """Atom types ``z`` must be an integer ``[num_nodes]`` tensor; entries in ``[0, num_types)``
    when values are checked."""
    if not isinstance(z, torch.Tensor) or z.dim() != 1 or z.shape[0] != num_nodes or z.is_floating_point():
        what = f"{tuple(z.shape)} {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be an integer tensor of shape [{num_nodes}], got {what}")
    if values_checked(values) and z.numel():
        lo, hi = int(z.min()), int(z.max())
        if lo < 0 or hi >= num_types:
            raise ValueError(f"z has values in [{lo}, {hi}], outside [0, {num_types})")


def check_features(x: torch.Tensor, num_nodes: int, dim: int | o3.Irreps, name: str = "x") -> None:
    """Node features must be ``[num_nodes, dim]`` (``dim`` an int or irreps). Shape only."""
    d = dim.dim if isinstance(dim, o3.Irreps) else int(dim)
    what = f"{dim} (dim {d})" if isinstance(dim, o3.Irreps) else str(d)
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != d:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must have shape [N, {d}] for {what}, got {got}")
    if x.shape[0] != num_nodes:
        raise ValueError(f"{name} has {x.shape[0]} rows but pos has {num_nodes} nodes")


def check_message_passing_kwargs(
    layer: str, kwargs: dict, aggr: Iterable[str] = ("sum",), default_aggr: str | None = None
) -> dict:
    """The ``MessagePassing`` keyword arguments a gdl layer passes to ``super().__init__``.

    ``aggr`` must be one of the layer's supported aggregations (the first is the default) and
    ``flow`` must be ``"source_to_target"`` (gdl's edge vectors ``r_ij = pos[j] - pos[i]`` are
    defined for it); anything else stops with an error naming the argument, instead of being
    silently ignored. Returns ``kwargs`` with ``aggr`` and ``flow`` filled in.
    """
    allowed = tuple(aggr)
    out = dict(kwargs)
    a = out.get("aggr", default_aggr or allowed[0])
    if not isinstance(a, str) or a not in allowed:
        raise ValueError(f"{layer}: aggr={a!r} is not supported; this layer aggregates with {list(allowed)}")
    flow = out.get("flow", "source_to_target")
    if flow != "source_to_target":
        raise ValueError(
            f"{layer}: flow={flow!r} is not supported; gdl layers use flow='source_to_target' "
            "(edge_index[0] = source j, edge_index[1] = target i, edge vectors pos[j] - pos[i])"
        )
    out["aggr"], out["flow"] = a, flow
    return out
