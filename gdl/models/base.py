r"""The contract every gdl model follows.

A model is an ``nn.Module`` that

* declares its typed outputs as ``self.targets`` (a tuple of :class:`gdl.keys.Target`: name,
  level ``graph``/``node``, irreps such as ``0e``, ``1o``, ``2e``), validated at construction
  against the irreps its readout can produce;
* takes a PyG ``Batch`` (or ``Data``) with at least ``pos [N, 3]`` and ``edge_index [2, E]``
  (graphs come from the data pipeline — :mod:`gdl.data.transforms` — never from inside the model),
  optionally ``edge_vec [E, 3]`` (minimum image in periodic boxes), ``z``, ``x``, ``vel``, ``batch``;
* returns ``{target.name: tensor}`` with ``[B, irreps.dim]`` for graph-level and
  ``[N, irreps.dim]`` for node-level targets, ``2e`` in e3nn's basis.

Because the outputs are typed, :func:`gdl.testing.equivariance_error` can check any model
without further declarations, and symmetry strategies can wrap any model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from e3nn import o3
from torch import nn

from ..keys import Target, TargetLike, as_targets
from ..nn._checks import check_edge_index, check_edge_vec, check_pos

__all__ = ["GDLModel", "check_batch"]


def check_batch(data: Any, model_name: str = "model", require: Iterable[str] = ("pos", "edge_index")) -> None:
    """Validate the fields every model reads: ``pos``, ``edge_index`` and, when present,
    ``edge_vec`` and ``batch``. Raises with a message naming the field and what was found.

    This is where gdl checks *values* (NaN/inf, index bounds): once per model forward. The layers
    inside make shape checks only (see :mod:`gdl.debug`)."""
    keys = set(data.keys())
    for k in require:
        if k not in keys or data[k] is None:
            hint = (
                " Build a graph in the data pipeline, e.g. gdl.data.transforms.RadiusGraph(r) or "
                "FullyConnected()."
                if k == "edge_index"
                else ""
            )
            raise ValueError(f"{model_name} needs `{k}` in the batch; fields present: {sorted(keys)}.{hint}")
    check_pos(data.pos, values=True)
    n = data.pos.shape[0]
    if n == 0:
        raise ValueError(f"{model_name} got an empty graph (0 nodes)")
    check_edge_index(data.edge_index, n, values=True)
    if "edge_vec" in keys and data.edge_vec is not None:
        check_edge_vec(data.edge_vec, data.edge_index.shape[1], values=True)
    if "batch" in keys and data.batch is not None:
        b = data.batch
        if b.dim() != 1 or b.shape[0] != n:
            raise ValueError(f"batch must have shape [{n}], got {tuple(b.shape)}")


class GDLModel(nn.Module):
    """Base class of gdl models: typed targets, input validation, dict outputs.

    Subclasses call ``super().__init__(targets)``, then :meth:`check_targets` with the irreps their
    readout supports, and implement ``forward(data) -> dict[str, Tensor]``.

    Args:
        targets: what to predict — :class:`~gdl.keys.Target` objects, registered field names
            (``"homo"``), ``"name:level:irreps"`` strings or mappings (see :func:`gdl.keys.as_targets`).
    """

    targets: tuple[Target, ...]

    def __init__(self, targets: TargetLike | Iterable[TargetLike]):
        super().__init__()
        self.targets = as_targets(targets)
        #: ``(name, level, irreps string)`` per target: plain Python for use inside ``forward``.
        #: ``torch.compile`` cannot build guards on e3nn ``Irrep`` objects (their ``__len__`` raises),
        #: so forward passes should read this rather than ``self.targets``.
        self.target_specs: tuple[tuple[str, str, str], ...] = tuple(
            (t.name, t.level, str(t.irreps)) for t in self.targets
        )

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    def check_targets(
        self, supported: Iterable[str | o3.Irrep], levels: Iterable[str] = ("graph", "node")
    ) -> None:
        """Raise if a target needs an irrep or level outside ``supported``/``levels``."""
        supported_set = {o3.Irrep(s) for s in supported}
        levels = tuple(levels)
        for t in self.targets:
            bad = [str(mi.ir) for mi in t.irreps if mi.ir not in supported_set]
            if bad or t.level not in levels:
                what = f"irreps {bad}" if bad else f"level {t.level!r}"
                raise ValueError(
                    f"{type(self).__name__} cannot produce target {t.name!r} ({t.level} {t.irreps}): "
                    f"its readout gives {sorted(str(s) for s in supported_set)} at levels {list(levels)}, "
                    f"not {what}"
                )

    def validate(self, data: Any) -> None:
        """Check the batch (:func:`check_batch`) and, for models with ``self.inputs`` (a
        :class:`~gdl.models.NodeInputs`), the vector inputs; called at the start of ``forward``.
        These are all the value checks (host synchronisations) a model's forward makes."""
        name = type(self).__name__
        check_batch(data, name)
        inputs = getattr(self, "inputs", None)
        if inputs is not None:
            inputs.check(data, name)

    @staticmethod
    def batch_vector(data: Any) -> torch.Tensor:
        """``data.batch``, or zeros for a single graph."""
        b = getattr(data, "batch", None)
        if b is None:
            return torch.zeros(data.pos.shape[0], dtype=torch.long, device=data.pos.device)
        return b

    @staticmethod
    def num_graphs(data: Any) -> int:
        n = getattr(data, "num_graphs", None)
        return int(n) if n is not None else 1

    def extra_repr(self) -> str:
        return "targets=[" + ", ".join(str(t) for t in self.targets) + "]"
