"""The change-of-units check of the models that read coordinates in units of
``inputs.length_scale`` (:class:`gdl.models.NodeInputs`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from gdl.testing import default_dtype
from gdl.testing.data import random_molecules


def assert_change_of_units(build: Callable[[float, float], torch.nn.Module], lam: float = 37.0) -> None:
    """``build(cutoff, length_scale)`` returns a float64 model in eval mode with the same weights on
    every call, reading the vector input ``vel``. With ``pos``, ``edge_vec``, ``cutoff`` and
    ``length_scale`` all times ``lam`` (``vel`` is not a length and stays as it is) every output is
    the same, on batches without and with ``edge_vec`` (``pos[j] - pos[i]`` plus a perturbation, so
    that a model reading ``pos`` instead would fail); with the same coordinates and cutoff but
    ``length_scale = 1`` every output changes."""
    batch = random_molecules(num_graphs=2, min_nodes=4, max_nodes=6, seed=0)
    g = torch.Generator().manual_seed(1)
    batch.vel = torch.randn(batch.num_nodes, 3, generator=g, dtype=torch.float64)
    with_vec = batch.clone()
    j, i = batch.edge_index
    with_vec.edge_vec = (
        batch.pos[j] - batch.pos[i] + 0.1 * torch.randn(j.numel(), 3, generator=g, dtype=torch.float64)
    )
    with torch.no_grad():
        ref_model, model, raw_model = build(5.0, 1.0), build(5.0 * lam, lam), build(5.0 * lam, 1.0)
        for b in (batch, with_vec):
            scaled = b.clone()
            scaled.pos = b.pos * lam
            if "edge_vec" in b:
                scaled.edge_vec = b.edge_vec * lam
            ref, out, raw = ref_model(b), model(scaled), raw_model(scaled)
            for k in ref:
                torch.testing.assert_close(out[k], ref[k], rtol=1e-10, atol=1e-12)
                assert not torch.allclose(raw[k], ref[k], rtol=1e-3), k
    assert model.cutoff == 5.0 * lam and model.unit_cutoff == 5.0 and model.length_scale == lam


def model_builder(model_cls: type, targets, **kwargs) -> Callable[[float, float], torch.nn.Module]:
    """The ``build(cutoff, length_scale)`` of :func:`assert_change_of_units` for ``model_cls(targets,
    inputs={"vector_inputs": ["vel"], "length_scale": ...}, cutoff=..., **kwargs)``: float64, seed 0
    (the same weights on every call), eval mode."""

    def build(cutoff: float, length_scale: float) -> torch.nn.Module:
        torch.manual_seed(0)
        inputs = {"vector_inputs": ["vel"], "length_scale": length_scale}
        with default_dtype(torch.float64):
            return model_cls(targets, inputs=inputs, cutoff=cutoff, **kwargs).eval()

    return build
