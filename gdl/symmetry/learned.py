r"""Learned invariance: a learned distribution of input rotations averaged over (Augerino)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..action import FieldTypeLike
from ..groups.so3 import as_generator, exp, haar, log
from ..models.base import GDLModel
from ._average import check_types, group_average, input_types
from .strategy import SymmetryStrategy

__all__ = ["Augerino", "LearnedAugmentation", "shrunk_haar"]


def shrunk_haar(
    width: torch.Tensor, num: int, generator: torch.Generator, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    r"""``num`` rotations :math:`\exp(\tfrac{w}{\pi} \odot \log R)` with :math:`R` Haar-distributed:
    rotation vectors of Haar samples (angle :math:`\le \pi`) scaled per axis by ``width / π``.

    ``width = (π, π, π)`` gives exactly the Haar measure on SO(3); ``width = 0`` the identity; in
    between each *component* of the rotation vector is bounded, :math:`|\omega_k| \le`
    ``width[k]`` for :math:`\omega = \log` of the sample (so the angle is at most
    :math:`\lVert \text{width} \rVert`). This is not a bound on "the rotation about axis k": a
    rotation's components along the axes of its rotation vector are not rotations about those
    axes (they do not compose that way). The sample is a differentiable
    function of ``width`` (reparametrisation: the randomness is in :math:`R` only).

    Shapes: ``width [3] -> [num, 3, 3]``.
    """
    base = log(haar(num, generator, dtype=torch.float64))  # [num, 3], angles <= pi
    base = base.to(dtype=width.dtype, device=width.device)
    return exp(base * (width / math.pi)).to(dtype)


class Augerino(SymmetryStrategy):
    r"""Augerino (Benton, Finzi, Izmailov & Wilson, "Learning Invariances in Neural Networks from
    Training Data", NeurIPS 2020, https://arxiv.org/abs/2010.11882): the model is averaged over
    ``K`` rotations drawn from a learned distribution, at training *and* test time, with a
    regulariser that favours wider distributions.

    .. math::
        \bar f(x)_b = \frac1K \sum_{k=1}^K \rho_{\text{out}}(R_{kb})^{-1} f(R_{kb} \cdot x)_b, \qquad
        R_{kb} = \exp\big(\tfrac{w}{\pi} \odot \log H_{kb}\big),\ H_{kb} \sim \mathrm{Haar}(SO(3)),
        \qquad \mathcal R(w) = -\lambda\, \lVert w / \pi \rVert^2 / 3

    (:func:`shrunk_haar`; every graph of a batch gets its own ``K`` draws; the ``K`` copies run as
    extra graphs of one batch). The learned width :math:`w \in [0, \pi]^3` bounds the rotation
    angle about each axis. The paper draws :math:`\omega = w \odot u` with :math:`u \sim U[-1, 1]^3`;
    here :math:`u = \log H / \pi` instead, so that the full width is *exactly* the Haar measure and
    the average is then equivariant in expectation (its error falls as :math:`1/\sqrt K`, measured in
    ``tests/symmetry/test_learned.py``). Typed inputs are rotated and typed outputs mapped back, so
    equivariant targets work as invariant ones do in the paper.

    Symmetry: at ``width = π`` equivariant in distribution (exactly in expectation over the draws);
    at smaller widths approximately equivariant to rotations within the width, and not at all to
    larger ones. Translations and permutations: as the wrapped model. The draws come from the
    strategy's seeded generator (:meth:`reset` restarts them).

    Args:
        model: any :class:`~gdl.models.GDLModel`.
        num_samples: ``K``, rotations per graph and forward pass. Default ``4``.
        width: initial width per axis in radians, a number or three. Default ``0.5``.
        regularization: :math:`\lambda`, weight of the width bonus. Default ``0.01``.
        seed: seed of the strategy's generator. Default ``0``.
        input_types: types of input fields unknown to :data:`gdl.keys.FIELDS`. Default ``None``.

    Shapes:
        as the wrapped model: ``Batch`` -> ``{target: [B or N, dim]}``.
    """

    name: ClassVar[str] = "learned"
    supported_models = (GDLModel,)

    def __init__(
        self,
        model: GDLModel,
        num_samples: int = 4,
        width: float | tuple[float, float, float] = 0.5,
        regularization: float = 0.01,
        seed: int = 0,
        input_types: Mapping[str, FieldTypeLike] | None = None,
    ):
        super().__init__(model)
        if int(num_samples) < 1:
            raise ValueError(f"Augerino: num_samples must be >= 1, got {num_samples}")
        w = torch.as_tensor(width, dtype=torch.get_default_dtype()).flatten()
        if w.numel() == 1:
            w = w.repeat(3)
        if w.numel() != 3 or not bool(((w >= 0) & (w <= math.pi)).all()):
            raise ValueError(f"Augerino: width must be one or three angles in [0, pi], got {width!r}")
        if not regularization >= 0:
            raise ValueError(f"Augerino: regularization must be >= 0, got {regularization}")
        self.num_samples, self.regularization, self.seed = int(num_samples), float(regularization), int(seed)
        p = next(model.parameters(), None)
        self.raw_width = nn.Parameter(w.to(dtype=p.dtype, device=p.device) if p is not None else w)
        self.input_types = check_types(input_types, "Augerino")
        self.generator = as_generator(self.seed)

    @property
    def width(self) -> torch.Tensor:
        """The width per axis, clamped to ``[0, π]`` (``[3]``, differentiable inside the range)."""
        return self.raw_width.clamp(0.0, math.pi)

    def reset(self) -> None:
        """Reseed the generator."""
        self.generator.manual_seed(self.seed)

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        K, B = self.num_samples, self.num_graphs(data)
        R = shrunk_haar(self.width, K * B, self.generator, data.pos.dtype).unflatten(0, (K, B))
        return group_average(self.model, data, R.to(data.pos.device), None,
                             input_types(self.model, self.input_types, data))

    def regularizer(self) -> torch.Tensor:
        return -self.regularization * (self.width / math.pi).pow(2).mean()

    def symmetry_report(self) -> dict[str, Any]:
        w = self.width.detach().tolist()
        return {
            "strategy": self.name,
            "width_x": w[0],
            "width_y": w[1],
            "width_z": w[2],
            "width_mean": sum(w) / 3,
            "num_samples": self.num_samples,
        }

    def extra_repr(self) -> str:
        w = ", ".join(f"{v:.3f}" for v in self.width.detach().tolist())
        return f"num_samples={self.num_samples}, width=[{w}], regularization={self.regularization}"


#: the issue's other name for :class:`Augerino`
LearnedAugmentation = Augerino
