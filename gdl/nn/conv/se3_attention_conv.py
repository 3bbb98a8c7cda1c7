r"""SE(3)-Transformer attention on e3nn irreps."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

from ..edge_tensor_product import edge_tensor_product
from ..equivariant_norm import EquivariantNorm
from ..irreps import as_irreps, check_irreps_features
from ..radial_mlp import RadialMLP
from ..spherical_edge_embedding import SphericalEdgeEmbedding

__all__ = ["SE3AttentionConv"]


class SE3AttentionConv(MessagePassing):
    r"""The equivariant graph attention of the SE(3)-Transformer
    (`Fuchs, Worrall, Fischer & Welling 2020 <https://arxiv.org/abs/2006.10503>`_): queries from the
    target node, keys and values from tensor-field (TFN) products of the source node with the edge,
    invariant attention logits, multi-head softmax over each node's incoming edges, and a skip
    connection followed by an equivariant norm:

    .. math::
        q_i &= W_Q\, x_i, \qquad
        k_{ij} = x_j \otimes_{w_K(\lVert r_{ij} \rVert)} Y(r_{ij}), \qquad
        v_{ij} = x_j \otimes_{w_V(\lVert r_{ij} \rVert)} Y(r_{ij}) \\
        \alpha^h_{ij} &= \operatorname*{softmax}_{j \in \mathcal{N}(i)}
            \frac{\langle q^h_i, k^h_{ij} \rangle}{\sqrt{d_h}} \\
        x'_i &= \mathrm{Norm}\Bigl(W_O \sum_{j \in \mathcal{N}(i)} \alpha^{h(\cdot)}_{ij}\, v_{ij}
            + W_S\, x_i\Bigr)

    with :math:`r_{ij} = p_j - p_i`, :math:`Y` the spherical harmonics, :math:`w_K, w_V` the per-path
    weights of channel-wise ("uvu") tensor products produced by one radial MLP, :math:`W_Q, W_O, W_S`
    equivariant linear maps (``e3nn.o3.Linear``), and ``Norm`` the layer norm + norm nonlinearity
    :class:`gdl.nn.EquivariantNorm`. Head :math:`h` owns the channels
    :math:`[h\,c/H, (h+1)\,c/H)` of every irrep block of queries, keys and values; the logit
    :math:`\langle q^h_i, k^h_{ij} \rangle` sums over all those irreps (an invariant, since queries and
    keys share irreps) and :math:`d_h` is the number of components a head owns.

    Keys and values come out of one channel-wise tensor product (the outer products of :math:`x_j`
    and :math:`Y(r_{ij})` are formed once; paths landing on the same irrep are summed per channel,
    :func:`~gdl.nn.edge_tensor_product.edge_tensor_product`); channels are mixed by :math:`W_Q` on
    nodes and by :math:`W_O` after aggregation, never per edge, so no per-edge kernel matrix is built
    (the original builds one per pair of degrees, which is what makes it slow and memory-hungry).
    Per-edge memory is the radial weights ``[E, weight_numel]`` plus keys and values
    ``[E, 2 irreps_mid.dim]``, linear in the channels.

    Args:
        irreps_in: irreps of the input features; every multiplicity must be divisible by ``num_heads``.
        irreps_out: irreps of the output features.
        irreps_sh: spherical harmonics: an integer ``l_max`` (O(3)) or explicit irreps
            (``"0e+1e+2e"``: SO(3) only, :mod:`gdl.nn.irreps`). Default ``2``.
        num_heads: number of attention heads :math:`H`. Default ``4``.
        radial: radial embedding of edge lengths. Default ``None``: 8 Bessel functions times a
            polynomial envelope, cutoff 5.0.
        radial_hidden: width of the radial MLP. Default ``64``.

    Shapes:
        - **input:** ``x [N, irreps_in.dim]``, ``pos [N, 3]``, ``edge_index [2, E]``, optional
          ``edge_vec [E, 3]``, ``edge_sh [E, irreps_sh.dim]``, ``edge_radial [E, num_basis]``
          (as :class:`TFNConv`).
        - **output:** ``[N, irreps_out.dim]``.

    ``x`` and the output are equivariant with the declared irreps; attention weights are invariant;
    the output is invariant to translations and equivariant to node permutations.
    """

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        irreps_sh: int | str | o3.Irreps = 2,
        num_heads: int = 4,
        radial: nn.Module | None = None,
        radial_hidden: int = 64,
    ):
        super().__init__(aggr="add", node_dim=0)
        self.irreps_in = as_irreps(irreps_in, "irreps_in")
        self.irreps_out = as_irreps(irreps_out, "irreps_out")
        if self.irreps_in.dim == 0 or self.irreps_out.dim == 0:
            raise ValueError(
                f"SE3AttentionConv needs non-empty irreps, got irreps_in={self.irreps_in}, "
                f"irreps_out={self.irreps_out}"
            )
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        bad = [f"{mul}x{ir}" for mul, ir in self.irreps_in if mul % num_heads]
        if bad:
            raise ValueError(
                f"every multiplicity of irreps_in={self.irreps_in} must be divisible by "
                f"num_heads={num_heads}; "
                f"{bad} are not"
            )
        self.num_heads = num_heads
        self.edge_embedding = SphericalEdgeEmbedding(irreps_sh, radial)
        self.irreps_sh = self.edge_embedding.irreps_sh

        # keys and values: two copies of the same paths, filtered to what irreps_out (or a logit) uses
        wanted = {ir for _, ir in self.irreps_out} | {o3.Irrep("0e")}
        self.tp, self.irreps_mid = edge_tensor_product(self.irreps_in, self.irreps_sh, wanted, copies=2)
        have = {ir for mul, ir in self.irreps_mid + self.irreps_in if mul > 0}
        missing = sorted({str(ir) for mul, ir in self.irreps_out if mul > 0 and ir not in have})
        if missing:
            raise ValueError(
                f"irreps_out={self.irreps_out} contains {missing}, which neither a path of "
                f"irreps_in={self.irreps_in} x irreps_sh={self.irreps_sh} nor the skip connection produces"
            )
        self.radial_mlp = RadialMLP(self.edge_embedding.num_basis, self.tp.weight_numel, radial_hidden)
        self.query = o3.Linear(self.irreps_in, self.irreps_mid)
        self.linear = o3.Linear(self.irreps_mid, self.irreps_out)
        self.self_interaction = o3.Linear(self.irreps_in, self.irreps_out)
        self.norm = EquivariantNorm(self.irreps_out)

        # heads[c, h] = 1 if component c of irreps_mid belongs to head h
        heads = torch.zeros(self.irreps_mid.dim, num_heads)
        start = 0
        for mul, ir in self.irreps_mid:
            per_head = mul // num_heads
            for u in range(mul):
                heads[start + u * ir.dim : start + (u + 1) * ir.dim, u // per_head] = 1.0
            start += mul * ir.dim
        self.register_buffer("heads", heads, persistent=False)
        # plain Python for forward (torch.compile cannot guard on e3nn objects)
        self._mid_dim = self.irreps_mid.dim
        self._in_dim, self._in_str = self.irreps_in.dim, str(self.irreps_in)
        self._logit_scale = 1.0 / math.sqrt(self.irreps_mid.dim / num_heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.radial_mlp.reset_parameters()
        self.norm.reset_parameters()
        with torch.no_grad():
            for lin in (self.query, self.linear, self.self_interaction):
                lin.weight.normal_()

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor | None = None,
        edge_sh: torch.Tensor | None = None,
        edge_radial: torch.Tensor | None = None,
    ) -> torch.Tensor:
        edge_sh, edge_radial = self.edge_embedding.resolve(pos, edge_index, edge_vec, edge_sh, edge_radial)
        check_irreps_features(x, pos.shape[0], self._in_dim, self._in_str, type(self).__name__)
        weight = self.radial_mlp(edge_radial)  # [E, tp.weight_numel]: key and value paths
        q = self.query(x)  # [N, irreps_mid.dim]
        m = self.propagate(edge_index, x=x, q=q, edge_sh=edge_sh, weight=weight)  # [N, irreps_mid.dim]
        return self.norm(self.linear(m) + self.self_interaction(x))

    def message(
        self,
        x_j: torch.Tensor,
        q_i: torch.Tensor,
        edge_sh: torch.Tensor,
        weight: torch.Tensor,
        index: torch.Tensor,
        ptr: torch.Tensor | None,
        size_i: int | None,
    ) -> torch.Tensor:
        kv = self.tp(x_j, edge_sh, weight)  # [E, 2 * irreps_mid.dim]
        k, v = kv[:, : self._mid_dim], kv[:, self._mid_dim :]
        alpha = softmax(self.attention_logits(q_i, k), index, ptr, size_i)  # [E, H]
        return v * (alpha @ self.heads.t())  # each component weighted by its head's alpha

    def attention_logits(self, q_i: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        r"""Invariant logits :math:`\langle q^h_i, k^h_{ij} \rangle / \sqrt{d_h}`:
        ``[E, d], [E, d] -> [E, H]``. Override to change how attention is computed."""
        return ((q_i * k) @ self.heads) * self._logit_scale

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out}, irreps_sh={self.irreps_sh}, "
            f"num_heads={self.num_heads}, paths={len(self.tp.instructions) // 2}, "
            f"weights_per_edge={self.tp.weight_numel})"
        )
