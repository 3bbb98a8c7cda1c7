"""Lifting convolution: from node features to features over SO(3) anchors."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from ...groups.anchors import check_anchors, frame_components
from .._checks import check_features
from ..geometry import edge_vectors, safe_norm
from ._anchor_kernel import EDGE_ANCHOR_CHUNK, SpatialKernel, chunked_edge_sum

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
        num_basis: size of the Bessel radial basis. Default ``8``.
        cutoff: radius where the kernel vanishes (and scale of the edge vectors). Default ``5.0``.
        kernel_channels: hidden width of the kernel MLP. Default ``32``.
        aggr: aggregation over neighbours. Default ``"sum"``.
        edge_chunk: (edge, anchor) pairs per chunk of the recomputed message sum, as in
            :class:`~gdl.nn.GroupConv`; ``None``: all at once. Default ``65536``.

    Shapes:
        - **input:** ``x [N, in_channels]``, ``pos [N, 3]``, ``edge_index [2, E]``, ``anchors [A, 3, 3]``,
          optional ``vec [N, V, 3]``, optional ``edge_vec [E, 3]``
        - **output:** ``[N, A, out_channels]``
    """

    #: invariants of a (vector, anchor) pair, and what the anchors are
    num_point_invariants: int = 3
    anchor_space: str = "so3"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        vector_channels: int = 0,
        num_basis: int = 8,
        cutoff: float = 5.0,
        kernel_channels: int = 32,
        aggr: str = "sum",
        edge_chunk: int | None = EDGE_ANCHOR_CHUNK,
    ):
        super().__init__(aggr=aggr, node_dim=0)
        if edge_chunk is not None and edge_chunk < 1:
            raise ValueError(f"{type(self).__name__}: edge_chunk must be >= 1 or None, got {edge_chunk}")
        self.edge_chunk = edge_chunk
        if (
            min(in_channels, out_channels, num_basis, kernel_channels) < 1
            or vector_channels < 0
            or cutoff <= 0
        ):
            raise ValueError(
                f"{type(self).__name__}: invalid sizes in={in_channels}, out={out_channels}, "
                f"vector_channels={vector_channels}, num_basis={num_basis}, kernel={kernel_channels}, "
                f"cutoff={cutoff}"
            )
        self.in_channels, self.out_channels, self.vector_channels = in_channels, out_channels, vector_channels
        self.num_basis, self.cutoff, self.kernel_channels = num_basis, float(cutoff), kernel_channels
        self.spatial = SpatialKernel(
            self.num_point_invariants, num_basis, kernel_channels, out_channels, cutoff
        )
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

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        anchors: torch.Tensor,
        vec: torch.Tensor | None = None,
        edge_vec: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r = edge_vectors(pos, edge_index, edge_vec)
        n = pos.shape[0]
        check_features(x, n, self.in_channels, "x")
        if not torch.compiler.is_compiling():
            check_anchors(anchors, self.anchor_space, "anchors", proper=False)
        anchors = anchors.to(x.dtype)
        r = r.to(x.dtype)
        h = self.lin_nbr(x)  # [N, C]
        if self.edge_chunk is not None and self.aggr in ("sum", "add"):
            out = chunked_edge_sum(
                lambda rc: self.spatial(self.point_invariants(rc / self.cutoff, anchors), safe_norm(rc)),
                r,
                edge_index,
                h.unsqueeze(1),
                n,
                self.edge_chunk,
            )
        else:
            k = self.spatial(self.point_invariants(r / self.cutoff, anchors), safe_norm(r))
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
            f"kernel_channels={self.kernel_channels}, aggr={self.aggr!r}"
            + ("" if self.edge_chunk == EDGE_ANCHOR_CHUNK else f", edge_chunk={self.edge_chunk}")
            + ")"
        )
