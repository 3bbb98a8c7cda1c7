r"""MACE: many-body equivariant messages on e3nn irreps, with typed readouts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from e3nn import o3
from torch import nn

from ..keys import TargetLike
from ..nn.conv.mace_conv import MACEConv, atomic_irreps, product_basis_irreps
from ..nn.geometry import edge_vectors
from ..nn.irreps import so3_label, spherical_harmonics_irreps
from .irreps_model import L_MAX_RANGE, IrrepsModel

__all__ = ["MACE"]


class MACE(IrrepsModel):
    r"""MACE (`Batatia, Kovács, Simm, Ortner & Csányi 2022 <https://arxiv.org/abs/2206.07697>`_):
    ``num_layers`` :class:`~gdl.nn.MACEConv` layers, each a symmetric contraction of a two-body
    atomic basis up to ``correlation`` :math:`\nu` (messages of body order :math:`\nu + 1`), then an
    equivariant linear readout per target.

    .. math::
        h^{(0)}_i = \mathrm{Emb}(z_i, x_i) \oplus v_i, \qquad
        h^{(t+1)} = \mathrm{MACEConv}_\nu\bigl(h^{(t)}, p, z\bigr), \qquad
        y = \mathrm{Readout}\bigl(h^{(T)}\bigr)

    Three orders are set apart, as in the MACE paper: the **message order** ``l_max`` (spherical
    harmonics and the atomic basis), the **feature order** ``hidden_l_max`` (what the layers carry:
    ``hidden_channels`` copies of ``0e+1o+...`` up to it, natural parities as in MACE; ``0`` keeps
    scalar features only) and the **body order** ``correlation + 1``. The last layer also emits
    ``hidden_channels`` copies of each target irrep the features lack (a dipole from a scalar-feature
    model), and each layer keeps only the irreps its product basis reaches. The contraction weights
    are learned per atom type (``z``, when ``num_types > 0``). Spherical harmonics and the radial basis
    are computed once per forward pass and shared by all layers; each layer's self-interaction is
    its residual (MACE's update), and the readout acts on the last layer (MACE sums a readout per
    layer).

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`); graph or node level, any irreps the
            last layer's product basis reaches.
        hidden_channels: channels per irrep (also the channels of the atomic basis). Default ``32``.
        num_layers: number of :class:`~gdl.nn.MACEConv` layers. Default ``2``.
        num_types: atom-type vocabulary (``0`` ignores ``z``; the contraction weights are then
            shared). Default ``10``.
        in_channels: width of invariant node features ``x`` (``0`` ignores ``x``). Default ``0``.
        cutoff: radius of the radial basis' smooth cutoff. Default ``5.0``.
        vector_inputs: names of node fields ``[N, 3]`` that enter as ``1o`` features (e.g.
            ``("vel",)``). Default ``()``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        l_max: message order: largest degree of the spherical harmonics and the atomic basis, in
            ``{0, 1, 2, 3}``. Default ``2``.
        parity: O(3) (``True``) or SO(3)-only (``False``, :mod:`gdl.nn.irreps`). Default ``True``.
        correlation: :math:`\nu \ge 1`, the order of the symmetric contraction. Default ``3``.
        hidden_l_max: feature order, in ``{0, 1, 2, 3}``. Default ``0`` (scalar features).
        avg_num_neighbors: :math:`\bar n`, each layer divides its sum by it; set it to the mean
            in-degree of the training graphs. Default ``16.0``.
        gate: a gated nonlinearity after each layer (:class:`~gdl.nn.MACEConv`). Default ``False``
            (MACE's: the products are the nonlinearity).

    Shapes:
        ``Batch`` with ``pos [N, 3]``, ``edge_index [2, E]``, optional ``edge_vec [E, 3]``, ``z [N]``,
        ``x [N, in_channels]``, vector inputs ``[N, 3]``, ``batch [N]`` ->
        ``{name: [B, irreps.dim] (graph) or [N, irreps.dim] (node)}``, each output transforming by
        its target irreps (O(3), or SO(3) with ``parity=False``).
    """

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 32,
        num_layers: int = 2,
        num_types: int = 10,
        in_channels: int = 0,
        cutoff: float = 5.0,
        vector_inputs: Sequence[str] = (),
        reduce: str = "sum",
        l_max: int = 2,
        parity: bool = True,
        correlation: int = 3,
        hidden_l_max: int = 0,
        avg_num_neighbors: float = 16.0,
        gate: bool = False,
    ):
        if not isinstance(correlation, int) or isinstance(correlation, bool) or correlation < 1:
            raise ValueError(f"MACE: correlation must be an integer >= 1, got {correlation!r}")
        if hidden_l_max not in L_MAX_RANGE or isinstance(hidden_l_max, bool):
            raise ValueError(f"MACE: hidden_l_max must be one of {L_MAX_RANGE}, got {hidden_l_max!r}")
        self.correlation, self.hidden_l_max = correlation, hidden_l_max
        self.avg_num_neighbors, self.gate = float(avg_num_neighbors), bool(gate)
        super().__init__(
            targets,
            hidden_channels=hidden_channels,
            num_layers=num_layers,
            num_types=num_types,
            in_channels=in_channels,
            cutoff=cutoff,
            vector_inputs=vector_inputs,
            reduce=reduce,
            l_max=l_max,
            parity=parity,
        )

    def build_layers(self) -> list[nn.Module]:
        c = self.hidden_channels
        hidden = o3.Irreps([(c, ir) for _, ir in spherical_harmonics_irreps(self.hidden_l_max, self.parity)])
        present = {ir for _, ir in hidden}
        extra: list[tuple[int, o3.Irrep]] = []
        for t in self.targets:
            for _, ir in t.irreps if self.parity else so3_label(t.irreps):
                if ir not in present:
                    present.add(ir)
                    extra.append((c, ir))
        last = hidden + o3.Irreps(extra)
        layers, irreps = [], self.irreps_input
        for k in range(self.num_layers):
            wanted = last if k == self.num_layers - 1 else hidden
            out = product_basis_irreps(atomic_irreps(irreps, self.irreps_sh), self.correlation, wanted)
            layers.append(
                MACEConv(
                    irreps,
                    out,
                    self.irreps_sh,
                    correlation=self.correlation,
                    channels=c,
                    num_types=max(self.num_types, 1),
                    radial=self.radial,
                    avg_num_neighbors=self.avg_num_neighbors,
                    gate=self.gate,
                )
            )
            irreps = out
        return layers

    def interact(
        self,
        h: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        node_type: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the layers; ``edge_sh``/``edge_radial`` are shared by all of them, ``node_type`` picks
        each node's contraction weights (required when ``num_types > 1``)."""
        for layer in self.layers:
            h = layer(h, pos, edge_index, edge_sh=edge_sh, edge_radial=edge_radial, node_type=node_type)
        return h

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        pos, edge_index = data.pos, data.edge_index
        h = self.node_inputs(data)  # validates z
        node_type = data.z if self.num_types > 0 else None
        edge_vec = edge_vectors(pos, edge_index, getattr(data, "edge_vec", None))
        edge_sh, edge_radial = self.edge_embedding(edge_vec)
        h = self.interact(h, pos, edge_index, edge_sh, edge_radial, node_type)
        return self.readout(h, self.batch_vector(data), self.num_graphs(data))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, correlation={self.correlation}, hidden_l_max={self.hidden_l_max}, "
            f"avg_num_neighbors={self.avg_num_neighbors}, gate={self.gate}"
        )
