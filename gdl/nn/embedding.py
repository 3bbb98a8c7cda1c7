"""Invariant node embeddings from atom types and/or scalar node features."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_types

__all__ = ["NodeEmbedding"]


class NodeEmbedding(nn.Module):
    r"""Invariant node features from integer types ``z`` and/or invariant features ``x``.

    .. math::
        h_i = \mathrm{Emb}(z_i) + W x_i \quad\text{(the terms that are configured)}

    With neither configured (``num_types = 0`` and ``in_channels = 0``, e.g. galaxies that carry only
    positions) every node gets the same learned vector.

    Args:
        out_channels: width of the embedding.
        num_types: size of the type vocabulary; ``z`` must lie in ``[0, num_types)``. ``0`` ignores
            ``z``. Default ``10`` (atomic numbers of QM9's H, C, N, O, F).
        in_channels: width of ``x``; ``0`` ignores ``x``. Default ``0``.

    Shapes:
        ``z [N]`` (long), ``x [N, in_channels]`` -> ``[N, out_channels]``; all invariant.
    """

    def __init__(self, out_channels: int, num_types: int = 10, in_channels: int = 0):
        super().__init__()
        if out_channels < 1 or num_types < 0 or in_channels < 0:
            raise ValueError(
                f"invalid sizes: out_channels={out_channels}, num_types={num_types}, "
                f"in_channels={in_channels}"
            )
        self.out_channels, self.num_types, self.in_channels = out_channels, num_types, in_channels
        self.type_embedding = nn.Embedding(num_types, out_channels) if num_types > 0 else None
        self.feature_linear = nn.Linear(in_channels, out_channels) if in_channels > 0 else None
        self.constant = (
            nn.Parameter(torch.empty(out_channels)) if num_types == 0 and in_channels == 0 else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.type_embedding is not None:
            self.type_embedding.reset_parameters()
        if self.feature_linear is not None:
            self.feature_linear.reset_parameters()
        if self.constant is not None:
            nn.init.normal_(self.constant)

    def forward(
        self,
        num_nodes: int,
        z: torch.Tensor | None = None,
        x: torch.Tensor | None = None,
        *,
        values: bool | None = None,
    ) -> torch.Tensor:
        """Embed ``z`` and/or ``x``. ``values``: check that ``z`` lies in ``[0, num_types)`` (a host
        synchronisation; default ``None``: only under :func:`gdl.debug` — models check it once per
        forward in :meth:`gdl.models.NodeInputs.check`)."""
        h = None
        if self.type_embedding is not None:
            if z is None:
                raise ValueError(f"{self} needs atom types `z` [N] (or set num_types=0)")
            check_types(z, num_nodes, self.num_types, values=values)
            h = self.type_embedding(z)
        if self.feature_linear is not None:
            if x is None:
                raise ValueError(f"{self} needs invariant node features `x` [N, {self.in_channels}]")
            if x.dim() != 2 or x.shape != (num_nodes, self.in_channels):
                raise ValueError(f"x must have shape [{num_nodes}, {self.in_channels}], got {tuple(x.shape)}")
            hx = self.feature_linear(x)
            h = hx if h is None else h + hx
        if h is None:
            assert self.constant is not None
            h = self.constant.expand(num_nodes, -1)
        return h

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(out_channels={self.out_channels}, num_types={self.num_types}, "
            f"in_channels={self.in_channels})"
        )
