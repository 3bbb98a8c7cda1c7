r"""SE(3)-Transformer attention on e3nn irreps."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from e3nn import o3
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

from .._checks import check_message_passing_kwargs
from ..edge_tensor_product import (
    EdgeTensorProduct,
    block_labels,
    load_restricted_weights,
    make_edge_tensor_product,
    resolve_pair_radial,
)
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
        irreps_key: the irreps whose paths make the queries and keys (the logits). Default ``None``:
            those of ``irreps_out``. A last layer that emits only what a readout reads keeps the keys of
            the full layer (so its attention, and its output blocks, are the full layer's) and computes
            values only for ``irreps_out``.
        tp_backend: the tensor product implementation (:class:`~gdl.nn.conv.TFNConv`). Default
            ``"batched"``.
        **kwargs: ``MessagePassing`` arguments: ``aggr`` must be ``"sum"`` (the attention-weighted
            sum; :attr:`supported_aggr`) and ``flow`` ``"source_to_target"``.

    Shapes:
        - **input:** ``x [N, irreps_in.dim]``, ``pos [N, 3]``, ``edge_index [2, E]``, optional
          ``edge_vec [E, 3]``, ``edge_sh [E, irreps_sh.dim]``, ``edge_radial [E, num_basis]``
          (as :class:`TFNConv`).
        - **output:** ``[N, irreps_out.dim]``.

    ``x`` and the output are equivariant with the declared irreps; attention weights are invariant;
    the output is invariant to translations and equivariant to node permutations.
    """

    #: the values are summed with softmax weights (the softmax already normalises over neighbours)
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum",)

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        irreps_sh: int | str | o3.Irreps = 2,
        num_heads: int = 4,
        radial: nn.Module | None = None,
        radial_hidden: int = 64,
        irreps_key: str | o3.Irreps | None = None,
        tp_backend: str = "batched",
        **kwargs,
    ):
        mp = check_message_passing_kwargs(type(self).__name__, kwargs, self.supported_aggr)
        super().__init__(node_dim=0, **mp)
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

        # keys and values: the same paths (sharing the outer products), filtered to what irreps_key
        # (or a logit) and irreps_out use
        self.irreps_key = self.irreps_out if irreps_key is None else as_irreps(irreps_key, "irreps_key")
        wanted_k = {ir for _, ir in self.irreps_key} | {o3.Irrep("0e")}
        wanted_v = {ir for _, ir in self.irreps_out} | {o3.Irrep("0e")}
        self.tensor_product: EdgeTensorProduct = make_edge_tensor_product(
            self.irreps_in, self.irreps_sh, [wanted_k, wanted_v], backend=tp_backend
        )
        #: irreps of the keys (and queries) and of the values
        self.irreps_mid, self.irreps_value = self.tensor_product.irreps_mids
        have = {ir for mul, ir in self.irreps_value + self.irreps_in if mul > 0}
        missing = sorted({str(ir) for mul, ir in self.irreps_out if mul > 0 and ir not in have})
        if missing:
            raise ValueError(
                f"irreps_out={self.irreps_out} contains {missing}, which neither a path of "
                f"irreps_in={self.irreps_in} x irreps_sh={self.irreps_sh} nor the skip connection produces"
            )
        self.radial_mlp = RadialMLP(self.edge_embedding.num_basis, self.tp.weight_numel, radial_hidden)
        self.query = o3.Linear(self.irreps_in, self.irreps_mid)
        self.linear = o3.Linear(self.irreps_value, self.irreps_out)
        self.self_interaction = o3.Linear(self.irreps_in, self.irreps_out)
        self.norm = EquivariantNorm(self.irreps_out)

        # heads[c, h] = 1 if component c of the keys (value_heads: of the values) belongs to head h
        self.register_buffer("heads", _heads(self.irreps_mid, num_heads), persistent=False)
        self.register_buffer("value_heads", _heads(self.irreps_value, num_heads), persistent=False)
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
        *,
        edge_vec: torch.Tensor | None = None,
        edge_sh: torch.Tensor | None = None,
        edge_radial: torch.Tensor | None = None,
        pair_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        edge_sh, edge_radial = resolve_pair_radial(
            self.edge_embedding, pos, edge_index, edge_vec, edge_sh, edge_radial, pair_index
        )
        check_irreps_features(x, pos.shape[0], self._in_dim, self._in_str, type(self).__name__)
        weight = self.radial_mlp(edge_radial)  # [E, tp.weight_numel]: key and value paths
        if pair_index is not None:  # the radial weights of a node pair serve both its edges
            weight = weight.index_select(0, pair_index)
        q = self.query(x)  # [N, irreps_mid.dim]
        m = self.propagate(edge_index, x=x, q=q, edge_sh=edge_sh, weight=weight)  # [N, irreps_value.dim]
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
        kv = self.tensor_product.edges(x_j, edge_sh, weight)  # [E, irreps_mid.dim + irreps_value.dim]
        k, v = kv[:, : self._mid_dim], kv[:, self._mid_dim :]
        alpha = softmax(self.attention_logits(q_i, k), index, ptr, size_i)  # [E, H]
        return v * (alpha @ self.value_heads.t())  # each component weighted by its head's alpha

    @property
    def radial(self) -> nn.Module:
        """The injected radial embedding of edge lengths (held by ``edge_embedding``)."""
        return self.edge_embedding.radial

    @property
    def tp(self) -> o3.TensorProduct:
        """The e3nn tensor product of keys and values (``tensor_product.tp``)."""
        return self.tensor_product.tp

    def load_restricted(self, full: SE3AttentionConv) -> SE3AttentionConv:
        """Copy the weights of ``full``, a block with the same inputs and keys whose ``irreps_out``
        contains this block's, so that this block computes exactly ``full``'s output blocks that it
        emits (see :class:`~gdl.nn.conv.TFNConv.load_restricted`). Returns ``self``."""
        if full.irreps_mid != self.irreps_mid:
            raise ValueError("load_restricted needs a block with the same keys")
        if self.num_heads != full.num_heads:
            raise ValueError("load_restricted needs a block with the same number of heads")

        def key(conv: SE3AttentionConv):
            n_keys = len(conv.irreps_mid)

            def of(ins):
                is_value = ins.i_out >= n_keys
                block = (conv.irreps_value if is_value else conv.irreps_mid)[ins.i_out - n_keys * is_value]
                return ins.i_in1, ins.i_in2, is_value, tuple(block)

            return of

        out_src, out_dst = block_labels(full.irreps_out), block_labels(self.irreps_out)
        load_restricted_weights(
            self,
            full,
            (key(self), key(full)),
            (block_labels(full.irreps_value), block_labels(self.irreps_value)),
            (out_src, out_dst),
        )
        with torch.no_grad():
            self.query.weight.copy_(full.query.weight)
            where = {lab: c for c, lab in enumerate(lab for labs in out_src for lab in labs)}
            index = torch.tensor([where[lab] for labs in out_dst for lab in labs], dtype=torch.long)
            self.norm.weight.copy_(full.norm.weight[index])
            self.norm.bias.copy_(full.norm.bias[index])
        return self

    def attention_logits(self, q_i: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        r"""Invariant logits :math:`\langle q^h_i, k^h_{ij} \rangle / \sqrt{d_h}`:
        ``[E, d], [E, d] -> [E, H]``. Override to change how attention is computed."""
        return ((q_i * k) @ self.heads) * self._logit_scale

    def __repr__(self) -> str:
        key = "" if self.irreps_key == self.irreps_out else f", irreps_key={self.irreps_key}"
        return (
            f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out}, irreps_sh={self.irreps_sh}, "
            f"num_heads={self.num_heads}, paths={len(self.tp.instructions)}, "
            f"weights_per_edge={self.tp.weight_numel}{key})"
        )


def _heads(irreps: o3.Irreps, num_heads: int) -> torch.Tensor:
    """``[irreps.dim, num_heads]``: 1 where a component belongs to a head (head ``h`` owns channels
    ``[h mul / H, (h + 1) mul / H)`` of every block)."""
    heads = torch.zeros(irreps.dim, num_heads)
    start = 0
    for mul, ir in irreps:
        per_head = mul // num_heads
        for u in range(mul):
            heads[start + u * ir.dim : start + (u + 1) * ir.dim, u // per_head] = 1.0
        start += mul * ir.dim
    return heads
