"""The measurements of the benchmark runner; each runs in one process (usually a fresh subprocess,
:func:`benchmarks.harness.run_isolated`) and returns a JSON-able dict.

* :func:`train` — training steps (forward, backward, Adam step) on a workload: per-step wall times
  (and the forward+backward part of each), the peak memory growth over warm-up and timed steps
  above the state after the model, optimizer and inputs were built;
* :func:`flops` — the FLOPs of one forward+backward (``torch.utils.flop_counter.FlopCounterMode``:
  matrix products and convolutions only) and the median time of forward+backward on the same input;
* :func:`gemm` — the FLOP rate of a large float32 matrix product (the machine's reference);
* :func:`compile_vs_eager` — training steps of the eager model and of ``torch.compile(model)`` on
  one fixed input, and the time of the first compiled step.

A workload is a dict: ``{"type": "qm9", "sample": path, "batch_size": b, "num_batches": n}`` (a
file of :func:`benchmarks.workloads.save_qm9_sample`) or ``{"type": "galaxy", "num_points": n,
"k": k}``. ``settings`` holds ``device``, ``warmup`` (``"first"``: one step on the first input,
``"tiny"``: one step on a 2-molecule batch, for very slow peers), ``min_steps``, ``max_steps``,
``budget_s``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from .harness import PeakMemory, report_progress, sync, time_steps
from .models import build
from .workloads import galaxy_cloud, load_qm9_sample, molecule_batches

__all__ = ["compile_vs_eager", "flops", "gemm", "load_workload", "train"]


def load_workload(workload: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """``(inputs, tiny)``: the batches of a workload and a 2-molecule batch (QM9 only, else ``[]``)."""
    if workload["type"] == "qm9":
        sample = load_qm9_sample(workload["sample"])
        batches = molecule_batches(sample, workload["batch_size"], workload.get("num_batches"))
        return batches, molecule_batches(sample, 2, 1)
    if workload["type"] == "galaxy":
        return [galaxy_cloud(workload["num_points"], workload.get("k", 16), workload.get("seed", 0))], []
    raise ValueError(f"unknown workload type {workload['type']!r}")


def _describe(inputs: list[Any]) -> dict[str, float]:
    return {
        "graphs_per_input": statistics.mean(int(x.num_graphs) for x in inputs),
        "nodes_per_input": statistics.mean(int(x.num_nodes) for x in inputs),
        "edges_per_input": statistics.mean(int(x.edge_index.shape[1]) for x in inputs),
        "num_inputs": len(inputs),
    }


def _setup(spec: dict[str, Any], workload: dict[str, Any], device: str):
    torch.manual_seed(0)
    batches, tiny = load_workload(workload)
    model = build(spec)
    model.module.to(device).train()
    inputs = [model.prepare(b.to(device)) for b in batches]
    tiny_inputs = [model.prepare(b.to(device)) for b in tiny]
    params = sum(p.numel() for p in model.module.parameters() if p.requires_grad)
    return model, batches, inputs, tiny_inputs, {"parameters": params, **_describe(batches)}


def _train_step(model, forward, opt, device: str):
    def step(x) -> dict[str, float]:
        opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        model.loss_of(forward(x)).backward()
        sync(device)
        t1 = time.perf_counter()
        opt.step()
        return {"fwd_bwd_s": t1 - t0}

    return step


def _warmup(settings: dict[str, Any], inputs: list[Any], tiny: list[Any]) -> list[Any]:
    if settings.get("warmup", "first") == "tiny" and tiny:
        return tiny[:1]
    return inputs[:1]


def _steps_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings[k] for k in ("min_steps", "max_steps", "budget_s") if k in settings}


def train(spec: dict[str, Any], workload: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Training steps on the workload (module docstring)."""
    device = settings["device"]
    model, _, inputs, tiny, info = _setup(spec, workload, device)
    opt = torch.optim.Adam(model.module.parameters(), lr=1e-4)
    memory = PeakMemory(device)
    memory.start()
    report_progress(baseline_bytes=memory.baseline, stage="steps")
    step = _train_step(model, model.module, opt, device)
    t0 = time.perf_counter()
    warm = _warmup(settings, inputs, tiny)
    for x in warm:
        step(x)
    warmup_s = time.perf_counter() - t0
    records = time_steps(step, inputs, device, **_steps_kwargs(settings))
    return {
        **info,
        "steps": records,
        "warmup_s": warmup_s,
        "peak_bytes": memory.growth(),
        "baseline_bytes": memory.baseline,
    }


def flops(spec: dict[str, Any], workload: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """FLOPs of one forward+backward on the first input, and its median time (module docstring)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = settings["device"]
    model, batches, inputs, _, info = _setup(spec, workload, device)
    x = inputs[0]

    def fwd_bwd(x) -> None:
        model.module.zero_grad(set_to_none=True)
        model.loss_of(model.module(x)).backward()

    records = time_steps(fwd_bwd, [x], device, warmup=[x], **_steps_kwargs(settings))
    counter = FlopCounterMode(display=False)
    with counter:
        fwd_bwd(x)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    info.update(_describe(batches[:1]))
    return {**info, "flops": int(counter.get_total_flops()), "flops_by_op": by_op, "steps": records}


def gemm(n: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Median time of an ``n x n`` float32 matrix product and its FLOP rate ``2 n^3 / t``."""
    device = settings["device"]
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device) for _ in range(2))
    out = torch.empty(n, n, device=device)
    records = time_steps(
        lambda _: torch.matmul(a, b, out=out), [None], device, warmup=[None, None], **_steps_kwargs(settings)
    )
    return {"n": n, "flops": 2 * n**3, "steps": records}


def compile_vs_eager(
    spec: dict[str, Any], workload: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """Training steps of the eager and the compiled model on the first input (module docstring)."""
    device = settings["device"]
    model, batches, inputs, _, info = _setup(spec, workload, device)
    x = inputs[:1]
    opt = torch.optim.Adam(model.module.parameters(), lr=1e-4)
    eager = time_steps(
        _train_step(model, model.module, opt, device), x, device, warmup=x, **_steps_kwargs(settings)
    )
    compiled_module = torch.compile(model.module, backend=settings.get("compile_backend", "inductor"))
    step = _train_step(model, compiled_module, opt, device)
    sync(device)
    t0 = time.perf_counter()
    step(x[0])  # compiles forward and backward
    sync(device)
    compile_s = time.perf_counter() - t0
    compiled = time_steps(step, x, device, warmup=x, **_steps_kwargs(settings))
    info.update(_describe(batches[:1]))
    return {
        **info,
        "eager": eager,
        "compiled": compiled,
        "first_compiled_step_s": compile_s,
        "backend": settings.get("compile_backend", "inductor"),
    }
