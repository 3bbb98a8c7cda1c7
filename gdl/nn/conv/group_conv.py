"""Separable group convolution over SO(3) anchors (regular representation)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from ...groups.anchors import frame_components, relative_rotations
from .._checks import check_message_passing_kwargs
from ..geometry import edge_vectors, safe_norm
from ..radial import RadialEmbedding
from ._anchor_kernel import (
    EDGE_ANCHOR_CHUNK,
    InvariantMLP,
    SpatialKernel,
    check_anchor_input,
    check_radial,
    chunked_edge_sum,
    radial_cutoff,
    radial_parts,
)

__all__ = ["GroupConv"]


class GroupConv(MessagePassing):
    r"""Group convolution on features over SO(3) anchors, in separable form (LieConv, Finzi et al.
    2020, https://arxiv.org/abs/2002.12880; separable kernels in position–orientation space,
    Bekkers et al., ICLR 2024, https://arxiv.org/abs/2310.02970).

    Features ``x`` are functions on (node, anchor) pairs, :math:`f(j, b)` with anchors
    :math:`R_b \in SO(3)`. The full group convolution
    :math:`f'(i, a) = \sum_j \sum_b k(R_a^\top r_{ij}, R_a^\top R_b)\, f(j, b)` costs
    :math:`O(E A^2 C)`; this layer factorises the kernel into an anchor ("fiber") kernel on the
    relative rotation and a spatial kernel on the edge seen from the output anchor:

    .. math::
        g(j, a) &= \frac{1}{B} \sum_b \kappa(R_a^\top R_b) \odot f(j, b)
            \qquad\text{(per node: } O(N A B C)\text{)} \\
        m(i, a) &= \sum_{j \in \mathcal{N}(i)} k\big(R_a^\top r_{ij} / c,\ \lVert r_{ij} \rVert\big)
            \odot g(j, a) \qquad\text{(per edge: } O(E A C)\text{)} \\
        f'(i, a) &= W_{\text{root}}\, g(i, a) + W_{\text{nbr}}\, m(i, a) + b

    with :math:`r_{ij} = x_j - x_i` (or the given ``edge_vec``), :math:`\odot` per channel, and
    :math:`\kappa`, :math:`k` small MLPs (the spatial kernel is multiplied by a polynomial envelope
    that vanishes at the cutoff :math:`c`). Memory is linear in :math:`E \cdot A`. Input and output
    anchors may differ (``anchors_out``), e.g. per-layer anchor sets; by default they are the same.

    Symmetry: :math:`\kappa` and :math:`k` see only invariants of (anchor, anchor) and (edge, anchor)
    pairs, so rotating the input by :math:`g` while mapping every anchor :math:`R \mapsto g R`
    leaves the output unchanged. When the anchor set is closed under the rotation (a finite group
    such as the 24 octahedral or 60 icosahedral rotations) the output is exactly permuted over
    anchors, :math:`f'(g\cdot x)[:, a] = f'(x)[:, \sigma_g(a)]` with
    :math:`R_{\sigma_g(a)} = g^\top R_a` (:func:`gdl.groups.anchors.anchor_permutation`). Translation
    invariant; equivariant to node permutations.

    Subclasses change the kernels by overriding :meth:`fiber_kernel` (e.g. relaxed kernels that also
    depend on the absolute anchor) or :meth:`spatial_kernel`, and the invariants by overriding
    :meth:`point_invariants` / :meth:`anchor_invariants` (see :class:`SphereGroupConv`).

    Args:
        in_channels: channels ``C`` of ``x``.
        out_channels: channels of the output.
        radial: the radial part of the spatial kernel, a :class:`~gdl.nn.RadialEmbedding`; its basis
            enters the kernel MLP and its envelope multiplies the kernel, and its cutoff is the scale
            of the edge vectors. ``None``: 8 Bessel functions and a polynomial envelope (order 6) at
            5 Å.
        radial_hidden: hidden width of the kernel MLPs (spatial and fiber). Default ``32``.
        edge_chunk: with ``aggr="sum"``, the messages are summed over chunks of about this many
            (edge, anchor) pairs into one buffer, each chunk's kernel recomputed in the backward
            pass instead of stored (:func:`~gdl.nn.conv._anchor_kernel.chunked_edge_sum`): memory of
            one chunk instead of ``E * A * C`` per intermediate. ``None``: all edges at once,
            intermediates stored.
            Default ``65536``.
        **kwargs: ``MessagePassing`` arguments: ``aggr`` in :attr:`supported_aggr` (default
            ``"sum"``), ``flow="source_to_target"``.

    Shapes:
        - **input:** ``x [N, B, in_channels]`` (invariant per (node, anchor) pair), ``pos [N, 3]``,
          ``edge_index [2, E]``, ``anchors [B, 3, 3]`` (keyword), optional ``edge_vec [E, 3]``,
          optional ``anchors_out [A, 3, 3]``
        - **output:** ``[N, A, out_channels]`` (``A = B`` unless ``anchors_out`` is given)
    """

    #: the messages are summed, averaged or maxed over neighbours per (node, anchor) and channel
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum", "mean", "max")

    #: number of invariants of an (edge, anchor) pair and of an (anchor, anchor) pair
    num_point_invariants: int = 3
    num_anchor_invariants: int = 9
    #: what the anchors are: "so3" rotations [A, 3, 3] or "sphere" orientations [A, 3]
    anchor_space: str = "so3"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        radial: RadialEmbedding | None = None,
        radial_hidden: int = 32,
        edge_chunk: int | None = EDGE_ANCHOR_CHUNK,
        **kwargs,
    ):
        name = type(self).__name__
        super().__init__(node_dim=0, **check_message_passing_kwargs(name, kwargs, self.supported_aggr))
        if edge_chunk is not None and edge_chunk < 1:
            raise ValueError(f"{name}: edge_chunk must be >= 1 or None, got {edge_chunk}")
        self.edge_chunk = edge_chunk
        if min(in_channels, out_channels, radial_hidden) < 1:
            raise ValueError(
                f"{name}: in_channels, out_channels and radial_hidden must be >= 1, got "
                f"in={in_channels}, out={out_channels}, radial_hidden={radial_hidden}"
            )
        self.radial = check_radial(name, radial)
        self.in_channels, self.out_channels, self.radial_hidden = in_channels, out_channels, radial_hidden
        self.num_basis, self.cutoff = self.radial.num_basis, radial_cutoff(self.radial)
        self.spatial = SpatialKernel(self.num_point_invariants, self.num_basis, radial_hidden, in_channels)
        self.fiber = InvariantMLP(self.num_anchor_invariants, radial_hidden, in_channels)
        self.lin_root = nn.Linear(in_channels, out_channels)
        self.lin_nbr = nn.Linear(in_channels, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.spatial.reset_parameters()
        self.fiber.reset_parameters()
        self.lin_root.reset_parameters()
        self.lin_nbr.reset_parameters()

    # -- invariants and kernels (override points) ------------------------------------------------
    def point_invariants(self, vec: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`R_a^\top v`: ``[E, 3], [A, 3, 3] -> [E, A, 3]``."""
        return frame_components(vec, anchors)

    def anchor_invariants(self, anchors_out: torch.Tensor, anchors_in: torch.Tensor) -> torch.Tensor:
        r"""The entries of :math:`R_a^\top R_b`: ``[A, 3, 3], [B, 3, 3] -> [A, B, 9]``."""
        return relative_rotations(anchors_out, anchors_in).flatten(-2)

    def fiber_kernel(self, anchors_out: torch.Tensor, anchors_in: torch.Tensor) -> torch.Tensor:
        r""":math:`\kappa_{ab}` ``[A, B, in_channels]``, computed once per forward for all nodes."""
        return self.fiber(self.anchor_invariants(anchors_out, anchors_in))

    def spatial_kernel(self, edge_vec: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`k_{ea}` ``[E, A, in_channels]`` of every edge seen from every (output) anchor."""
        rho, u = radial_parts(self.radial, safe_norm(edge_vec))
        return self.spatial(self.point_invariants(edge_vec / self.cutoff, anchors), rho, u)

    # -- message passing -------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        anchors: torch.Tensor,
        edge_vec: torch.Tensor | None = None,
        anchors_out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r = edge_vectors(pos, edge_index, edge_vec)
        self._check_inputs(x, pos.shape[0], anchors, anchors_out)
        out_anchors = anchors if anchors_out is None else anchors_out
        kappa = self.fiber_kernel(out_anchors.to(x.dtype), anchors.to(x.dtype))  # [A, B, C]
        # anchor mixing, batched over channels: no [N, A, B, C] intermediate
        g = torch.einsum("abc,nbc->nac", kappa, x) / x.shape[1]  # [N, A, C]
        out_anchors = out_anchors.to(x.dtype)
        if self.edge_chunk is not None and self.aggr == "sum":
            m = chunked_edge_sum(
                lambda rc: self.spatial_kernel(rc, out_anchors),
                r.to(x.dtype),
                edge_index,
                g,
                g.shape[0],
                self.edge_chunk,
                kernel_inputs=(out_anchors, *self.parameters()),
            )
        else:
            k = self.spatial_kernel(r.to(x.dtype), out_anchors)  # [E, A, C]
            m = self.propagate(edge_index, g=g, k=k, size=(g.shape[0], g.shape[0]))  # [N, A, C]
        return self.lin_root(g) + self.lin_nbr(m)

    def message(self, g_j: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return k * g_j  # [E, A, C]

    def _check_inputs(
        self, x: torch.Tensor, num_nodes: int, anchors: torch.Tensor, anchors_out: torch.Tensor | None
    ) -> None:
        name = type(self).__name__
        if (
            not isinstance(x, torch.Tensor)
            or x.dim() != 3
            or x.shape[0] != num_nodes
            or x.shape[2] != self.in_channels
        ):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{name}: x must have shape [N={num_nodes}, A, in_channels={self.in_channels}], got {got}"
            )
        check_anchor_input(anchors, self.anchor_space, "anchors")
        if anchors.shape[0] != x.shape[1]:
            raise ValueError(
                f"{name}: x has {x.shape[1]} anchors (dim 1) but `anchors` has {anchors.shape[0]}"
            )
        if anchors_out is not None:
            check_anchor_input(anchors_out, self.anchor_space, "anchors_out")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, num_basis={self.num_basis}, "
            f"cutoff={self.cutoff}, radial_hidden={self.radial_hidden}, aggr={self.aggr!r}"
            + ("" if self.edge_chunk == EDGE_ANCHOR_CHUNK else f", edge_chunk={self.edge_chunk}")
            + ")"
        )
