"""GroupConvNet's peak training memory and step time: this checkout against an older copy of gdl.

    mkdir -p /tmp/gdl_old && git archive b6debfb gdl | tar -x -C /tmp/gdl_old
    python -m benchmarks.regular_memory --old-src /tmp/gdl_old --qm9-sample qm9_sample.pt

``--old-src`` is a directory holding an old ``gdl`` package; it is imported as ``gdl_old`` (the
package's imports are relative), so both versions run side by side. The model is ``GroupConvNet``
(one ``U0`` target, 60 icosahedral anchors, ``--layers`` layers, each width of ``--widths``) on QM9
batches of 32 molecules with radius-5 Å graphs (:func:`benchmarks.workloads.molecule_batches`), one
torch thread by default. Two measurements, per width:

* **memory** (and the step time of the same steps): one fresh process per (version, width,
  repeat), run in turn (old new, new old, ...), with the glibc settings of ``make bench``
  (``--allocator retain``): the growth of the peak resident set (``VmHWM``, reset once the model,
  the optimizer and the batches are built) over one warm-up step and ``--steps`` training steps
  (forward, backward, Adam), and their median time;
* **interleaved step time**: both versions in one process with the same weights (the old model
  loads the new one's state dict; the largest output difference is printed), their training steps
  alternating (A B, B A, ...), so that a change of the machine's load falls on both alike; the
  ratio old / new of the median forward+backward times, wall and CPU (the process's CPU time,
  which a loaded machine's waiting does not inflate).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .harness import PeakMemory
from .run import ALLOCATORS
from .workloads import load_qm9_sample, molecule_batches, random_qm9_like_sample

__all__ = ["build_model", "import_old", "main", "measure_memory", "measure_interleaved"]

TARGET = "U0"
BATCH_SIZE = 32
RADIUS = 5.0


def import_old(src: str | os.PathLike, name: str = "gdl_old"):
    """The ``gdl`` package under ``src`` (``src/gdl/__init__.py``), imported as ``name``."""
    init = Path(src) / "gdl" / "__init__.py"
    if not init.is_file():
        raise FileNotFoundError(f"--old-src {str(src)!r} has no gdl/__init__.py")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _package(version: str, old_src: str | None):
    if version == "new":
        import gdl

        return gdl
    return import_old(old_src)


def build_model(pkg, width: int, layers: int, anchors: str) -> torch.nn.Module:
    """``GroupConvNet([U0], hidden_channels=width, num_layers=layers)`` of the package ``pkg``
    over the named finite group's rotations, seeded with 0."""
    import importlib

    groups = importlib.import_module(f"{pkg.__name__}.groups")
    anchor_mod = importlib.import_module(f"{pkg.__name__}.groups.anchors")
    models = importlib.import_module(f"{pkg.__name__}.models")
    torch.manual_seed(0)
    rotations = getattr(groups, anchors)()
    return models.GroupConvNet(
        [TARGET],
        hidden_channels=width,
        num_layers=layers,
        anchors=anchor_mod.GroupAnchors(rotations, name=anchors),
    )


def _batches(args) -> list[Any]:
    sample = (
        random_qm9_like_sample(4 * BATCH_SIZE)
        if args.qm9_sample is None
        else load_qm9_sample(args.qm9_sample)
    )
    return molecule_batches(sample, args.batch_size, args.steps + 1, RADIUS)


def _loss(out: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(v.pow(2).mean() for v in out.values())


def _step(model, opt, batch) -> tuple[float, float]:
    """One training step; ``(wall, CPU)`` seconds of its forward+backward (the CPU time of this
    process, which a loaded machine's waiting does not inflate)."""
    opt.zero_grad(set_to_none=True)
    t0, c0 = time.perf_counter(), time.process_time()
    _loss(model(batch)).backward()
    t1, c1 = time.perf_counter(), time.process_time()
    opt.step()
    return t1 - t0, c1 - c0


def measure_memory(args, version: str, width: int) -> dict[str, Any]:
    """One version and width in this process (the child of :func:`main`): peak resident growth over
    a warm-up step and ``args.steps`` training steps, and their forward+backward times."""
    torch.set_num_threads(args.threads)
    pkg = _package(version, args.old_src)
    batches = _batches(args)
    model = build_model(pkg, width, args.layers, args.anchors).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    memory = PeakMemory("cpu")
    memory.start()
    warm = _step(model, opt, batches[0])[0]
    times = [_step(model, opt, b) for b in batches[1 : args.steps + 1]]
    return {
        "version": version,
        "width": width,
        "parameters": sum(p.numel() for p in model.parameters()),
        "edges": int(batches[0].edge_index.shape[1]),
        "nodes": int(batches[0].num_nodes),
        "peak_mib": memory.growth() / 2**20,
        "warmup_s": warm,
        "fwd_bwd_s": [t[0] for t in times],
        "fwd_bwd_cpu_s": [t[1] for t in times],
    }


def measure_interleaved(args, width: int) -> dict[str, Any]:
    """Both versions in this process with the same weights, training steps alternating."""
    import gdl

    torch.set_num_threads(args.threads)
    batches = _batches(args)
    new = build_model(gdl, width, args.layers, args.anchors).train()
    old = build_model(import_old(args.old_src), width, args.layers, args.anchors).train()
    old.load_state_dict(new.state_dict())
    with torch.no_grad():
        a, b = new(batches[0]), old(batches[0])
        diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    opts = {m: torch.optim.SGD(m.parameters(), lr=0.0) for m in (new, old)}  # weights stay equal
    times: dict[str, list[tuple[float, float]]] = {"new": [], "old": []}
    for m in (new, old):  # warm-up
        _step(m, opts[m], batches[0])
    for s in range(args.interleaved_steps):
        order = (("old", old), ("new", new)) if s % 2 == 0 else (("new", new), ("old", old))
        for name, m in order:
            times[name].append(_step(m, opts[m], batches[1 + s % args.steps]))
    med = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    return {
        "width": width,
        "max_output_diff": diff,
        "fwd_bwd_s": {k: [t[0] for t in v] for k, v in times.items()},
        "fwd_bwd_cpu_s": {k: [t[1] for t in v] for k, v in times.items()},
        "median_s": med,
        "median_cpu_s": cpu,
        "old_over_new": med["old"] / med["new"],
        "old_over_new_cpu": cpu["old"] / cpu["new"],
    }


def _child(args, task: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.regular_memory", "--child", json.dumps(task), *args.passthrough]
    env = {**os.environ, **ALLOCATORS[args.allocator]}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {task} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.regular_memory", description=__doc__.split("\n")[0]
    )
    p.add_argument("--old-src", required=True, help="directory holding the old gdl package (gdl/)")
    p.add_argument("--qm9-sample", default=None, help="QM9 sample file (else random QM9-sized molecules)")
    p.add_argument("--widths", default="32,152", help="comma-separated widths. Default 32,152")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--anchors", default="icosahedral")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--steps", type=int, default=3, help="timed steps per memory process. Default 3")
    p.add_argument("--repeats", type=int, default=2, help="memory processes per (version, width)")
    p.add_argument("--interleaved-steps", type=int, default=4, help="steps per version, 0: skip")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--allocator", choices=sorted(ALLOCATORS), default="retain")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.passthrough = [
        a
        for k in ("old_src", "qm9_sample", "layers", "anchors", "batch_size", "steps", "threads")
        if getattr(args, k) is not None
        for a in (f"--{k.replace('_', '-')}", str(getattr(args, k)))
    ]
    return args


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.child is not None:
        task = json.loads(args.child)
        result = measure_memory(args, task["version"], task["width"])
        print(json.dumps(result))
        return result
    widths = [int(w) for w in args.widths.split(",")]
    memory = []
    for rep in range(args.repeats):
        for width in widths:
            for version in ("old", "new") if rep % 2 == 0 else ("new", "old"):
                r = _child(args, {"version": version, "width": width})
                memory.append(r)
                print(
                    f"memory {version} width {width} ({r['parameters']:,} parameters, {r['edges']:,} edges): "
                    f"peak {r['peak_mib']:,.0f} MiB, fwd+bwd median "
                    f"{statistics.median(r['fwd_bwd_s']):.2f} s "
                    f"(CPU {statistics.median(r['fwd_bwd_cpu_s']):.2f} s)",
                    flush=True,
                )
    interleaved = []
    if args.interleaved_steps > 0:
        for width in widths:
            r = measure_interleaved(args, width)
            interleaved.append(r)
            print(
                f"interleaved width {width}: old {r['median_s']['old']:.2f} s, "
                f"new {r['median_s']['new']:.2f} s (old/new {r['old_over_new']:.2f}; CPU time "
                f"{r['median_cpu_s']['old']:.2f} / {r['median_cpu_s']['new']:.2f} s, "
                f"old/new {r['old_over_new_cpu']:.2f}); "
                f"max output difference {r['max_output_diff']:.1e}",
                flush=True,
            )
    result = {
        "argv": sys.argv[1:] if argv is None else list(argv),
        "memory": memory,
        "interleaved": interleaved,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
