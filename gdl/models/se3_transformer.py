r"""SE(3)-Transformer on e3nn irreps, with typed readouts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from e3nn import o3
from torch import nn

from ..keys import TargetLike
from ..nn.conv.se3_attention_conv import SE3AttentionConv
from ..nn.irreps import hidden_irreps, reachable_irreps
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
        num_layers: number of attention blocks. Default ``4``.
        num_types: atom-type vocabulary (``0`` ignores ``z``). Default ``10``.
        in_channels: width of invariant node features ``x`` (``0`` ignores ``x``). Default ``0``.
        cutoff: radius of the radial basis' smooth cutoff. Default ``5.0``.
        vector_inputs: names of node fields ``[N, 3]`` that enter as ``1o`` features. Default ``()``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        l_max: largest degree, in ``{0, 1, 2, 3}``. Default ``2``.
        parity: O(3) (``True``) or SO(3)-only (``False``, :mod:`gdl.nn.irreps`). Default ``True``.
        num_heads: attention heads per block. Default ``4``.
        prune_last_layer: the last block computes values and outputs only for the irreps the
            readout reads (its keys, hence its attention, stay those of the full block); same outputs
            on the same weights. Default ``True``.
        tp_backend: the tensor product of every block (:class:`SE3AttentionConv`). Default ``"e3nn"``.

    Shapes:
        as :class:`TFN`.
    """

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 16,
        num_layers: int = 4,
        num_types: int = 10,
        in_channels: int = 0,
        cutoff: float = 5.0,
        vector_inputs: Sequence[str] = (),
        reduce: str = "sum",
        l_max: int = 2,
        parity: bool = True,
        num_heads: int = 4,
        prune_last_layer: bool = True,
        tp_backend: str = "e3nn",
    ):
        if num_heads < 1 or hidden_channels % num_heads:
            raise ValueError(
                f"SE3Transformer: hidden_channels={hidden_channels} must be divisible by "
                f"num_heads={num_heads}"
            )
        self.num_heads = num_heads
        super().__init__(
            targets,
            hidden_channels,
            num_layers,
            num_types,
            in_channels,
            cutoff,
            vector_inputs,
            reduce,
            l_max,
            parity,
            prune_last_layer,
            tp_backend,
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
                    irreps,
                    out,
                    self.irreps_sh,
                    self.num_heads,
                    self.radial,
                    irreps_key=full,
                    tp_backend=self.tp_backend,
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
        pair_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.projection(h)
        for layer in self.layers:
            h = layer(h, pos, edge_index, edge_sh=edge_sh, edge_radial=edge_radial, pair_index=pair_index)
        return h

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_heads={self.num_heads}"
