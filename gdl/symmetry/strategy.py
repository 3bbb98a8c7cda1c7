r"""The contract of symmetry strategies.

A strategy is an object injected into a model — never a boolean threaded through ``forward``. It
wraps a :class:`~gdl.models.GDLModel` (or rebuilds parts of it) and is itself a ``GDLModel`` with the
same typed targets, so training, evaluation and :func:`gdl.testing.equivariance_error` treat a
wrapped model exactly like a bare one. On top of the model contract a strategy provides:

* :meth:`SymmetryStrategy.regularizer` — a scalar added to the training loss (a prior on the
  non-equivariant weights, a relaxation penalty, a width bonus); zero by default;
* :meth:`SymmetryStrategy.symmetry_report` — what it learned or imposed (learned angle, prior ratio,
  relaxation norm, augmentation width), as a flat ``dict`` of numbers and strings for the ablation
  table.

A strategy declares the model classes it can wrap in ``supported_models``; applying it to any other
model fails at construction with a message naming the strategy, the model and the supported ones.
Hydra configs build strategies as partials: ``instantiate(cfg.symmetry)(model)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..models.base import GDLModel

__all__ = ["Exact", "SymmetryStrategy", "symmetry_report"]


class SymmetryStrategy(GDLModel):
    """Base class of symmetry strategies: wraps ``model`` and keeps its targets.

    Args:
        model: the model to wrap; must be an instance of one of ``supported_models``.

    Subclasses set ``name`` and ``supported_models`` and override ``forward``,
    :meth:`regularizer` and :meth:`symmetry_report` as needed.
    """

    #: short name used in configs and tables
    name: ClassVar[str] = "strategy"
    #: model classes this strategy can wrap
    supported_models: ClassVar[tuple[type, ...]] = (GDLModel,)

    def __init__(self, model: GDLModel):
        if not isinstance(model, self.supported_models):
            supported = ", ".join(c.__name__ for c in self.supported_models)
            raise TypeError(
                f"symmetry strategy {self.name!r} ({type(self).__name__}) cannot wrap "
                f"{type(model).__name__}; "
                f"it supports: {supported}"
            )
        super().__init__(model.targets)
        self.model = model

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        return self.model(data)

    def regularizer(self) -> torch.Tensor:
        """A scalar added to the training loss (zero unless the strategy carries a prior)."""
        p = next(self.parameters(), None)
        return torch.zeros(
            (),
            dtype=p.dtype if p is not None else torch.get_default_dtype(),
            device=p.device if p is not None else None,
        )

    def symmetry_report(self) -> dict[str, Any]:
        """What the strategy learned or imposed, as ``{key: number or string}``."""
        return {"strategy": self.name}


class Exact(SymmetryStrategy):
    """No strategy: the wrapped model is used as built (equivariant by construction for the
    equivariant routes; for ``PlainNet`` this means no symmetry at all)."""

    name = "exact"


def symmetry_report(model: Any) -> dict[str, Any]:
    """The ``symmetry_report()`` of a strategy, or ``{"strategy": "exact"}`` for a bare model."""
    report = getattr(model, "symmetry_report", None)
    return report() if callable(report) else {"strategy": "exact"}
