"""Shared check of the irreps layers at coincident points (two distinct nodes at one position)."""

import torch

from gdl.testing import default_dtype


def max_position_gradient(conv, seed: int = 0) -> float:
    """Largest entry of d(output)/d(pos) for a graph whose nodes 0 and 1 sit at the same position."""
    g = torch.Generator().manual_seed(seed)
    with default_dtype(torch.float64):
        pos = torch.randn(4, 3, generator=g, dtype=torch.float64)
        pos[1] = pos[0]
        x = torch.randn(4, conv.irreps_in.dim, generator=g, dtype=torch.float64)
        ei = torch.tensor([[0, 1, 0, 2, 3, 1], [1, 0, 2, 0, 1, 3]])
        out = conv(x, pos, ei)
        assert torch.isfinite(out).all()
        J = torch.autograd.functional.jacobian(lambda p: conv(x, p, ei), pos)
    assert torch.isfinite(J).all()
    return float(J.abs().max())
