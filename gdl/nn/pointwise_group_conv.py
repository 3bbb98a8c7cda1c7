r"""Pointwise (1x1) group convolution between two SO(3) anchor sets (the stage-to-stage shortcut of
per-layer anchors)."""

from __future__ import annotations

import torch
from torch import nn

from ..groups.anchors import relative_rotations
from .conv._anchor_kernel import check_anchor_input

__all__ = ["PointwiseGroupConv"]


class PointwiseGroupConv(nn.Module):
    r"""A group convolution with no spatial extent, mapping features over one set of SO(3) anchors
    :math:`\{R_b\}_{b=1}^B` to features over another, :math:`\{R'_a\}_{a=1}^A`, node by node (the
    pointwise group convolution that Romero & Lohit, "Learning Partial Equivariances from Data",
    NeurIPS 2022, use as the residual shortcut between layers whose group elements are sampled
    separately):

    .. math::
        f'(i, a) = W \Big[\frac{1}{B} \sum_{b=1}^{B} \kappa\big(R'^{\top}_a R_b\big) \odot f(i, b)\Big]

    with :math:`\kappa` an MLP (``Linear -> SiLU -> Linear``) of the nine entries of the relative
    rotation :math:`R'^{\top}_a R_b` giving one weight per input channel, :math:`\odot` per channel
    and :math:`W` a channel mixing without bias: a channel-separable kernel
    :math:`K_{oc}(R'^{\top}_a R_b) = W_{oc}\, \kappa_c(R'^{\top}_a R_b)` (as the fiber kernel of
    :class:`~gdl.nn.GroupConv`), normalised by the number of input anchors so that its scale does
    not depend on :math:`B`. Time :math:`O(N A B C + N A C^2)`, no ``[N, A, B, C]`` intermediate.

    Symmetry: the kernel sees only the relative rotation, so the output is a function of the
    feature as a function on the group, not of how the anchors are numbered or where they are
    globally:

    * left-multiplying both anchor sets by the same rotation :math:`g` leaves the output unchanged,
      :math:`\mathrm{PGC}(f;\ gR', gR) = \mathrm{PGC}(f;\ R', R)` (the law that makes a network
      whose features are invariant under the joint rotation of input and anchors stay so);
    * permuting the input anchors together with the feature's anchor axis leaves it unchanged, and
      permuting the output anchors permutes the output;
    * hence, for input and output sets closed under a finite group (e.g. both the 24 octahedral
      rotations, in any order), rotating the input by a group element permutes the output exactly.

    Args:
        in_channels: channels ``C`` of ``x``.
        out_channels: channels of the output.
        kernel_channels: hidden width of :math:`\kappa`. Default ``32``.

    Shapes:
        - **input:** ``x [N, B, in_channels]``, ``anchors [B, 3, 3]``, ``anchors_out [A, 3, 3]``
        - **output:** ``[N, A, out_channels]``
    """

    #: number of invariants of an (output anchor, input anchor) pair: the entries of R'_a^T R_b
    num_anchor_invariants: int = 9

    def __init__(self, in_channels: int, out_channels: int, kernel_channels: int = 32):
        super().__init__()
        if min(in_channels, out_channels, kernel_channels) < 1:
            raise ValueError(
                f"PointwiseGroupConv: in_channels, out_channels and kernel_channels must be >= 1, got "
                f"{in_channels}, {out_channels}, {kernel_channels}"
            )
        self.in_channels, self.out_channels, self.kernel_channels = in_channels, out_channels, kernel_channels
        self.kernel = nn.Sequential(
            nn.Linear(self.num_anchor_invariants, kernel_channels),
            nn.SiLU(),
            nn.Linear(kernel_channels, in_channels),
        )
        self.lin = nn.Linear(in_channels, out_channels, bias=False)

    def reset_parameters(self) -> None:
        for m in [*self.kernel, self.lin]:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def kernel_weights(self, anchors_out: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`\kappa(R'^{\top}_a R_b)`: ``[A, 3, 3], [B, 3, 3] -> [A, B, in_channels]``."""
        return self.kernel(relative_rotations(anchors_out, anchors).flatten(-2))

    def forward(self, x: torch.Tensor, anchors: torch.Tensor, anchors_out: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"PointwiseGroupConv: x must have shape [N, B, in_channels={self.in_channels}], got "
                f"{tuple(x.shape)}"
            )
        check_anchor_input(anchors, "so3", "anchors")
        check_anchor_input(anchors_out, "so3", "anchors_out")
        if anchors.shape[0] != x.shape[1]:
            raise ValueError(
                f"PointwiseGroupConv: x has {x.shape[1]} anchors (dim 1) but `anchors` has {anchors.shape[0]}"
            )
        kappa = self.kernel_weights(anchors_out.to(x.dtype), anchors.to(x.dtype))  # [A, B, C]
        return self.lin(torch.einsum("abc,nbc->nac", kappa, x) / x.shape[1])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"kernel_channels={self.kernel_channels})"
        )
