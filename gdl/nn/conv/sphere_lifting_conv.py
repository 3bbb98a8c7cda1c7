"""Lifting convolution: from node features to features over sphere orientations."""

from __future__ import annotations

import torch

from ...groups.anchors import sphere_components
from .lifting_conv import LiftingConv

__all__ = ["SphereLiftingConv"]


class SphereLiftingConv(LiftingConv):
    r"""Lifts invariant node features and optional node vectors to features over orientation
    anchors :math:`o_a \in S^2` (position–orientation space; Bekkers et al., ICLR 2024,
    https://arxiv.org/abs/2310.02970).

    As :class:`LiftingConv`, with the invariants of a vector and an orientation,
    :math:`\iota(v, o) = [o \cdot v,\ \lVert v - (o \cdot v)\, o \rVert]`:

    .. math::
        f(i, a) = W_{\text{root}}\, x_i + W_{\text{vec}} \big[\iota(v_{i,1}, o_a), \dots\big]
            + \sum_{j \in \mathcal{N}(i)} k\big(\iota(r_{ij}, o_a) / c,\ \lVert r_{ij} \rVert\big)
              \odot W_{\text{nbr}}\, x_j

    Symmetry: the output is an invariant function of (node, orientation) pairs; for an orientation
    set closed under a finite group it is exactly permuted over anchors,
    :math:`f(g\cdot x)[:, a] = f(x)[:, \sigma_g(a)]` with :math:`o_{\sigma_g(a)} = g^\top o_a`.
    Translation invariant; equivariant to node permutations.

    Args:
        in_channels: width of the invariant node features ``x``.
        out_channels: channels ``C`` of the lifted features.
        vector_channels: number ``V`` of ``1o`` node vectors in ``vec``. Default ``0``.
        radial, radial_hidden, edge_chunk, **kwargs: as :class:`LiftingConv`.

    Shapes:
        - **input:** ``x [N, in_channels]``, ``pos [N, 3]``, ``edge_index [2, E]``, keyword ``anchors [A, 3]``
          (unit vectors), optional ``vec [N, V, 3]``, optional ``edge_vec [E, 3]``
        - **output:** ``[N, A, out_channels]``
    """

    num_point_invariants = 2
    anchor_space = "sphere"

    def point_invariants(self, vec: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`[o_a \cdot v, \lVert v_\perp \rVert]`: ``[..., 3], [A, 3] -> [..., A, 2]``."""
        return sphere_components(vec, anchors)
