"""Small models for the strategy tests (one per route), built in float64, and shared checks.

Every model named here must exist in :mod:`gdl.models` (a missing one fails, it is never skipped).
"""

from __future__ import annotations

import math

import pytest
import torch

import gdl.models
from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups.anchors import GroupAnchors
from gdl.keys import Target
from gdl.testing.data import random_molecules
from gdl.testing.model_mixin import ALL_TARGETS

OCTAHEDRAL = groups.octahedral()

#: name -> (constructor keyword arguments, the symmetry group the bare model has: "O3", a finite
#: group tensor, or None for no rotation symmetry)
MODELS = {
    "PlainNet": (dict(hidden_channels=8, num_layers=2), None),
    "EGNN": (dict(hidden_channels=8, num_layers=2), "O3"),
    "InvariantNet": (dict(hidden_channels=8, num_layers=2, num_basis=6), "O3"),
    "GroupConvNet": (
        dict(hidden_channels=8, num_layers=2, num_basis=4, anchors=GroupAnchors(OCTAHEDRAL)),
        OCTAHEDRAL,
    ),
    "TFN": (dict(hidden_channels=4, num_layers=2, l_max=2), "O3"),
    "SE3Transformer": (dict(hidden_channels=4, num_layers=2, l_max=2, num_heads=2), "O3"),
    "MACE": (dict(hidden_channels=4, num_layers=2, l_max=2, correlation=2), "O3"),
}
EQUIVARIANT = [name for name, (_, g) in MODELS.items() if g is not None]
#: the models equivariant to all of O(3)
O3_EQUIVARIANT = [name for name, (_, g) in MODELS.items() if isinstance(g, str)]
_CACHE: dict = {}


def model_params(names=tuple(MODELS)) -> list:
    """``pytest.param`` per model name (the class must exist: a missing one is an error here)."""
    missing = [name for name in names if not hasattr(gdl.models, name)]
    if missing:
        raise AttributeError(f"gdl.models has no {missing}: the strategy tests name every model")
    return [pytest.param(name, id=name) for name in names]


def make_model(name: str, targets=ALL_TARGETS, seed: int = 0, **overrides) -> torch.nn.Module:
    """A fresh float64 model (the irreps models are built once per session and deep-copied: e3nn's
    code generation dominates their construction)."""
    import copy

    kwargs, _ = MODELS[name]
    key = (name, tuple(str(t) for t in targets), seed, tuple(sorted(overrides.items())))
    if key not in _CACHE:
        torch.manual_seed(seed)
        with default_dtype(torch.float64):
            _CACHE[key] = getattr(gdl.models, name)(targets, **{**kwargs, **overrides}).double()
    return copy.deepcopy(_CACHE[key])


def model_group(name: str):
    return MODELS[name][1]


def batch(seed: int = 1, dtype: torch.dtype = torch.float64, num_graphs: int = 3):
    return random_molecules(
        num_graphs=num_graphs, min_nodes=4, max_nodes=7, num_types=5, seed=seed, dtype=dtype
    )


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / max(float(a.norm()), float(b.norm()), 1e-300))


def train_steps(
    strategy: torch.nn.Module, steps: int = 3, lr: float = 1e-2, dtype: torch.dtype = torch.float32
) -> list[float]:
    """A few Adam steps (in ``dtype``, float32 as in training) on random molecules and random typed
    targets with the strategy's regularizer added; asserts every loss, gradient and parameter stays
    finite; returns the losses."""
    strategy = strategy.to(dtype).train()
    opt = torch.optim.Adam(strategy.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        data = batch(seed=10 + step, dtype=dtype)
        gen = torch.Generator().manual_seed(step)
        with default_dtype(dtype):
            out = strategy(data)
            loss = 0.0
            for t in strategy.targets:
                rows = data.num_graphs if t.level == "graph" else data.num_nodes
                y = torch.randn(rows, t.irreps.dim, generator=gen, dtype=torch.float64).to(dtype)
                loss = loss + (out[t.name] - y).pow(2).mean()
            loss = loss + strategy.regularizer()
        assert torch.isfinite(loss), (step, loss)
        opt.zero_grad()
        loss.backward()
        for name, p in strategy.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), f"non-finite gradient of {name} at step {step}"
        opt.step()
        losses.append(float(loss.detach()))
    for name, p in strategy.named_parameters():
        assert torch.isfinite(p).all(), name
    return losses


SCALAR_AND_VECTOR = (Target("energy", "0e", "graph"), Target("dipole", "1o", "graph"))
PI = math.pi
