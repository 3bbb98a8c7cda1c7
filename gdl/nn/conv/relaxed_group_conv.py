"""Relaxed group convolution over SO(3) anchors: kernels that may depend on the absolute anchor."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ...dtype import default_dtype
from ..radial import RadialEmbedding
from ._anchor_kernel import EDGE_ANCHOR_CHUNK, InvariantMLP
from .group_conv import GroupConv

__all__ = ["RelaxedGroupConv"]


class RelaxedGroupConv(GroupConv):
    r"""Relaxed group convolution (Wang, Walters & Yu, "Approximately Equivariant Networks for
    Imperfectly Symmetric Dynamics", ICML 2022, https://arxiv.org/abs/2201.11969) in the separable
    form of :class:`GroupConv`: the anchor ("fiber") kernel is a combination of ``L`` kernels of the
    relative rotation whose weights depend on the absolute input anchor :math:`b`,

    .. math::
        g(j, a) &= \frac{1}{B} \sum_b \Big(\sum_{l=1}^{L} w_l(b)\, \kappa_l(R_a^\top R_b)\Big)
            \odot f(j, b) \\
        m(i, a) &= \sum_{j \in \mathcal{N}(i)} k\big(R_a^\top r_{ij} / c,\ \lVert r_{ij} \rVert\big)
            \odot g(j, a), \qquad
        f'(i, a) = W_{\text{root}}\, g(i, a) + W_{\text{nbr}}\, m(i, a) + b

    with relaxation weights ``w [B, L]`` (``relaxed_weights``), one row per input anchor. When every
    row is the same, the kernel depends on :math:`R_a^\top R_b` only and the layer is exactly a
    :class:`GroupConv` (equivariant as that layer); the **relaxation** is the deviation of the rows
    from their anchor mean, :math:`\delta(b) = w(b) - \bar w` (:meth:`relaxation`), and
    :meth:`relaxation_penalty` :math:`= \sum_b \lVert\delta(b)\rVert^2` is the squared-L2 form of the
    paper's penalty on differences between the weights of different group elements
    (:math:`\sum_{b, b'} \lVert w(b) - w(b')\rVert^2 = 2B \sum_b \lVert \delta(b) \rVert^2`).

    Initialisation: :math:`\kappa_1` is the inherited ``fiber`` kernel with :math:`w_1 = 1`, the others
    have :math:`w_l = 0` — the layer starts as an exactly equivariant :class:`GroupConv`, and
    :meth:`from_conv` turns a trained ``GroupConv`` into a relaxed one computing the same function.

    Symmetry: exactly equivariant (anchor-permuting, as :class:`GroupConv`) at zero relaxation;
    otherwise the output depends on which anchor is which and the error grows with the relaxation.
    Translation invariant and permutation equivariant always.

    Args:
        in_channels: channels ``C`` of ``x``.
        out_channels: channels of the output.
        num_anchors: number ``B`` of input anchors (the relaxation weights are per anchor, so the
            anchor set must be fixed, not redrawn).
        num_kernels: ``L``, kernels combined per anchor. Default ``2``.
        radial, radial_hidden, edge_chunk, **kwargs: as :class:`GroupConv`.

    Shapes:
        as :class:`GroupConv` with ``B = num_anchors``: ``x [N, B, in_channels]``, ``pos [N, 3]``,
        ``edge_index [2, E]``, ``anchors [B, 3, 3]`` -> ``[N, A, out_channels]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_anchors: int,
        num_kernels: int = 2,
        *,
        radial: RadialEmbedding | None = None,
        radial_hidden: int = 32,
        edge_chunk: int | None = EDGE_ANCHOR_CHUNK,
        **kwargs,
    ):
        if num_anchors < 1 or num_kernels < 1:
            raise ValueError(
                f"{type(self).__name__}: need num_anchors >= 1 and num_kernels >= 1, "
                f"got {num_anchors}, {num_kernels}"
            )
        super().__init__(
            in_channels,
            out_channels,
            radial=radial,
            radial_hidden=radial_hidden,
            edge_chunk=edge_chunk,
            **kwargs,
        )
        self.num_anchors, self.num_kernels = int(num_anchors), int(num_kernels)
        self.relaxed_fiber = (
            InvariantMLP(self.num_anchor_invariants, radial_hidden, (num_kernels - 1) * in_channels)
            if num_kernels > 1
            else None
        )
        self.relaxed_weights = nn.Parameter(torch.empty(self.num_anchors, self.num_kernels))
        self._reset_relaxation()

    @classmethod
    def from_conv(cls, conv: GroupConv, num_anchors: int, num_kernels: int = 2) -> RelaxedGroupConv:
        """A relaxed layer with the hyperparameters (radial part, aggregation, ``edge_chunk``) and
        weights of ``conv`` (same function at zero relaxation), on the device and in the dtype of
        ``conv``."""
        p = next(conv.parameters())
        with default_dtype(p.dtype):  # new parameters built in the dtype of `conv`
            new = cls(
                conv.in_channels,
                conv.out_channels,
                num_anchors,
                num_kernels,
                radial=copy.deepcopy(conv.radial),
                radial_hidden=conv.radial_hidden,
                edge_chunk=conv.edge_chunk,
                aggr=conv.aggr,
            )
        new = new.to(device=p.device)
        missing, unexpected = new.load_state_dict(conv.state_dict(), strict=False)
        if unexpected or any(not k.startswith("relaxed_") for k in missing):
            raise ValueError(f"{cls.__name__}.from_conv: {type(conv).__name__} has other parameters: "
                             f"missing {missing}, unexpected {unexpected}")
        return new

    def _reset_relaxation(self) -> None:
        if self.relaxed_fiber is not None:
            self.relaxed_fiber.reset_parameters()
        with torch.no_grad():
            self.relaxed_weights.zero_()
            self.relaxed_weights[:, 0] = 1.0

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "relaxed_weights"):  # GroupConv.__init__ calls this before they exist
            self._reset_relaxation()

    # -- relaxation ------------------------------------------------------------------------------
    def relaxation(self) -> torch.Tensor:
        r""":math:`\delta = w - \bar w` ``[B, L]``: the anchor-dependent part of the weights."""
        return self.relaxed_weights - self.relaxed_weights.mean(dim=0, keepdim=True)

    def relaxation_penalty(self) -> torch.Tensor:
        r""":math:`\sum_b \lVert \delta(b) \rVert^2` (differentiable)."""
        return self.relaxation().pow(2).sum()

    def relaxation_norm(self) -> float:
        r""":math:`\lVert \delta \rVert_F` as a number."""
        return float(self.relaxation().detach().norm())

    def fiber_kernel(self, anchors_out: torch.Tensor, anchors_in: torch.Tensor) -> torch.Tensor:
        if anchors_in.shape[0] != self.num_anchors:
            raise ValueError(
                f"{type(self).__name__} was built for {self.num_anchors} input anchors (one relaxation "
                f"weight row each) but got {anchors_in.shape[0]}"
            )
        inv = self.anchor_invariants(anchors_out, anchors_in)  # [A, B, k]
        w = self.relaxed_weights.to(inv.dtype)  # [B, L]
        kernel = self.fiber(inv) * w[:, 0].view(1, -1, 1)  # [A, B, C]
        if self.relaxed_fiber is not None:
            extra = self.relaxed_fiber(inv).unflatten(-1, (self.num_kernels - 1, self.in_channels))
            kernel = kernel + torch.einsum("ablc,bl->abc", extra, w[:, 1:])
        return kernel

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, num_anchors={self.num_anchors}, "
            f"num_kernels={self.num_kernels}, num_basis={self.num_basis}, cutoff={self.cutoff}, "
            f"radial_hidden={self.radial_hidden}, aggr={self.aggr!r}"
            + ("" if self.edge_chunk == EDGE_ANCHOR_CHUNK else f", edge_chunk={self.edge_chunk}")
            + ")"
        )
