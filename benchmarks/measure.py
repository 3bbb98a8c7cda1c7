"""The measurements of the benchmark runner; each runs in one process (usually a fresh subprocess,
:func:`benchmarks.harness.run_isolated`) and returns a JSON-able dict.

* :func:`train` — training steps (forward, backward, Adam step) on a workload: per-step wall times
  (and the forward+backward part of each), the peak memory growth over warm-up and timed steps
  above the state after the model, optimizer and inputs were built;
* :func:`flops` — the FLOPs of one forward+backward (``torch.utils.flop_counter.FlopCounterMode``:
  matrix products and convolutions only) and the median time of forward+backward on the same input;
* :func:`gemm` — the FLOP rate of a large float32 matrix product (the machine's reference);
* :func:`compile_vs_eager` — training steps of the eager model and of ``torch.compile(model)`` on
  one fixed input, interleaved step by step, the time of the first compiled step, and the
  compiled loss and gradients' distance from the eager ones;
* :func:`pair` — two models (gdl and a peer) on the same batches in one process, their training
  steps and forward passes interleaved step by step (A B, B A, A B, ...), so that a change of the
  machine's load falls on both alike.

A workload is a dict: ``{"type": "qm9", "sample": path, "batch_size": b, "num_batches": n}`` (a
file of :func:`benchmarks.workloads.save_qm9_sample`) or ``{"type": "galaxy", "num_points": n,
"k": k}``. ``settings`` holds ``device``, ``warmup`` (``"first"``: one step on the first input,
``"tiny"``: one step on a 2-molecule batch, for very slow peers), ``min_steps``, ``max_steps``,
``budget_s``.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import torch

from .harness import PeakMemory, report_progress, sync, time_steps
from .models import build
from .workloads import galaxy_cloud, load_qm9_sample, molecule_batches

__all__ = ["compile_vs_eager", "flops", "gemm", "load_workload", "pair", "train"]


def load_workload(workload: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """``(inputs, tiny)``: the batches of a workload and a 2-molecule batch (QM9 only, else ``[]``)."""
    if workload["type"] == "qm9":
        sample = load_qm9_sample(workload["sample"])
        batches = molecule_batches(
            sample, workload["batch_size"], workload.get("num_batches"), workload.get("radius")
        )
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
    """Training steps of the eager model and of ``torch.compile(model)`` (the same parameters and
    optimizer) on the first input, interleaved step by step (E C, C E, ...) as in :func:`pair`, so
    that a change of the machine's load falls on both alike; and, before any optimizer step, how far
    the compiled loss and gradients are from the eager ones at the same weights
    (``loss_rel_diff``; ``grad_rel_diff``: max over parameters of max |g_c - g_e| / max |g_e|)."""
    device = settings["device"]
    model, batches, inputs, _, info = _setup(spec, workload, device)
    x = inputs[0]
    opt = torch.optim.Adam(model.module.parameters(), lr=1e-4)
    params = [p for p in model.module.parameters() if p.requires_grad]
    compiled_module = torch.compile(model.module, backend=settings.get("compile_backend", "inductor"))

    def loss_and_grads(forward) -> tuple[float, list[torch.Tensor | None]]:
        opt.zero_grad(set_to_none=True)
        loss = model.loss_of(forward(x))
        loss.backward()
        sync(device)
        return float(loss.detach()), [None if p.grad is None else p.grad.detach().clone() for p in params]

    loss_e, grads_e = loss_and_grads(model.module)  # eager warm-up, at the initial weights
    t0 = time.perf_counter()
    loss_c, grads_c = loss_and_grads(compiled_module)  # compiles forward and backward
    compile_s = time.perf_counter() - t0
    grad_diff = 0.0
    for ge, gc in zip(grads_e, grads_c):
        if ge is None or gc is None:
            if ge is not gc:
                grad_diff = math.inf  # a gradient that one of them does not produce
            continue
        scale = float(ge.abs().max())
        diff = float((gc - ge).abs().max())
        grad_diff = max(grad_diff, diff / scale if scale > 0 else diff)
    steps = {
        "eager": _train_step(model, model.module, opt, device),
        "compiled": _train_step(model, compiled_module, opt, device),
    }
    for k in ("eager", "compiled"):  # warm-up: one full step (with the optimizer) each
        steps[k](x)
    out: dict[str, list[dict[str, float]]] = {"eager": [], "compiled": []}
    min_steps, max_steps = settings.get("min_steps", 3), settings.get("max_steps", 32)
    budget, start, k = settings.get("budget_s", 30.0), time.perf_counter(), 0
    while k < max_steps and (k < min_steps or time.perf_counter() - start < budget):
        for name in ("eager", "compiled") if k % 2 == 0 else ("compiled", "eager"):
            out[name] += time_steps(steps[name], [x], device, min_steps=1, max_steps=1, budget_s=0.0)
        k += 1
    info.update(_describe(batches[:1]))
    return {
        **info,
        **out,
        "interleaved": True,
        "first_compiled_step_s": compile_s,
        "loss_rel_diff": abs(loss_c - loss_e) / abs(loss_e) if loss_e else abs(loss_c - loss_e),
        "grad_rel_diff": grad_diff,
        "backend": settings.get("compile_backend", "inductor"),
    }


def pair(specs: list[dict[str, Any]], workload: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Training steps and forward passes (``torch.no_grad``) of two models on the same batches,
    interleaved (module docstring). ``settings["flush_denormal"]`` sets ``torch.set_flush_denormal``
    for both. Returns ``{"models": [{"parameters", "steps", "forward"} per spec], **batch sizes}``;
    step records as :func:`train` (``fwd_bwd_s``), forward records ``{"input", "s"}``."""
    device = settings["device"]
    flush = bool(settings.get("flush_denormal", False))
    if flush and not torch.set_flush_denormal(True):
        raise RuntimeError("flush_denormal requested but this CPU does not support it")
    torch.manual_seed(0)
    batches, _ = load_workload(workload)
    entries = []
    for spec in specs:
        torch.manual_seed(0)
        model = build(spec)
        model.module.to(device).train()
        inputs = [model.prepare(b.to(device)) for b in batches]
        opt = torch.optim.Adam(model.module.parameters(), lr=1e-4)
        params = sum(p.numel() for p in model.module.parameters() if p.requires_grad)
        entries.append(
            {"model": model, "inputs": inputs, "step": _train_step(model, model.module, opt, device)}
        )
        entries[-1]["out"] = {"parameters": params, "steps": [], "forward": []}

    def forward(model):
        def run(x) -> None:
            with torch.no_grad():
                model.module(x)

        return run

    for e in entries:  # warm-up: one step and one forward pass each
        e["step"](e["inputs"][0])
        forward(e["model"])(e["inputs"][0])
    min_steps, max_steps = settings.get("min_steps", 3), settings.get("max_steps", 32)
    budget, start, k = settings.get("budget_s", 30.0), time.perf_counter(), 0
    while k < max_steps and (k < min_steps or time.perf_counter() - start < budget):
        order = entries if k % 2 == 0 else entries[::-1]
        for e in order:
            x = [e["inputs"][k % len(e["inputs"])]]
            rec = time_steps(e["step"], x, device, min_steps=1, max_steps=1, budget_s=0.0)[0]
            e["out"]["steps"].append({**rec, "input": k % len(e["inputs"])})
        for e in order:
            x = [e["inputs"][k % len(e["inputs"])]]
            rec = time_steps(forward(e["model"]), x, device, min_steps=1, max_steps=1, budget_s=0.0)[0]
            e["out"]["forward"].append({**rec, "input": k % len(e["inputs"])})
        k += 1
    if flush:
        torch.set_flush_denormal(False)
    return {"models": [e["out"] for e in entries], "flush_denormal": flush, **_describe(batches)}
