r"""Tensor-field convolution (TFN / NequIP interaction) on e3nn irreps."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from e3nn import o3
from torch import nn
from torch_geometric.nn import MessagePassing

from .._checks import check_message_passing_kwargs
from ..edge_tensor_product import (
    EdgeTensorProduct,
    block_labels,
    load_restricted_weights,
    make_edge_tensor_product,
    resolve_pair_radial,
)
from ..irreps import as_irreps, check_irreps_features, gate_for, gate_labels
from ..radial_mlp import RadialMLP
from ..spherical_edge_embedding import SphericalEdgeEmbedding

__all__ = ["TFNConv"]


class TFNConv(MessagePassing):
    r"""The tensor-field convolution of `Thomas et al. 2018 <https://arxiv.org/abs/1802.08219>`_ in
    the form NequIP uses (`Batzner et al. 2022 <https://arxiv.org/abs/2101.03164>`_): messages are
    Clebsch–Gordan tensor products of source features with spherical harmonics of the edge vector,
    weighted per path by a radial MLP, summed, mixed by a linear map, added to a self-interaction and
    passed through a gated nonlinearity:

    .. math::
        m_i &= \frac{1}{\sqrt{\bar n}} \sum_{j \in \mathcal{N}(i)}
               x_j \otimes_{w(\lVert r_{ij} \rVert)} Y(r_{ij}), \qquad
               w(r) = \mathrm{MLP}\bigl(R(r)\bigr) \\
        x'_i &= \mathrm{Gate}\bigl(W_m\, m_i + W_s\, x_i\bigr)

    with :math:`r_{ij} = p_j - p_i` for the edge :math:`j \to i`, :math:`Y` the spherical harmonics up
    to :math:`L`, :math:`R` a radial basis with a smooth cutoff, :math:`\bar n` the average number of
    neighbours, :math:`W_m, W_s` equivariant linear maps (``e3nn.o3.Linear``) and ``Gate`` e3nn's gated
    nonlinearity (SiLU on even scalars, tanh on odd scalars, sigmoid gates on :math:`l > 0`).

    The tensor product is channel-wise ("uvu"): every input channel meets every harmonic, each
    allowed path :math:`l_1 \otimes l_2 \to l_3` has its own radial weight per channel and edge, and
    paths landing on the same irrep are summed, as in TFN
    (:func:`~gdl.nn.edge_tensor_product.edge_tensor_product`). Only the paths whose output irrep
    ``irreps_out`` contains (or its gates need) are computed, so a last layer that emits only what a
    readout reads (``0e`` for an energy) is much cheaper. The tensor product and the sum over edges
    are one swappable unit (:class:`~gdl.nn.edge_tensor_product.EdgeTensorProduct`, ``tp_backend``).
    Channels are mixed by :math:`W_m` after aggregation, on nodes rather than edges, so no per-edge
    kernel matrix is built. Memory is dominated by per-edge tensors: the radial weights
    ``[E, weight_numel]`` (``weight_numel`` = channels x paths, shown in ``repr``) and the messages
    ``[E, irreps_mid.dim]``; both grow linearly with the channels, and the number of paths grows
    quickly with ``l_max`` and doubles with both parities.

    Args:
        irreps_in: irreps of the input features (``"16x0e+8x1o"``).
        irreps_out: irreps of the output features, in any order.
        irreps_sh: spherical harmonics: an integer ``l_max`` (O(3): ``0e+1o+2e+...``) or explicit
            irreps; ``"0e+1e+2e"`` makes the layer SO(3)-equivariant only (:mod:`gdl.nn.irreps`).
            Default ``2``.
        radial: radial embedding of edge lengths (e.g. :class:`gdl.nn.RadialEmbedding`). Default
            ``None``: 8 Bessel functions times a polynomial envelope, cutoff 5.0.
        radial_hidden: width of the radial MLP. Default ``64``.
        avg_num_neighbors: :math:`\bar n`, the normalisation of the sum. Default ``1.0`` (none).
        tp_backend: the tensor product + scatter implementation: ``"batched"`` (batched matrix
            products, :class:`~gdl.nn.edge_tensor_product.BatchedEdgeTensorProduct`), ``"e3nn"``
            (e3nn's generated code; the same function) or a backend registered with
            :func:`gdl.nn.edge_tensor_product.register_backend` (a fused kernel requested where its
            package or CUDA is missing raises). Default ``"batched"``.
        **kwargs: ``MessagePassing`` arguments: ``aggr`` must be ``"sum"`` (the only aggregation
            of the TFN sum; :attr:`supported_aggr`) and ``flow`` ``"source_to_target"``.

    Shapes:
        - **input:** ``x [N, irreps_in.dim]``, ``pos [N, 3]``, ``edge_index [2, E]``, optional
          ``edge_vec [E, 3]`` (used instead of ``pos[j] - pos[i]``, e.g. minimum-image vectors),
          optional precomputed ``edge_sh [E, irreps_sh.dim]`` and ``edge_radial [E, num_basis]``
          (:class:`gdl.nn.SphericalEdgeEmbedding`; models compute them once for all layers), and
          optional ``pair_index [E]``: ``edge_radial`` then holds one row per node pair
          (:func:`gdl.nn.radial.node_pairs`), and the radial MLP runs once per pair.
        - **output:** ``[N, irreps_out.dim]``.

    ``x`` and the output are equivariant with the declared irreps (O(3) or, with even-labelled
    ``irreps_sh``, SO(3)); ``pos`` is translated and rotated, ``edge_vec`` rotated; the output is
    invariant to translations and equivariant to node permutations.
    """

    #: the messages are summed (normalised by ``avg_num_neighbors``): TFN's convolution is a sum
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum",)

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        irreps_sh: int | str | o3.Irreps = 2,
        radial: nn.Module | None = None,
        radial_hidden: int = 64,
        avg_num_neighbors: float = 1.0,
        tp_backend: str = "batched",
        **kwargs,
    ):
        super().__init__(
            node_dim=0, **check_message_passing_kwargs(type(self).__name__, kwargs, self.supported_aggr)
        )
        self.irreps_in = as_irreps(irreps_in, "irreps_in")
        self.irreps_out = as_irreps(irreps_out, "irreps_out")
        if self.irreps_in.dim == 0 or self.irreps_out.dim == 0:
            raise ValueError(
                f"TFNConv needs non-empty irreps, got irreps_in={self.irreps_in}, "
                f"irreps_out={self.irreps_out}"
            )
        if avg_num_neighbors <= 0:
            raise ValueError(f"avg_num_neighbors must be > 0, got {avg_num_neighbors}")
        self.edge_embedding = SphericalEdgeEmbedding(irreps_sh, radial)
        self.irreps_sh = self.edge_embedding.irreps_sh
        self.avg_num_neighbors = float(avg_num_neighbors)

        self.gate, out_index = gate_for(self.irreps_out)
        self.register_buffer("_out_index", out_index, persistent=False)
        irreps_pre = self.gate.irreps_in
        self.tensor_product: EdgeTensorProduct = make_edge_tensor_product(
            self.irreps_in, self.irreps_sh, {ir for _, ir in irreps_pre}, backend=tp_backend
        )
        self.irreps_mid = self.tensor_product.irreps_mids[0]
        _check_reachable(self.irreps_out, self.irreps_mid, self.irreps_in, self.irreps_sh)
        self.radial_mlp = RadialMLP(self.edge_embedding.num_basis, self.tp.weight_numel, radial_hidden)
        self.linear = o3.Linear(self.irreps_mid, irreps_pre)
        self.self_interaction = o3.Linear(self.irreps_in, irreps_pre)

        # plain Python for forward (torch.compile cannot guard on e3nn objects)
        self._in_dim, self._in_str = self.irreps_in.dim, str(self.irreps_in)
        self._scale = 1.0 / math.sqrt(self.avg_num_neighbors)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.radial_mlp.reset_parameters()
        with torch.no_grad():
            self.linear.weight.normal_()
            self.self_interaction.weight.normal_()

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
        weight = self.radial_mlp(edge_radial)  # [E, tp.weight_numel]
        if pair_index is not None:  # the radial weights of a node pair serve both its edges
            weight = weight.index_select(0, pair_index)
        m = self.tensor_product(x, edge_sh, weight, edge_index)  # [N, irreps_mid.dim]
        out = self.gate(self.linear(m * self._scale) + self.self_interaction(x))
        if self._out_index is not None:  # the gate emits scalars first; restore irreps_out's order
            out = out.index_select(-1, self._out_index)
        return out

    @property
    def radial(self) -> nn.Module:
        """The injected radial embedding of edge lengths (held by ``edge_embedding``)."""
        return self.edge_embedding.radial

    @property
    def tp(self) -> o3.TensorProduct:
        """The e3nn tensor product of the messages (``tensor_product.tp``)."""
        return self.tensor_product.tp

    def message(self, x_j: torch.Tensor, edge_sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.tensor_product.edges(x_j, edge_sh, weight)

    def load_restricted(self, full: TFNConv) -> TFNConv:
        """Copy the weights of ``full``, a layer with the same inputs whose ``irreps_out`` contains
        this layer's, so that this layer computes exactly ``full``'s output blocks that it emits
        (how a readout-aware last layer is checked against the full one). Returns ``self``."""

        def key(conv):
            return lambda ins: (ins.i_in1, ins.i_in2, tuple(conv.irreps_mid[ins.i_out]))

        load_restricted_weights(
            self,
            full,
            (key(self), key(full)),
            (block_labels(full.irreps_mid), block_labels(self.irreps_mid)),
            (gate_labels(full.gate), gate_labels(self.gate)),
        )
        return self

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out}, irreps_sh={self.irreps_sh}, "
            f"paths={len(self.tp.instructions)}, weights_per_edge={self.tp.weight_numel}, "
            f"avg_num_neighbors={self.avg_num_neighbors})"
        )


def _check_reachable(
    irreps_out: o3.Irreps, irreps_mid: o3.Irreps, irreps_in: o3.Irreps, irreps_sh: o3.Irreps
) -> None:
    have = {ir for mul, ir in irreps_mid + irreps_in if mul > 0}
    missing = sorted({str(ir) for mul, ir in irreps_out if mul > 0 and ir not in have})
    if missing:
        raise ValueError(
            f"irreps_out={irreps_out} contains {missing}, which neither a path of irreps_in={irreps_in} x "
            f"irreps_sh={irreps_sh} nor the self-interaction produces"
        )
