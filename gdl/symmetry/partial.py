r"""Partial: each layer's anchors drawn from a learned subset of SO(3) (rotations up to an angle)."""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..groups.anchors import AnchorSet
from ..groups.so3 import exp, log
from ..models.group_conv_net import GroupConvNet
from .strategy import SymmetryStrategy

__all__ = ["Partial", "PartialAnchors"]


class PartialAnchors(nn.Module):
    r"""A learned-angle anchor provider: for the first ``num_learned`` stages :math:`t` (the lifting,
    then the outputs of the first convolutions) the anchors of a base set shrunk towards the
    identity,

    .. math::
        R^{(t)}_a = \exp\big(\tfrac{\theta_t}{\pi} \log R_a\big), \qquad
        \theta_t \in [\theta_{\min}, \pi],

    so every anchor of stage :math:`t` is a rotation by at most :math:`\theta_t` (the rotation
    vectors :math:`\log R_a` have angles :math:`\le \pi`); then one last stage with the base anchors
    themselves, on which the readouts run. For a finite group or Haar samples as the base, the
    anchors are a reparametrised sample of a distribution on :math:`\{R : |R| \le \theta_t\}`,
    differentiable in :math:`\theta_t` (the Romero & Lohit construction, with the base set playing
    the role of the noise); at :math:`\theta_t = \pi` they are the base anchors (to rounding). The
    base is called once per call (a redrawn base is redrawn once for all stages).

    Why the readouts keep the base: the least-squares Fourier weights of
    :class:`~gdl.nn.AnchorReadout` are discontinuous next to a finite group (fitting the 34 degree-1
    and -2 functions on 24 octahedral anchors is rank deficient; anchors moved by :math:`10^{-6}`
    gave ``2e`` readout errors of order 1), so shrunk readout anchors would make the output jump as
    soon as :math:`\theta` leaves :math:`\pi`.

    Implements the :class:`~gdl.groups.anchors.AnchorSet` interface (``space``, ``redraws``,
    ``num_anchors``, ``check_degree``...) delegating to the base, and returns ``num_learned + 1``
    tensors, one per stage (``per_stage = True``; see :meth:`gdl.models.GroupConvNet.stage_anchors`).
    The anchors of consecutive stages are related by their index only through this construction;
    the model does not rely on it: its residual connections are pointwise group convolutions from
    one stage's anchors to the next (:class:`~gdl.nn.PointwiseGroupConv`), functions of the
    relative rotations only.

    Args:
        base: an SO(3) :class:`~gdl.groups.anchors.AnchorSet` (e.g. ``GroupAnchors(octahedral())``).
        num_learned: number of stages with a learned angle (``num_layers`` for a ``GroupConvNet``).
        theta: initial :math:`\theta_t` (radians), the same for every stage. Default ``math.pi``.
        theta_min: lower clamp of :math:`\theta_t`, keeping anchors apart. Default ``0.1``.
    """

    space = "so3"
    #: one anchor set per stage: the model adds pointwise group convolution shortcuts between them
    per_stage = True

    def __init__(self, base: AnchorSet, num_learned: int, theta: float = math.pi, theta_min: float = 0.1):
        super().__init__()
        if getattr(base, "space", None) != "so3":
            raise ValueError(f"PartialAnchors needs SO(3) anchors (space 'so3'), got {base!r}")
        if num_learned < 1 or not (0 < theta_min <= theta <= math.pi):
            raise ValueError(
                f"PartialAnchors: need num_learned >= 1 and 0 < theta_min <= theta <= pi, got "
                f"{num_learned}, theta_min={theta_min}, theta={theta}"
            )
        self.base, self.num_learned, self.theta_min = base, int(num_learned), float(theta_min)
        self.raw_theta = nn.Parameter(torch.full((self.num_learned,), float(theta), dtype=torch.float64))

    @property
    def redraws(self) -> bool:
        return bool(getattr(self.base, "redraws", False))

    @property
    def num_anchors(self) -> int:
        return int(self.base.num_anchors)

    @property
    def theta(self) -> torch.Tensor:
        """:math:`\theta_t` per learned stage, clamped to ``[theta_min, π]`` (``[num_learned]``)."""
        return self.raw_theta.clamp(self.theta_min, math.pi)

    def check_degree(self, irrep: str, what: str = "a readout") -> None:
        self.base.check_degree(irrep, what)

    def reference(self) -> torch.Tensor:
        return self.base.reference()

    def forward(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, ...]:
        dtype = dtype or torch.get_default_dtype()
        base = self.base(dtype, device)
        omega = log(base)  # [A, 3], angles <= pi
        scale = (self.theta / math.pi).to(dtype=dtype, device=omega.device)  # [num_learned]
        return (*(exp(omega * scale[t]) for t in range(self.num_learned)), base)

    def extra_repr(self) -> str:
        th = ", ".join(f"{v:.3f}" for v in self.theta.detach().tolist())
        return f"base={self.base!r}, theta=[{th}], theta_min={self.theta_min}"


class Partial(SymmetryStrategy):
    r"""Partial equivariance (Romero & Lohit, "Learning Partial Equivariances from Data", NeurIPS
    2022, https://arxiv.org/abs/2110.10211) for :class:`~gdl.models.GroupConvNet`: the anchors of
    every layer are drawn from a learned subset of SO(3), the rotations by at most
    :math:`\theta_t`, with :math:`\theta_t` learned per layer by reparametrisation
    (:class:`PartialAnchors` replaces the anchor provider of a copy of the model). Layer ``t`` is
    the lifting (``t = 0``) or the output of convolution ``t``; the last convolution maps onto the
    full base anchors, where the readouts run (see :class:`PartialAnchors` for why), so a model with
    ``num_layers`` convolutions learns ``num_layers`` angles. As in the paper's residual blocks
    (group elements sampled per layer), the residual connection between two stages is a pointwise
    group convolution from the anchors of one to those of the next
    (:class:`~gdl.nn.PointwiseGroupConv`, added to the copy by
    :meth:`~gdl.models.GroupConvNet.set_anchors`), not the identity: adding the features of two
    different anchor sets by index is not a group operation (see :class:`~gdl.models.GroupConvNet`).
    The wrapped model therefore has ``num_layers`` more small modules than the model passed in, and
    is a different function from it even at :math:`\theta = \pi`.

    Symmetry: at :math:`\theta_t = \pi` for every layer the anchors are those of the model and the
    strategy is exactly as equivariant as the model (for a finite anchor group: exactly, tested at
    1e-9 in float64). For smaller angles the intermediate anchor sets are no longer closed under the
    group and the network is only approximately equivariant, with an error that vanishes as
    :math:`\theta_t \to \pi` (tested); at any angle, rotating the input and left-multiplying every
    stage's anchors by the same rotation rotates the outputs exactly, and the output does not depend
    on how each stage numbers its anchors (both tested at :math:`\theta < \pi`).
    :meth:`symmetry_report` gives :math:`\theta_t` per layer. No regulariser: as in the paper, the
    angles follow the task loss.

    The model is deep-copied: the model passed in is left unchanged.

    Args:
        model: a :class:`~gdl.models.GroupConvNet` (or subclass) with SO(3) anchors and
            ``num_layers >= 1``.
        theta: initial :math:`\theta_t` for every layer (radians). Default ``math.pi``.
        theta_min: lower clamp of :math:`\theta_t`. Default ``0.1``.

    Shapes:
        as the wrapped model: ``Batch`` -> ``{target: [B or N, dim]}``.
    """

    name: ClassVar[str] = "partial"
    supported_models = (GroupConvNet,)

    def __init__(self, model: GroupConvNet, theta: float = math.pi, theta_min: float = 0.1):
        super().__init__(model)
        if getattr(model.anchors, "space", None) != "so3":
            raise ValueError(
                f"Partial: needs a GroupConvNet with SO(3) anchors (rotations up to an angle); "
                f"got {model.anchors!r}"
            )
        if isinstance(model.anchors, PartialAnchors):
            raise ValueError("Partial: the model already has partial anchors")
        if model.num_layers < 1:
            raise ValueError("Partial: needs a GroupConvNet with num_layers >= 1 (one angle per layer)")
        self.model = copy.deepcopy(model)
        p = next(self.model.parameters())
        anchors = PartialAnchors(self.model.anchors, self.model.num_layers, theta, theta_min)
        self.model.set_anchors(anchors.to(dtype=p.dtype, device=p.device))  # adds the shortcuts

    @property
    def anchors(self) -> PartialAnchors:
        return self.model.anchors

    def symmetry_report(self) -> dict[str, Any]:
        theta = self.anchors.theta.detach().tolist()
        report: dict[str, Any] = {"strategy": self.name, "theta_max_mean": sum(theta) / len(theta)}
        report.update({f"theta_max/layer{t}": v for t, v in enumerate(theta)})
        return report
