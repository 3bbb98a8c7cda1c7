r"""EGNN: a stack of :class:`~gdl.nn.EGNNConv` layers with a scalarization readout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..keys import TargetLike
from ..nn.conv.egnn_conv import EGNNConv, node_degree
from ..nn.scalar_readout import InvariantReadout, ReadoutFactory, ScalarizationReadout
from .inputs import NodeInputs
from .scalar_base import ScalarModelBase

__all__ = ["EGNN"]


def _reads_geometry(readout) -> bool:
    """``False`` only for readouts known to read nothing but the invariant features: gdl's
    ``InvariantReadout``, and ``ScalarizationReadout`` with only ``0e`` targets."""
    if type(readout) is InvariantReadout:
        return False
    if type(readout) is ScalarizationReadout:
        return readout.lin_weights is not None or readout.gate is not None
    return True


class EGNN(ScalarModelBase):
    r"""E(n)-equivariant graph network (Satorras, Hoogeboom & Welling 2021,
    https://arxiv.org/abs/2102.09844) with typed outputs.

    .. math::
        h^0 = \mathrm{Emb}(z, x), \quad (h^{l+1}, x^{l+1}) = \mathrm{EGNNConv}_l(h^l, x^l, v), \quad
        y = \mathrm{Readout}\big(h^L,\ r^L_{ij} = x^L_j - x^L_i,\ [x^L - x^0,\ v]\big)

    Vector inputs :math:`v` (``inputs.vector_inputs``, e.g. ``("vel",)`` for N-body) enter every layer
    through the paper's velocity update (eq. 7). The default :class:`~gdl.nn.ScalarizationReadout`
    gives ``0e`` from pooled :math:`h^L`, ``1o`` as :math:`\sum_j w_{ij} r^L_{ij} + u_{i0}(x^L_i - x^0_i)
    + \sum_v u_{iv} v_{iv}` and ``2e`` as :math:`\sum_j w'_{ij}(r^L_{ij}\otimes r^L_{ij})_0`, with
    invariant weights from :math:`h^L`. The node-level ``1o`` term with the learned displacement
    :math:`x^L - x^0` contains the paper's N-body prediction (:math:`u = 1, w = 0`); the pairwise term
    lets several ``1o`` targets differ and gives graph-level vectors that do not depend on the
    coordinate updates alone. In periodic boxes the given ``edge_vec`` is updated with the node
    displacements each layer (``r^{l}_{ij} = r^0_{ij} + \Delta_j - \Delta_i``), never recomputed
    from wrapped positions.

    Units: the layers read coordinates in units of ``inputs.length_scale``
    (:class:`~gdl.models.NodeInputs`; ``pos``, ``edge_vec`` and ``cutoff`` are divided by it), since
    :math:`\phi_e` reads :math:`\lVert x_i - x_j\rVert^2` and the readout's ``1o`` output is linear in
    :math:`r_{ij}` and :math:`x^L - x^0`: set it to a typical neighbour distance when coordinates are
    not O(1) (galaxies in Mpc/h).

    Equivariance: every ``0e``/``1o``/``2e`` output is :math:`E(3)`-equivariant (rotations,
    reflections, translations) and permutation-equivariant.

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`), e.g. ``["homo", "dipole_vec"]``.
        hidden_channels: width of node features and MLPs. Default ``128``.
        num_layers: number of :class:`~gdl.nn.EGNNConv` layers. Default ``4``.
        inputs: the node inputs, a :class:`~gdl.models.NodeInputs` or a mapping with its keys
            (``num_types``, ``in_channels``, ``vector_inputs``; the config's ``inputs:`` block);
            ``None``: ``NodeInputs()`` (10 atom types, no features, no vectors). Default ``None``.
        cutoff: radius of the readout's radial basis and smooth cutoff (the graph itself comes from
            the data pipeline). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        readout: readout class or factory (:data:`gdl.nn.ReadoutFactory`). Default
            :class:`~gdl.nn.ScalarizationReadout`.
        **conv_kwargs: passed to every :class:`~gdl.nn.EGNNConv`, e.g. ``attention=True`` (the
            paper's attention gate; default ``False``), ``geometric_init=False`` (PyTorch's default
            initialisation of :math:`\phi_e`, as the authors' code; default ``True``), ``coord_step``
            or ``aggr``; an unknown key stops with the layer's error.

    Shapes:
        ``Batch`` with ``pos [N, 3]``, ``edge_index [2, E]``, optional ``edge_vec [E, 3]``, ``z [N]``,
        ``x [N, in_channels]``, vector inputs ``[N, 3]``, ``batch [N]`` ->
        ``{name: [B, dim]}`` (graph targets) / ``{name: [N, dim]}`` (node targets).
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
        **conv_kwargs: Any,
    ):
        super().__init__(targets, hidden_channels, num_layers, inputs, cutoff, reduce)
        v = len(self.vector_inputs)
        self.convs = nn.ModuleList(
            [
                EGNNConv(self.hidden_channels, vel_channels=v, **conv_kwargs)
                for _ in range(self.num_layers)
            ]
        )
        self.readout = self.build_readout(readout, vector_channels=1 + v)
        #: whether the readout reads coordinates (edge vectors or node vectors); when it does not
        #: (invariant targets only), the last layer skips its coordinate update
        self.readout_reads_geometry = _reads_geometry(self.readout)

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        pos0, edge_index = self.positions(data), data.edge_index  # in units of inputs.length_scale
        j, i = edge_index[0], edge_index[1]
        h = self.embed(data)
        vel = self.vectors(data)  # [N, V, 3] or None
        r = self.edge_vectors(data)  # [E, 3]
        pos = pos0
        degree = node_degree(i, pos.shape[0], pos.dtype)  # the coordinate mean's denominator, once
        last = len(self.convs) - 1
        for k, conv in enumerate(self.convs):
            update = k < last or self.readout_reads_geometry
            # the batch was validated once above; the layers check shapes only
            h, new_pos, _ = conv(h, pos, edge_index, edge_vec=r, vel=vel, degree=degree, update_coords=update)
            if update:
                step = new_pos - pos
                r = r + step.index_select(0, j) - step.index_select(0, i)  # edges follow the nodes
                pos = new_pos
        node_vec = (pos - pos0).unsqueeze(1)  # [N, 1, 3] displacement x^L - x^0
        if vel is not None:
            node_vec = torch.cat([node_vec, vel], dim=1)  # [N, 1 + V, 3]
        return self.readout(
            h, edge_index, r, self.batch_vector(data), self.num_graphs(data), node_vec=node_vec
        )
