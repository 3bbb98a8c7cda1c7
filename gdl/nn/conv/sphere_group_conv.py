"""Separable group convolution over orientations on the sphere (position–orientation space)."""

from __future__ import annotations

import torch

from ...groups.anchors import sphere_components
from .group_conv import GroupConv

__all__ = ["SphereGroupConv"]


class SphereGroupConv(GroupConv):
    r"""Separable convolution on features over orientation anchors :math:`o_a \in S^2 = SO(3)/SO(2)`,
    in position–orientation space :math:`\mathbb{R}^3 \times S^2` (Bekkers et al., "Fast, Expressive
    SE(n) Equivariant Networks through Weight-Sharing in Position-Orientation Space", ICLR 2024,
    https://arxiv.org/abs/2310.02970).

    The same separable update as :class:`GroupConv`, with the invariants of (edge, orientation) and
    (orientation, orientation) pairs of that paper:

    .. math::
        g(j, a) &= \frac{1}{B} \sum_b \kappa(o_a \cdot o_b) \odot f(j, b) \\
        m(i, a) &= \sum_{j \in \mathcal{N}(i)}
            k\big(o_a \cdot r_{ij} / c,\ \lVert r_{ij} - (o_a \cdot r_{ij})\, o_a \rVert / c,\
            \lVert r_{ij} \rVert\big) \odot g(j, a) \\
        f'(i, a) &= W_{\text{root}}\, g(i, a) + W_{\text{nbr}}\, m(i, a) + b

    Cost :math:`O(N A B C + E A C)`, memory linear in :math:`E \cdot A`.

    Symmetry: with an orientation set closed under a finite group (the 12 icosahedron vertices
    under the 60 icosahedral rotations, any orbit), rotating the input permutes the output over
    anchors, :math:`f'(g\cdot x)[:, a] = f'(x)[:, \sigma_g(a)]` with :math:`o_{\sigma_g(a)} = g^\top o_a`;
    reflections act the same way on a set closed under them. Translation invariant; equivariant to
    node permutations.

    Args:
        in_channels: channels ``C`` of ``x``.
        out_channels: channels of the output.
        radial, radial_hidden, edge_chunk, **kwargs: as :class:`GroupConv`.

    Shapes:
        - **input:** ``x [N, B, in_channels]``, ``pos [N, 3]``, ``edge_index [2, E]``,
          ``anchors [B, 3]`` (unit vectors), optional ``edge_vec [E, 3]``, optional ``anchors_out [A, 3]``
        - **output:** ``[N, A, out_channels]``
    """

    num_point_invariants = 2
    num_anchor_invariants = 1
    anchor_space = "sphere"

    def point_invariants(self, vec: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`[o_a \cdot v, \lVert v_\perp \rVert]`: ``[E, 3], [A, 3] -> [E, A, 2]``."""
        return sphere_components(vec, anchors)

    def anchor_invariants(self, anchors_out: torch.Tensor, anchors_in: torch.Tensor) -> torch.Tensor:
        r""":math:`o_a \cdot o_b`: ``[A, 3], [B, 3] -> [A, B, 1]``."""
        return (anchors_out @ anchors_in.to(anchors_out.dtype).T).unsqueeze(-1)
