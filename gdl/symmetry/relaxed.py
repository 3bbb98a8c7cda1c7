r"""Relaxed: group convolutions whose kernels may depend weakly on the absolute anchor."""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import torch

from ..groups.so3 import as_generator
from ..models.group_conv_net import GroupConvNet
from ..nn.conv.group_conv import GroupConv
from ..nn.conv.relaxed_group_conv import RelaxedGroupConv
from ..nn.conv.relaxed_sphere_group_conv import RelaxedSphereGroupConv
from ..nn.conv.sphere_group_conv import SphereGroupConv
from .strategy import SymmetryStrategy

__all__ = ["Relaxed"]

#: exact convolution class -> its relaxed version
RELAXED_LAYERS: dict[type, type[RelaxedGroupConv]] = {
    GroupConv: RelaxedGroupConv,
    SphereGroupConv: RelaxedSphereGroupConv,
}


class Relaxed(SymmetryStrategy):
    r"""Relaxed group convolutions (Wang, Walters & Yu, "Approximately Equivariant Networks for
    Imperfectly Symmetric Dynamics", ICML 2022, https://arxiv.org/abs/2201.11969) for
    :class:`~gdl.models.GroupConvNet`: every group convolution of a copy of the model is replaced by
    its relaxed version (:class:`~gdl.nn.RelaxedGroupConv` or :class:`~gdl.nn.RelaxedSphereGroupConv`,
    built with :meth:`~gdl.nn.RelaxedGroupConv.from_conv`, so the wrapped model starts as the same
    function), whose anchor kernel mixes ``num_kernels`` kernels with per-anchor weights. The
    relaxation :math:`\delta_t` of layer :math:`t` (the deviation of its weights from their anchor
    mean) is penalised:

    .. math::
        \mathcal R = \lambda \sum_t \lVert \delta_t \rVert_F^2

    Symmetry: at zero relaxation (the default initialisation) exactly that of the model — e.g.
    equivariant to the octahedral rotations for octahedral anchors, tested at 1e-9 in float64; with
    relaxation the error is non-zero and grows with :math:`\lVert\delta\rVert` (reported per layer).
    The lifting convolution and the readouts stay exact.

    The model is deep-copied: the model passed in is left unchanged. Its anchors must be a fixed set
    (the weights are per anchor); redrawn anchors (``HaarAnchors``) raise.

    Args:
        model: a :class:`~gdl.models.GroupConvNet` (or subclass) built with
            :class:`~gdl.nn.GroupConv` or :class:`~gdl.nn.SphereGroupConv` layers.
        num_kernels: ``L``, kernels per relaxed layer. Default ``2``.
        penalty: :math:`\lambda`. Default ``1e-3``.
        init_relaxation: standard deviation of a random initial relaxation added to the weights
            (seeded); ``0`` starts exactly equivariant. Default ``0.0``.
        seed: seed of that initial relaxation. Default ``0``.

    Shapes:
        as the wrapped model: ``Batch`` -> ``{target: [B or N, dim]}``.
    """

    name: ClassVar[str] = "relaxed"
    supported_models = (GroupConvNet,)

    def __init__(
        self,
        model: GroupConvNet,
        num_kernels: int = 2,
        penalty: float = 1e-3,
        init_relaxation: float = 0.0,
        seed: int = 0,
    ):
        super().__init__(model)
        if not (penalty >= 0 and init_relaxation >= 0):
            raise ValueError(
                f"Relaxed: need penalty >= 0 and init_relaxation >= 0, got {penalty}, {init_relaxation}"
            )
        anchors = model.anchors
        if getattr(anchors, "redraws", False):
            raise ValueError(
                f"Relaxed: the relaxation weights are per anchor, so the anchors must be a fixed set; "
                f"{anchors!r} redraws them every pass (use GroupAnchors, FixedAnchors, SphereAnchors, ...)"
            )
        self.model = copy.deepcopy(model)
        self.num_kernels, self.penalty = int(num_kernels), float(penalty)
        self.init_relaxation, self.seed = float(init_relaxation), int(seed)
        num_anchors = int(anchors.num_anchors)
        for i, conv in enumerate(self.model.convs):
            relaxed_cls = RELAXED_LAYERS.get(type(conv))
            if relaxed_cls is None:
                raise TypeError(
                    f"Relaxed: layer {i} of {type(model).__name__} is a {type(conv).__name__}; relaxed "
                    f"versions exist for {', '.join(c.__name__ for c in RELAXED_LAYERS)}"
                )
            self.model.convs[i] = relaxed_cls.from_conv(conv, num_anchors, self.num_kernels)
        if self.init_relaxation > 0:
            gen = as_generator(self.seed)
            with torch.no_grad():
                for conv in self.relaxed_layers:
                    w = conv.relaxed_weights
                    noise = torch.randn(w.shape, generator=gen, dtype=torch.float64) * self.init_relaxation
                    w.add_(noise.to(dtype=w.dtype, device=w.device))

    @property
    def relaxed_layers(self) -> list[RelaxedGroupConv]:
        return [c for c in self.model.convs if isinstance(c, RelaxedGroupConv)]

    def regularizer(self) -> torch.Tensor:
        total = super().regularizer()
        for conv in self.relaxed_layers:
            total = total + conv.relaxation_penalty()
        return self.penalty * total

    def symmetry_report(self) -> dict[str, Any]:
        norms = [conv.relaxation_norm() for conv in self.relaxed_layers]
        report: dict[str, Any] = {
            "strategy": self.name,
            "num_kernels": self.num_kernels,
            "penalty": self.penalty,
            "relaxation_norm": math.sqrt(sum(n * n for n in norms)),
        }
        report.update({f"relaxation_norm/layer{i + 1}": n for i, n in enumerate(norms)})
        return report

    def extra_repr(self) -> str:
        return (
            f"num_kernels={self.num_kernels}, penalty={self.penalty}, "
            f"init_relaxation={self.init_relaxation}"
        )
