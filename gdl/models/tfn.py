r"""Tensor field network (TFN / NequIP-style) on e3nn irreps, with typed readouts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from e3nn import o3
from torch import nn

from ..keys import TargetLike
from ..nn.conv.tfn_conv import TFNConv
from ..nn.irreps import hidden_irreps, reachable_irreps
from .inputs import NodeInputs
from .irreps_model import IrrepsModel

__all__ = ["TFN", "ResidualBlocks"]


class TFN(IrrepsModel):
    r"""A tensor field network (`Thomas et al. 2018 <https://arxiv.org/abs/1802.08219>`_) in NequIP's
    form (`Batzner et al. 2022 <https://arxiv.org/abs/2101.03164>`_): ``num_layers`` :class:`TFNConv`
    layers with residual connections, then an equivariant linear readout per target.

    .. math::
        h^{(0)}_i = \mathrm{Emb}(z_i, x_i) \oplus v_i, \qquad
        h^{(t+1)}_i = \mathrm{TFNConv}\bigl(h^{(t)}, p\bigr)_i + [h^{(t)}_i]_{\text{shared blocks}}, \qquad
        y = \mathrm{Readout}\bigl(h^{(T)}\bigr)

    Hidden features hold ``hidden_channels`` copies of every irrep up to ``l_max`` (both parities
    with ``parity=True``), restricted per layer to what the layer can reach (a first layer fed only
    scalars produces no pseudo-scalars), so no block is identically zero. Spherical harmonics and the
    radial basis are computed once per forward pass and shared by all layers. The residual adds each
    block of a layer's input to the output block of the same ``mul x ir`` (:class:`ResidualBlocks`).

    With ``l_max = 0`` every feature is a scalar and the model is exactly invariant (only distances
    enter); it then supports scalar targets only.

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`); graph or node level, any irreps the
            features contain (``0e``, ``1o``, ``2e`` for ``l_max >= 2``, ...).
        hidden_channels: channels per irrep. Default ``32``.
        num_layers: number of :class:`TFNConv` layers (``>= 1``). Default ``3``.
        inputs: node inputs (:class:`~gdl.models.NodeInputs`: ``num_types``, ``in_channels``,
            ``vector_inputs``; ``1o`` vector inputs such as ``("vel",)`` enter as features).
            Default ``None``: 10 atom types.
        cutoff: radius of the radial basis' smooth cutoff, in the units of ``pos``; the layers read
            it and the coordinates in units of ``inputs.length_scale``
            (:class:`~gdl.models.IrrepsModel`, Units). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        l_max: largest degree of features and spherical harmonics, in ``{0, 1, 2, 3}``. Default ``2``.
        **kwargs: options (:class:`~gdl.models.IrrepsModel` explains the grouping). Model options:
            ``parity`` (O(3), ``True``, or SO(3)-only, ``False``: :mod:`gdl.nn.irreps`; default
            ``True``) and ``prune_last_layer`` (the last layer emits only the irreps the readout
            reads: same outputs on the same weights, fewer paths; default ``True``). Layer options,
            forwarded to every :class:`TFNConv`: ``avg_num_neighbors`` (normalisation
            :math:`\sqrt{\bar n}` of each layer's sum; set it to the mean in-degree of the training
            graphs; default ``16.0``), ``tp_backend`` (the tensor product + scatter: ``"batched"``,
            the default, or ``"e3nn"``, the same function in e3nn's generated code) and
            ``radial_hidden`` (width of the radial MLPs; default ``64``).

    Shapes:
        ``Batch`` with ``pos [N, 3]``, ``edge_index [2, E]``, optional ``edge_vec [E, 3]``, ``z [N]``,
        ``x [N, in_channels]``, vector inputs ``[N, 3]``, ``batch [N]`` ->
        ``{name: [B, irreps.dim] (graph) or [N, irreps.dim] (node)}``, each output transforming by
        its target irreps (O(3), or SO(3) with ``parity=False``).
    """

    model_options: ClassVar[dict[str, Any]] = {"parity": True, "prune_last_layer": True}
    layer_options: ClassVar[dict[str, Any]] = {
        "avg_num_neighbors": 16.0,
        "tp_backend": "batched",
        "radial_hidden": 64,
    }

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 32,
        num_layers: int = 3,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        l_max: int = 2,
        **kwargs: Any,
    ):
        super().__init__(targets, hidden_channels, num_layers, inputs, cutoff, reduce, l_max, **kwargs)
        self.residuals = nn.ModuleList(
            ResidualBlocks(layer.irreps_in, layer.irreps_out) for layer in self.layers
        )

    def build_layers(self) -> list[nn.Module]:
        target = hidden_irreps(self.hidden_channels, self.l_max, self.parity)
        layers, irreps = [], self.irreps_input
        for k in range(self.num_layers):
            out = reachable_irreps(target, irreps, self.irreps_sh)
            if k == self.num_layers - 1:
                out = self.last_layer_irreps(out)
            layers.append(TFNConv(irreps, out, self.irreps_sh, self.radial, **self.layer_kwargs))
            irreps = out
        return layers

    def interact(
        self, h: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor, **edge: Any
    ) -> torch.Tensor:
        for layer, residual in zip(self.layers, self.residuals):
            h = residual(h, layer(h, pos, edge_index, **edge))
        return h


class ResidualBlocks(nn.Module):
    """Adds the blocks of a layer's input to the blocks of its output that have the same ``mul x ir``
    (NequIP's residual, extended to layers whose irreps grow: the first layers of a parity network
    gain new irreps while keeping the old ones)."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        out_blocks = list(zip(irreps_out, irreps_out.slices()))
        used: set[int] = set()
        src: list[int] = []
        dst: list[int] = []
        for mul_ir, s_in in zip(irreps_in, irreps_in.slices()):
            for k, (mul_ir_out, s_out) in enumerate(out_blocks):
                if k not in used and mul_ir_out == mul_ir:
                    used.add(k)
                    src += range(s_in.start, s_in.stop)
                    dst += range(s_out.start, s_out.stop)
                    break
        self.num_carried = len(src)
        self.register_buffer("src", torch.tensor(src, dtype=torch.long), persistent=False)
        self.register_buffer("dst", torch.tensor(dst, dtype=torch.long), persistent=False)

    def forward(self, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.num_carried == 0:
            return out
        return out.index_add(-1, self.dst, h.index_select(-1, self.src))

    def extra_repr(self) -> str:
        return f"carried={self.num_carried}"
