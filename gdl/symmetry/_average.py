r"""What the averaging strategies share (private): copies of a batch stacked as extra graphs, and the
average of a model over one group element per (copy, graph).

For elements :math:`g_{kb} = (R_{kb}, t_{kb})`, :func:`group_average` computes

.. math::
    \bar f(x)_b = \frac1K \sum_{k=1}^K \rho_{\text{out}}(R_{kb})^{-1}\, f(g_{kb} \cdot x)_b

in **one** forward pass of ``f``: the batch is repeated ``K`` times (:func:`repeat_graphs`, copy-major:
graph ``k B + b`` is copy ``k`` of graph ``b``), each copy is moved by its own element
(:func:`gdl.groups.act_per_graph`), and the typed outputs are mapped back with
:func:`gdl.groups.act_fields_per_graph` before the mean over copies. ``K = 1`` is plain augmentation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch_geometric.data import Batch

from ..action import (
    FieldTypeLike,
    act_fields_per_graph,
    act_per_graph,
    field_type,
    resolve_data_types,
)

__all__ = ["check_types", "group_average", "input_types", "repeat_graphs"]


def repeat_graphs(data: Any, copies: int) -> Batch:
    """A ``Batch`` holding ``copies`` copies of every graph of ``data`` (a ``Batch`` or one ``Data``),
    copy-major. Node-, edge- and graph-level tensors are tiled, ``edge_index`` and ``batch`` are
    offset, ``ptr`` is rebuilt; non-tensor attributes are shared. Only ``edge_index`` is treated as
    an index (other ``*_index`` fields would need offsets too and are tiled as they are)."""
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if not isinstance(data, Batch):
        data = Batch.from_data_list([data])
    if copies == 1:
        return data
    n, b = int(data.num_nodes), int(data.num_graphs)
    e = int(data.edge_index.shape[1]) if "edge_index" in data.keys() else 0
    sizes = {"node": n, "edge": e, "graph": b}
    out = copy.copy(data)
    k = torch.arange(copies, device=data.pos.device)
    for key, ft in resolve_data_types(data).items():
        v = data[key]
        if ft.rep == "edge_index":
            out[key] = (v.unsqueeze(1) + (k * n).view(1, -1, 1)).flatten(1)  # [2, K * E]
        elif ft.rep == "batch":
            out[key] = (v.unsqueeze(0) + (k * b).view(-1, 1)).flatten()  # [K * N]
        elif key == "ptr":
            starts = (v[:-1].unsqueeze(0) + (k * n).view(-1, 1)).flatten()
            out[key] = torch.cat([starts, v.new_tensor([copies * n])])
        elif v.dim() > 0 and v.shape[0] == sizes[ft.level]:
            out[key] = v.repeat(copies, *([1] * (v.dim() - 1)))
    out._num_graphs = copies * b
    return out


def input_types(model: Any, extra: Mapping[str, FieldTypeLike] | None, data: Any) -> dict[str, FieldTypeLike]:
    """Type overrides for the inputs that the field registry may not know: the model's
    ``vector_inputs`` (node ``1o``) and the strategy's ``extra`` types, for fields present in ``data``."""
    keys = set(data.keys())
    vectors = getattr(model, "vector_inputs", ())
    types: dict[str, FieldTypeLike] = {k: ("node", "1o") for k in vectors if k in keys}
    types.update({k: v for k, v in (extra or {}).items() if k in keys})
    return types


def group_average(
    model: Any,
    data: Any,
    R: torch.Tensor,
    t: torch.Tensor | None = None,
    types: Mapping[str, FieldTypeLike] | None = None,
) -> dict[str, torch.Tensor]:
    """The average over ``K`` elements per graph of the model's outputs mapped back (module docstring).

    Args:
        model: a gdl model (``targets`` typed, returns ``{name: tensor}``).
        data: a ``Batch`` of ``B`` graphs (or one ``Data``).
        R: ``[K, B, 3, 3]`` orthogonal matrices.
        t: ``[K, B, 3]`` translations of positions, or ``None``.
        types: input type overrides (:func:`input_types`). Default ``None``.

    Returns:
        ``{target: [B or N, dim]}``.
    """
    K, B = int(R.shape[0]), int(R.shape[1])
    big = repeat_graphs(data, K)
    Rf = R.reshape(K * B, 3, 3)
    moved = act_per_graph(big, Rf, None if t is None else t.reshape(K * B, 3), types)
    out = model(moved)
    batch = moved.batch
    back = act_fields_per_graph(
        out, {tg.name: tg for tg in model.targets}, Rf.transpose(-1, -2), batch
    )
    return {k: v.unflatten(0, (K, -1)).mean(dim=0) for k, v in back.items()}


def check_types(types: Mapping[str, FieldTypeLike] | None, name: str) -> dict[str, FieldTypeLike]:
    """Validate a mapping of input type overrides at construction (a clear error for bad types)."""
    out = dict(types or {})
    for k, v in out.items():
        try:
            field_type(v)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: invalid type {v!r} for input field {k!r}: {e}") from None
    return out
