"""Relaxed group convolution over sphere orientations."""

from __future__ import annotations

from .relaxed_group_conv import RelaxedGroupConv
from .sphere_group_conv import SphereGroupConv

__all__ = ["RelaxedSphereGroupConv"]


class RelaxedSphereGroupConv(RelaxedGroupConv, SphereGroupConv):
    r""":class:`RelaxedGroupConv` over orientation anchors :math:`o_b \in S^2` (the invariants of
    :class:`SphereGroupConv`): the fiber kernel is
    :math:`\sum_{l} w_l(b)\, \kappa_l(o_a \cdot o_b)` with relaxation weights ``w [B, L]`` per input
    orientation (Wang, Walters & Yu 2022, https://arxiv.org/abs/2201.11969).

    Symmetry: exactly :class:`SphereGroupConv` (equivariant to the group the orientations are closed
    under) at zero relaxation; approximately equivariant otherwise.

    Args:
        in_channels: channels ``C`` of ``x``.
        out_channels: channels of the output.
        num_anchors: number ``B`` of input orientations.
        num_kernels: ``L``, kernels combined per orientation. Default ``2``.
        radial, radial_hidden, edge_chunk, **kwargs: as :class:`GroupConv`.

    Shapes:
        as :class:`SphereGroupConv`: ``x [N, B, in_channels]``, ``pos [N, 3]``, ``edge_index [2, E]``,
        ``anchors [B, 3]`` -> ``[N, A, out_channels]``.
    """
