r"""SE(3)-Transformer on e3nn irreps, with typed readouts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from e3nn import o3
from torch import nn

from ..keys import TargetLike
from ..nn.conv.se3_attention_conv import SE3AttentionConv
from ..nn.irreps import hidden_irreps, reachable_irreps
from .inputs import NodeInputs
from .irreps_model import IrrepsModel

__all__ = ["SE3Transformer"]


class SE3Transformer(IrrepsModel):
    r"""The SE(3)-Transformer (`Fuchs, Worrall, Fischer & Welling 2020
    <https://arxiv.org/abs/2006.10503>`_): an equivariant linear projection of the node inputs,
    ``num_layers`` :class:`SE3AttentionConv` blocks (multi-head attention, skip connection,
    equivariant norm), then an equivariant linear readout per target.

    .. math::
        h^{(0)}_i = W_0\bigl(\mathrm{Emb}(z_i, x_i) \oplus v_i\bigr), \qquad
        h^{(t+1)} = \mathrm{SE3AttentionConv}\bigl(h^{(t)}, p\bigr), \qquad
        y = \mathrm{Readout}\bigl(h^{(T)}\bigr)

    Hidden features hold ``hidden_channels`` copies of every irrep up to ``l_max`` (both parities with
    ``parity=True``), restricted per layer to what the layer can reach. Spherical harmonics and the
    radial basis are computed once per forward pass and shared by all blocks. With ``parity=False``
    the features are degrees ``0..l_max`` with ``hidden_channels`` channels each, SO(3)-equivariant,
    which is the configuration of the original SE(3)-Transformer.

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`).
        hidden_channels: channels per irrep; divisible by ``num_heads``. Default ``16``.
        num_layers: number of attention blocks (``>= 1``). Default ``4``.
        inputs: node inputs (:class:`~gdl.models.NodeInputs`). Default ``None``: 10 atom types.
        cutoff: radius of the radial basis' smooth cutoff, in the units of ``pos``; the layers read
            it and the coordinates in units of ``inputs.length_scale``
            (:class:`~gdl.models.IrrepsModel`, Units). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        l_max: largest degree, in ``{0, 1, 2, 3}``. Default ``2``.
        **kwargs: options (:class:`~gdl.models.IrrepsModel` explains the grouping). Model options:
            ``parity`` (O(3) or SO(3)-only; default ``True``) and ``prune_last_layer`` (the last
            block computes values and outputs only for the irreps the readout reads; its keys, hence
            its attention, stay those of the full block; same outputs on the same weights; default
            ``True``). Layer options, forwarded to every :class:`SE3AttentionConv`: ``num_heads``
            (default ``4``), ``tp_backend`` (default ``"batched"``) and ``radial_hidden`` (default
            ``64``).

    Shapes:
        as :class:`TFN`.
    """

    model_options: ClassVar[dict[str, Any]] = {"parity": True, "prune_last_layer": True}
    layer_options: ClassVar[dict[str, Any]] = {"num_heads": 4, "tp_backend": "batched", "radial_hidden": 64}

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 16,
        num_layers: int = 4,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        l_max: int = 2,
        **kwargs: Any,
    ):
        super().__init__(targets, hidden_channels, num_layers, inputs, cutoff, reduce, l_max, **kwargs)

    def check_options(self) -> None:
        if self.num_heads < 1 or self.hidden_channels % self.num_heads:
            raise ValueError(
                f"SE3Transformer: hidden_channels={self.hidden_channels} must be divisible by "
                f"num_heads={self.num_heads}"
            )

    def build_layers(self) -> list[nn.Module]:
        target = hidden_irreps(self.hidden_channels, self.l_max, self.parity)
        # the projection keeps hidden_channels copies of the irreps present in the input
        present = {ir for _, ir in self.irreps_input}
        irreps = o3.Irreps([(mul, ir) for mul, ir in target if ir in present])
        self.projection = o3.Linear(self.irreps_input, irreps)
        layers = []
        for k in range(self.num_layers):
            full = reachable_irreps(target, irreps, self.irreps_sh)
            out = self.last_layer_irreps(full) if k == self.num_layers - 1 else full
            layers.append(
                SE3AttentionConv(
                    irreps, out, self.irreps_sh, radial=self.radial, irreps_key=full, **self.layer_kwargs
                )
            )
            irreps = out
        return layers

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.projection.weight.normal_()

    def interact(
        self, h: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor, **edge: Any
    ) -> torch.Tensor:
        h = self.projection(h)
        return super().interact(h, pos, edge_index, **edge)
