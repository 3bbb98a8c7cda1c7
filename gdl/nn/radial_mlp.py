r"""A radial MLP: per-edge weights of a tensor product from a radial embedding."""

from __future__ import annotations

import math

import torch
from e3nn.math import normalize2mom
from torch import nn

__all__ = ["RadialMLP"]


class RadialMLP(nn.Module):
    r"""Maps the radial embedding of each edge to the weights of a tensor product (NequIP, TFN):

    .. math::
        w_{ij} = W_K\, \phi\bigl(\cdots \phi(W_1 R(\lVert r_{ij} \rVert))\bigr)

    with :math:`\phi` = SiLU rescaled to unit second moment and weights drawn :math:`N(0, 1/\text{fan-in})`,
    so that unit-variance inputs give unit-variance weights. There are no biases: since the radial
    embedding vanishes at the cutoff and :math:`\phi(0) = 0`, the weights vanish there too, and
    neighbours crossing the cutoff change the output smoothly.

    Args:
        in_channels: width of the radial embedding.
        out_channels: number of weights per edge (``tp.weight_numel``).
        hidden_channels: width of the hidden layers. Default ``64``.
        num_layers: number of linear maps (``1`` is a plain linear map). Default ``2``.

    Shapes:
        ``[E, in_channels] -> [E, out_channels]``; invariant.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 64, num_layers: int = 2):
        super().__init__()
        if min(in_channels, out_channels, hidden_channels, num_layers) < 1:
            raise ValueError(
                f"RadialMLP sizes must be >= 1, got in={in_channels}, out={out_channels}, "
                f"hidden={hidden_channels}, num_layers={num_layers}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.hidden_channels, self.num_layers = hidden_channels, num_layers
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(a, b)) for a, b in zip(sizes, sizes[1:])])
        self.act = normalize2mom(torch.nn.functional.silu)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w in self.weights:
            nn.init.normal_(w, std=1.0 / math.sqrt(w.shape[0]))

    def forward(self, edge_radial: torch.Tensor) -> torch.Tensor:
        h = edge_radial
        for k, w in enumerate(self.weights):
            h = h @ w
            if k < len(self.weights) - 1:
                h = self.act(h)
        return h

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels} -> {self.out_channels}, "
            f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers})"
        )
