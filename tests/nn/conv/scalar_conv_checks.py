"""Checks shared by the tests of the scalarization-route layers (EGNNConv, InvariantConv, PlainConv).

Each function takes ``call(x, pos, edge_index, edge_vec=None) -> dict of outputs`` wrapping a layer,
so the same checks run on every layer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import gdl
from gdl.testing import default_dtype, equivariance_error
from gdl.testing.data import fully_connected_edge_index

Call = Callable[..., dict[str, torch.Tensor]]


def random_graph(n: int = 6, channels: int = 8, seed: int = 0, dtype: torch.dtype = torch.float64):
    """``(x [n, channels], pos [n, 3], edge_index)`` of a random fully connected graph."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, generator=g, dtype=torch.float64).to(dtype)
    pos = (1.5 * torch.randn(n, 3, generator=g, dtype=torch.float64)).to(dtype)
    return x, pos, fully_connected_edge_index(n)


def perturb(module: torch.nn.Module, std: float = 0.4, seed: int = 0) -> torch.nn.Module:
    """Draw every parameter from N(0, std²), so that every path (including ones initialised near zero)
    contributes visibly to the outputs whose equivariance is measured."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * std)
    return module


def equivariance(call: Call, x, pos, edge_index, out_types, with_edge_vec: bool, **kwargs):
    inputs = {"x": x, "pos": pos, "edge_index": edge_index}
    if with_edge_vec:
        inputs["edge_vec"] = pos[edge_index[0]] - pos[edge_index[1]]
    return equivariance_error(call, inputs, out_types=out_types, **kwargs)


def assert_batch_matches_single(call: Call, channels: int) -> None:
    """Two graphs as one disjoint union give the same node outputs as each graph alone."""
    x1, p1, e1 = random_graph(4, channels, seed=1)
    x2, p2, e2 = random_graph(5, channels, seed=2)
    with torch.no_grad():
        both = call(torch.cat([x1, x2]), torch.cat([p1, p2]), torch.cat([e1, e2 + 4], dim=1))
        one, two = call(x1, p1, e1), call(x2, p2, e2)
    for k in both:
        torch.testing.assert_close(both[k], torch.cat([one[k], two[k]]), atol=1e-12, rtol=1e-10)


def assert_gradcheck(call: Call, channels: int) -> None:
    x, pos, ei = random_graph(3, channels, seed=3)
    x.requires_grad_(True)
    pos.requires_grad_(True)

    def f(x, pos):
        return tuple(call(x, pos, ei).values())

    with default_dtype(torch.float64):
        assert torch.autograd.gradcheck(f, (x, pos), eps=1e-6, atol=1e-5, rtol=1e-4)


def assert_compile_matches_eager(call: Call, channels: int, backend: str) -> None:
    x, pos, ei = random_graph(6, channels, seed=4, dtype=torch.float32)
    with torch.no_grad():
        eager = call(x, pos, ei)
        compiled = torch.compile(call, backend=backend, dynamic=True)(x, pos, ei)
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], atol=1e-4, rtol=1e-4)


def assert_float32_and_radius_graph(call: Call, channels: int) -> None:
    """Runs in float32 on a radius graph from torch_cluster, as inside any PyG model."""
    from torch_cluster import radius_graph

    g = torch.Generator().manual_seed(5)
    pos = torch.rand(20, 3, generator=g) * 4
    batch = torch.arange(2).repeat_interleave(10)
    ei = radius_graph(pos, r=2.0, batch=batch)
    assert ei.shape[1] > 0
    out = call(torch.randn(20, channels, generator=g), pos, ei)
    for k, v in out.items():
        assert v.dtype == torch.float32 and torch.isfinite(v).all(), k


def assert_bad_inputs_raise(call: Call, channels: int) -> None:
    x, pos, ei = random_graph(4, channels, seed=6, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"pos must have shape \[N, 3\]"):
        call(x, pos[:, :2], ei)
    bad = pos.clone()
    bad[1, 0] = float("nan")
    # value checks (a host synchronisation each) run only under gdl.debug() in a bare layer
    with gdl.debug(), pytest.raises(ValueError, match="pos contains NaN"):
        call(x, bad, ei)
    with gdl.debug(), pytest.raises(ValueError, match="edge_index has entries in"):
        call(x, pos, torch.tensor([[0, 4], [1, 0]]))
    for out in call(x, bad, ei).values():  # without the switch: no check, NaN flows through
        assert out.shape[0] == 4
    with pytest.raises(ValueError, match="edge_vec has 3 rows but edge_index has 12 edges"):
        call(x, pos, ei, edge_vec=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=rf"x must have shape \[N, {channels}\]"):
        call(x[:, :-1], pos, ei)
