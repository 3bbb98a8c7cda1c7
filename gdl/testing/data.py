"""Small random graphs for tests: molecule-like point clouds with atom types and full graphs."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

__all__ = ["fully_connected_edge_index", "random_molecule", "random_molecules"]


def fully_connected_edge_index(num_nodes: int, device: torch.device | str | None = None) -> torch.Tensor:
    """All ordered pairs ``(j, i)``, ``j != i``: ``[2, n (n - 1)]``."""
    idx = torch.arange(num_nodes, device=device)
    j, i = torch.meshgrid(idx, idx, indexing="ij")
    mask = j != i
    return torch.stack([j[mask], i[mask]])


def random_molecule(
    num_nodes: int = 6,
    num_types: int = 5,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    spread: float = 1.5,
) -> Data:
    """A random molecule-like graph: ``z`` in ``[1, num_types]``, ``pos`` ~ N(0, spread²), fully
    connected ``edge_index``. Deterministic for a given seed."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(num_nodes, 3, generator=g, dtype=torch.float64).to(dtype) * spread
    z = torch.randint(1, num_types + 1, (num_nodes,), generator=g)
    return Data(pos=pos, z=z, edge_index=fully_connected_edge_index(num_nodes))


def random_molecules(
    num_graphs: int = 3,
    min_nodes: int = 4,
    max_nodes: int = 8,
    num_types: int = 5,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Batch:
    """A ``Batch`` of :func:`random_molecule` graphs with between ``min_nodes`` and ``max_nodes`` nodes."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(min_nodes, max_nodes + 1, (num_graphs,), generator=g).tolist()
    return Batch.from_data_list(
        [random_molecule(n, num_types, seed=seed * 1000 + k, dtype=dtype) for k, n in enumerate(sizes)]
    )
