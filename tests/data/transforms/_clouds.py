"""A small typed point cloud shared by the transform tests."""

import torch
from torch_geometric.data import Data


def cloud(n=7, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return Data(
        pos=torch.randn(n, 3, generator=g, dtype=dtype) * 2,
        pos_target=torch.randn(n, 3, generator=g, dtype=dtype),
        vel=torch.randn(n, 3, generator=g, dtype=dtype),
        quadrupole=torch.randn(1, 5, generator=g, dtype=dtype),
        x=torch.randn(n, 1, generator=g, dtype=dtype),
        y=torch.randn(1, 19, generator=g, dtype=dtype),
    )
