"""benchmarks.measure.compile_vs_eager on a tiny model: interleaved steps and the numerical check."""

import pytest

import benchmarks.measure as measure
from benchmarks.workloads import random_qm9_like_sample, save_qm9_sample

SPEC = {"kind": "gdl", "name": "EGNN", "kwargs": {"hidden_channels": 8, "num_layers": 2}}
SETTINGS = {"device": "cpu", "compile_backend": "eager", "min_steps": 3, "max_steps": 3, "budget_s": 0.0}


@pytest.fixture
def workload(tmp_path):
    path = save_qm9_sample(tmp_path / "s.pt", random_qm9_like_sample(8, seed=0))
    return {"type": "qm9", "sample": str(path), "batch_size": 4, "num_batches": 1}


def test_compile_vs_eager_interleaves_and_compares_gradients(workload):
    out = measure.compile_vs_eager(SPEC, workload, SETTINGS)
    assert out["interleaved"] and len(out["eager"]) == len(out["compiled"]) == 3
    assert all(r["s"] > 0 and "fwd_bwd_s" in r for r in out["eager"] + out["compiled"])
    # the eager backend runs the same kernels: the compiled step matches the eager one
    assert out["grad_rel_diff"] < 1e-5 and out["loss_rel_diff"] < 1e-6


def test_compile_vs_eager_sees_a_compiled_model_that_differs(workload, monkeypatch):
    def wrong_compile(module, backend=None):  # a "compiled" model whose outputs are doubled
        return lambda x: {k: 2 * v for k, v in module(x).items()}

    monkeypatch.setattr(measure.torch, "compile", wrong_compile)
    out = measure.compile_vs_eager(SPEC, workload, SETTINGS)
    assert out["grad_rel_diff"] > 0.5 and out["loss_rel_diff"] > 0.5
