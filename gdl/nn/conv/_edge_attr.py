"""`check_edge_attr`: the edge-attribute shape check shared by the scalarization-route layers
(EGNNConv, InvariantConv, PlainConv)."""

from __future__ import annotations

import torch

__all__ = ["check_edge_attr"]


def check_edge_attr(edge_attr: torch.Tensor | None, num_edges: int, edge_dim: int, layer: str) -> None:
    """``edge_attr`` must be ``[num_edges, edge_dim]`` when ``edge_dim > 0`` and absent otherwise."""
    if edge_dim == 0:
        if edge_attr is not None:
            raise ValueError(f"{layer} got edge_attr but was built with edge_dim=0")
        return
    if edge_attr is None or edge_attr.dim() != 2 or edge_attr.shape != (num_edges, edge_dim):
        got = None if edge_attr is None else tuple(edge_attr.shape)
        raise ValueError(
            f"{layer}(edge_dim={edge_dim}) needs edge_attr of shape [{num_edges}, {edge_dim}], got {got}"
        )
