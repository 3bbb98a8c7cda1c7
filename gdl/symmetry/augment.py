r"""Augment: random rotations of inputs (and, through the inverse map, of targets) during training."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ..action import FieldTypeLike
from ..groups.so3 import as_generator, haar, haar_o3
from ..models.base import GDLModel
from ._average import check_types, group_average, input_types
from .strategy import SymmetryStrategy

__all__ = ["Augment"]

GROUPS = ("SO3", "O3")


class Augment(SymmetryStrategy):
    r"""Data augmentation as a model wrapper: in training mode every graph of a batch gets its own
    random element :math:`g_b = (R_b, t_b)` of :math:`SO(3)` or :math:`O(3)` (Haar, seeded), applied to
    its positions and every typed input field (``vel``, ``edge_vec``, the model's ``vector_inputs``,
    ...; :func:`gdl.groups.act_per_graph`), and the outputs are mapped back with the inverse:

    .. math::
        f_{\text{aug}}(x)_b = \rho_{\text{out}}(R_b)^{-1}\, f(g_b \cdot x)_b

    For a rotation-invariant loss (every loss of :mod:`gdl.training` compares typed outputs by their
    norms) this is the same as rotating inputs *and* targets. Translations shift positions by
    :math:`t_b \sim \mathcal N(0, \sigma^2 I)`. In eval mode the wrapper is the identity, so the
    measured equivariance error is that of the trained backbone.

    Symmetry: none imposed; equivariance is only encouraged through training. Around an
    equivariant model augmentation is a no-op (``f_aug = f`` to rounding, tested).

    Args:
        model: any :class:`~gdl.models.GDLModel`.
        group: ``"SO3"`` (rotations) or ``"O3"`` (rotations and reflections). Default ``"SO3"``.
        translation: standard deviation :math:`\sigma` of the random translation (in position
            units); ``0`` for none. Default ``0.0``.
        seed: seed of the strategy's own ``torch.Generator``. Default ``0``.
        input_types: types of input fields unknown to :data:`gdl.keys.FIELDS` (e.g.
            ``{"spin": "1o"}``). Default ``None``.

    Shapes:
        as the wrapped model: ``Batch`` -> ``{target: [B or N, dim]}``.
    """

    name: ClassVar[str] = "augment"
    supported_models = (GDLModel,)

    def __init__(
        self,
        model: GDLModel,
        group: str = "SO3",
        translation: float = 0.0,
        seed: int = 0,
        input_types: Mapping[str, FieldTypeLike] | None = None,
    ):
        super().__init__(model)
        group = str(group).upper().replace("(", "").replace(")", "")
        if group not in GROUPS:
            raise ValueError(f"Augment: group must be one of {GROUPS}, got {group!r}")
        if not translation >= 0:
            raise ValueError(f"Augment: translation must be >= 0, got {translation}")
        self.group, self.translation, self.seed = group, float(translation), int(seed)
        self.input_types = check_types(input_types, "Augment")
        self.generator = as_generator(self.seed)

    def reset(self) -> None:
        """Reseed the generator (the next batches repeat the same draws)."""
        self.generator.manual_seed(self.seed)

    def sample(self, num_graphs: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``R [B, 3, 3]`` and ``t [B, 3]`` (or ``None``) for one batch, from the strategy's generator."""
        draw = haar_o3 if self.group == "O3" else haar
        R = draw(num_graphs, self.generator, dtype=torch.float64)
        t = None
        if self.translation > 0:
            t = torch.randn(num_graphs, 3, generator=self.generator, dtype=torch.float64) * self.translation
            t = t.to(dtype)
        return R.to(dtype), t

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        if not self.training:
            return self.model(data)
        self.validate(data)
        R, t = self.sample(self.num_graphs(data), data.pos.dtype)
        R = R.to(data.pos.device)
        t = None if t is None else t.to(data.pos.device)
        return group_average(self.model, data, R[None], None if t is None else t[None],
                             input_types(self.model, self.input_types, data))

    def symmetry_report(self) -> dict[str, Any]:
        return {
            "strategy": self.name, "group": self.group, "translation": self.translation, "seed": self.seed
        }

    def extra_repr(self) -> str:
        return f"group={self.group!r}, translation={self.translation}, seed={self.seed}"
