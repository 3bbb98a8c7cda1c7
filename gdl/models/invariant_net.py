r"""InvariantNet: a distance-only backbone (:class:`~gdl.nn.InvariantConv`) with an injected readout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..keys import TargetLike
from ..nn.conv.invariant_conv import InvariantConv
from ..nn.radial import CosineCutoff, GaussianBasis, RadialEmbedding, node_pairs, symmetric_pair_nodes
from ..nn.scalar_readout import ReadoutFactory, ScalarizationReadout
from .inputs import NodeInputs
from .scalar_base import ScalarModelBase

__all__ = ["InvariantNet"]


class InvariantNet(ScalarModelBase):
    r"""The ``invariant`` strategy (README.md): a SchNet-style backbone that sees the geometry only
    through distances, followed by an equivariant (scalarization) readout for ``1o``/``2e`` targets.

    .. math::
        h^0_i = \mathrm{Emb}(z_i, x_i) + W \big(\lVert v_{i1}\rVert^2, \dots\big), \quad
        h^{l+1} = \mathrm{InvariantConv}_l(h^l, \{d_{ij}\}), \quad
        y = \mathrm{Readout}\big(h^L, r_{ij}, v\big)

    The layers share one radial embedding (``num_basis`` Gaussians on ``[0, cutoff]`` with a cosine
    cutoff), computed once per forward pass (:meth:`~gdl.nn.InvariantConv.edge_features`) and handed
    to every layer. The Gaussians' tails are exact zeros below the smallest normal float
    (:class:`~gdl.nn.GaussianBasis`), so no subnormal numbers slow the products down.
    Vector inputs :math:`v` enter the backbone only through their squared norms (invariant)
    and are given to the readout as equivariant node vectors. What can be predicted is decided by
    the injected ``readout``: :class:`~gdl.nn.ScalarizationReadout` (default) gives ``0e``, ``1o``,
    ``2e``; :class:`~gdl.nn.InvariantReadout` gives ``0e`` only, and the model then refuses ``1o``/``2e``
    targets at construction with an error naming the target.

    Units: coordinates are read in units of ``inputs.length_scale`` (:class:`~gdl.models.NodeInputs`):
    the backbone is unchanged by it (its filters are functions of :math:`d_{ij}/\text{cutoff}`), but
    the readout's ``1o``/``2e`` outputs are linear/quadratic in :math:`r_{ij}`, so with coordinates far
    from O(1) (galaxies in Mpc/h) they start orders of magnitude off the standardised targets.

    Equivariance: ``h`` is invariant; outputs are :math:`E(3)`- and permutation-equivariant by type.

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`).
        hidden_channels: width of node features and filters. Default ``128``.
        num_layers: number of :class:`~gdl.nn.InvariantConv` layers. Default ``4``.
        inputs: the node inputs, a :class:`~gdl.models.NodeInputs` or a mapping with its keys
            (``num_types``, ``in_channels``, ``vector_inputs``; the config's ``inputs:`` block);
            ``None``: ``NodeInputs()`` (10 atom types, no features, no vectors). Default ``None``.
        cutoff: radius of the radial basis and cosine cutoff (layers and readout). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        readout: readout class or factory. Default :class:`~gdl.nn.ScalarizationReadout`.
        num_basis: number of Gaussians of the radial basis. Default ``50`` (SchNet).

    Shapes:
        ``Batch`` -> ``{name: [B or N, irreps.dim]}`` as :class:`~gdl.models.EGNN`.
    """

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 128,
        num_layers: int = 4,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        readout: ReadoutFactory = ScalarizationReadout,
        num_basis: int = 50,
    ):
        super().__init__(targets, hidden_channels, num_layers, inputs, cutoff, reduce)
        v = len(self.vector_inputs)
        self.num_basis = int(num_basis)
        c = self.unit_cutoff  # the cutoff in units of inputs.length_scale, as the edge vectors
        radial = RadialEmbedding(GaussianBasis(self.num_basis, c), CosineCutoff(c))
        self.convs = nn.ModuleList(
            [InvariantConv(self.hidden_channels, radial=radial) for _ in range(self.num_layers)]
        )
        self.vector_norms = nn.Linear(v, self.hidden_channels, bias=False) if v else None
        self.readout = self.build_readout(readout, vector_channels=v)

    def validate(self, data: Any) -> None:
        self._validate_and_pair(data)

    @torch.compiler.disable
    def _validate_and_pair(self, data: Any):
        """The boundary of the forward pass: the batch checks of :meth:`GDLModel.validate` and the
        analysis of the graph into node pairs (:func:`~gdl.nn.radial.node_pairs`,
        :func:`~gdl.nn.radial.symmetric_pair_nodes`), whose sizes depend on the data (``unique``
        and three ``bool`` tests: host synchronisations, made here once per forward and never in
        the layers). Returns ``(first, pair_index, pair_nodes)``, ``None`` where not applicable.

        Under ``torch.compile`` (``module.compile``) this method runs eagerly, outside the compiled
        graph (``torch.compiler.disable``: one graph break at the start of the forward), so that
        the node pairs are still found and the per-pair filters kept; traced, ``node_pairs`` would
        return ``None`` and every layer would compute its filters per edge (1.7x the eager step,
        benchmarks/README.md). The price: ``fullgraph=True`` cannot compile this model."""
        super().validate(data)
        if not len(self.convs):
            return None, None, None
        edge_index = data.edge_index
        first, pair_index = node_pairs(edge_index, data.pos.shape[0], getattr(data, "edge_vec", None) is None)
        return first, pair_index, symmetric_pair_nodes(edge_index, first, pair_index)

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        first, pair_index, nodes = self._validate_and_pair(data)
        pos, edge_index = self.positions(data), data.edge_index  # in units of inputs.length_scale
        h = self.embed(data)
        vel = self.vectors(data)  # [N, V, 3] or None
        if self.vector_norms is not None and vel is not None:
            h = h + self.vector_norms((vel * vel).sum(-1))  # invariants |v|^2
        r = self.edge_vectors(data)
        if len(self.convs):
            # lengths, Gaussians and cutoff once for all layers (they share one radial embedding),
            # and once per node pair: both directions of an edge have the same length
            basis, cutoff = self.convs[0].edge_features(r if first is None else r.index_select(0, first))
        for conv in self.convs:
            h = conv(
                h,
                pos,
                edge_index,
                edge_basis=basis,
                edge_cutoff=cutoff,
                pair_index=pair_index,
                pair_nodes=nodes,
            )
        return self.readout(h, edge_index, r, self.batch_vector(data), self.num_graphs(data), node_vec=vel)
