"""Lifting convolution: from node features to features over SO(3) anchors."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from ...groups.anchors import frame_components
from .._checks import check_features, check_message_passing_kwargs
from ..geometry import edge_vectors, safe_norm
from ..radial import RadialEmbedding
from ._anchor_kernel import (
    EDGE_ANCHOR_CHUNK,
    SpatialKernel,
    check_anchor_input,
    check_radial,
    chunked_edge_sum,
    radial_cutoff,
    radial_parts,
)

__all__ = ["LiftingConv"]


class LiftingConv(MessagePassing):
    r"""Lifts invariant node features and optional node vectors to features over SO(3) anchors
    (LieConv, Finzi et al. 2020, https://arxiv.org/abs/2002.12880; Bekkers et al., ICLR 2024,
    https://arxiv.org/abs/2310.02970).

    Every (node, anchor) pair sees its neighbourhood and its vectors in the anchor's frame,
    :math:`R_a^\top r_{ij}` and :math:`R_a^\top v_i`:

    .. math::
        f(i, a) = W_{\text{root}}\, x_i
            + W_{\text{vec}} \big[R_a^\top v_{i,1}, \dots, R_a^\top v_{i,V}\big]
            + \sum_{j \in \mathcal{N}(i)} k\big(R_a^\top r_{ij} / c,\ \lVert r_{ij} \rVert\big)
              \odot W_{\text{nbr}}\, x_j

    with :math:`r_{ij} = x_j - x_i` (or the given ``edge_vec``), :math:`k` a small MLP on the edge
    invariants times a polynomial envelope vanishing at the cutoff :math:`c`, and :math:`\odot` per
    channel. Cost and memory are linear in :math:`E \cdot A`.

    Symmetry: ``x`` is invariant and ``vec`` holds ``1o`` vectors. The output is an invariant
    function of (node, anchor) pairs: rotating the input by :math:`g` is the same as mapping every
    anchor :math:`R \mapsto g^\top R`, so for an anchor set closed under :math:`g` (a finite group)
    the output is exactly permuted over anchors,
    :math:`f(g\cdot x)[:, a] = f(x)[:, \sigma_g(a)]` with :math:`R_{\sigma_g(a)} = g^\top R_a`.
    Translation invariant; equivariant to node permutations.

    Args:
        in_channels: width of the invariant node features ``x``.
        out_channels: channels ``C`` of the lifted features.
        vector_channels: number ``V`` of ``1o`` node vectors in ``vec``; ``0`` for none. Default ``0``.
        radial: the kernel's radial part, a :class:`~gdl.nn.RadialEmbedding` (basis into the kernel
            MLP, envelope on its output, cutoff = scale of the edge vectors). ``None``: 8 Bessel
            functions and a polynomial envelope (order 6) at 5 Å.
        radial_hidden: hidden width of the kernel MLP. Default ``32``.
        edge_chunk: (edge, anchor) pairs per chunk of the recomputed message sum, as in
            :class:`~gdl.nn.GroupConv`; ``None``: all at once. Default ``65536``.
        **kwargs: ``MessagePassing`` arguments: ``aggr`` in :attr:`supported_aggr` (default
            ``"sum"``), ``flow="source_to_target"``.

    Shapes:
        - **input:** ``x [N, in_channels]``, ``pos [N, 3]``, ``edge_index [2, E]``, keyword
          ``anchors [A, 3, 3]``, optional ``vec [N, V, 3]``, optional ``edge_vec [E, 3]``
        - **output:** ``[N, A, out_channels]``
    """

    #: the messages are summed, averaged or maxed over neighbours per (node, anchor) and channel
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum", "mean", "max")

    #: invariants of a (vector, anchor) pair, and what the anchors are
    num_point_invariants: int = 3
    anchor_space: str = "so3"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        vector_channels: int = 0,
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
        if min(in_channels, out_channels, radial_hidden) < 1 or vector_channels < 0:
            raise ValueError(
                f"{name}: invalid sizes in={in_channels}, out={out_channels}, "
                f"vector_channels={vector_channels}, radial_hidden={radial_hidden}"
            )
        self.radial = check_radial(name, radial)
        self.in_channels, self.out_channels, self.vector_channels = in_channels, out_channels, vector_channels
        self.num_basis, self.cutoff = self.radial.num_basis, radial_cutoff(self.radial)
        self.radial_hidden = radial_hidden
        self.spatial = SpatialKernel(self.num_point_invariants, self.num_basis, radial_hidden, out_channels)
        self.lin_root = nn.Linear(in_channels, out_channels)
        self.lin_nbr = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_vec = (
            nn.Linear(vector_channels * self.num_point_invariants, out_channels, bias=False)
            if vector_channels > 0
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.spatial.reset_parameters()
        self.lin_root.reset_parameters()
        self.lin_nbr.reset_parameters()
        if self.lin_vec is not None:
            self.lin_vec.reset_parameters()

    def point_invariants(self, vec: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`R_a^\top v`: ``[..., 3], [A, 3, 3] -> [..., A, 3]``."""
        return frame_components(vec, anchors)

    def spatial_kernel(self, edge_vec: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        r""":math:`k_{ea}` ``[E, A, out_channels]`` of every edge seen from every anchor."""
        rho, u = radial_parts(self.radial, safe_norm(edge_vec))
        return self.spatial(self.point_invariants(edge_vec / self.cutoff, anchors), rho, u)

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        anchors: torch.Tensor,
        vec: torch.Tensor | None = None,
        edge_vec: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r = edge_vectors(pos, edge_index, edge_vec)
        n = pos.shape[0]
        check_features(x, n, self.in_channels, "x")
        check_anchor_input(anchors, self.anchor_space, "anchors")
        anchors = anchors.to(x.dtype)
        r = r.to(x.dtype)
        h = self.lin_nbr(x)  # [N, C]
        if self.edge_chunk is not None and self.aggr == "sum":
            out = chunked_edge_sum(
                lambda rc: self.spatial_kernel(rc, anchors),
                r,
                edge_index,
                h.unsqueeze(1),
                n,
                self.edge_chunk,
                kernel_inputs=(anchors, *self.parameters()),
            )
        else:
            k = self.spatial_kernel(r, anchors)
            out = self.propagate(edge_index, h=h, k=k, size=(n, n))  # [N, A, C]
        out = out + self.lin_root(x).unsqueeze(1)
        if self.lin_vec is not None:
            if vec is None:
                raise ValueError(
                    f"{type(self).__name__} was built with vector_channels={self.vector_channels}: pass vec"
                )
            if vec.shape != (n, self.vector_channels, 3):
                raise ValueError(
                    f"vec must have shape [{n}, {self.vector_channels}, 3], got {tuple(vec.shape)}"
                )
            inv = self.point_invariants(vec.to(x.dtype), anchors)  # [N, V, A, k]
            out = out + self.lin_vec(inv.transpose(1, 2).flatten(2))  # [N, A, V * k] -> [N, A, C]
        elif vec is not None:
            raise ValueError(f"{type(self).__name__} was built with vector_channels=0 but got vec")
        return out

    def message(self, h_j: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return k * h_j.unsqueeze(1)  # [E, A, C]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"vector_channels={self.vector_channels}, num_basis={self.num_basis}, cutoff={self.cutoff}, "
            f"radial_hidden={self.radial_hidden}, aggr={self.aggr!r}"
            + ("" if self.edge_chunk == EDGE_ANCHOR_CHUNK else f", edge_chunk={self.edge_chunk}")
            + ")"
        )
