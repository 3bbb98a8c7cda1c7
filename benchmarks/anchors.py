"""Anchors: equivariance error and cost of GroupConvNet versus the number and kind of anchors.

    python -m benchmarks.anchors                 # both tables (a few minutes on 2 CPU cores)
    python -m benchmarks.anchors --skip-memory   # the error/time table only
    python -m benchmarks.anchors --seeds 2 --sizes 12 60   # quicker

Table 1: for an untrained ``GroupConvNet`` (default width 32, 3 group convolutions) on QM9-sized
molecules, the relative equivariance error under random SO(3) rotations (float64, mean over seeds
of the maximum over rotations, averaged over the graph- and node-level target of each type) and
the forward time (float32, a batch of 32 molecules, eval mode, median), for anchor sets of 12 to
240 elements: finite groups (exact only for their own rotations), super-Fibonacci sets, fixed
random sets, Haar anchors redrawn per pass, and fixed random sets read out with plain quadrature
(``QuadratureAnchorReadout``) instead of the default least-squares Fourier weights.

Table 2: peak memory of one forward pass (and forward + backward) on a 1,000-point cloud with a
k-nearest-neighbour graph, measured as the growth of the peak resident set size of a fresh
subprocess per configuration, so that
it includes everything torch allocates on CPU: the peak RSS (``VmHWM``) is reset to the current RSS
through ``/proc/self/clear_refs`` after a warm-up pass on a tiny graph, and the increase during
the measured pass is reported (Linux).

The data source is a parameter (``make_batch``); from the command line only ``--data random`` is
available here: molecule-like random point clouds of QM9 size (18 atoms, 5 atom types, full graphs,
:func:`gdl.testing.data.random_molecule`).
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable

import torch
from torch_geometric.data import Batch, Data

from gdl.dtype import default_dtype
from gdl.groups import icosahedral, octahedral, tetrahedral
from gdl.groups.anchors import AnchorSet, GroupAnchors, HaarAnchors, RandomAnchors, SuperFibonacciAnchors
from gdl.keys import Target
from gdl.models import GroupConvNet
from gdl.nn import GroupConv, LiftingConv, QuadratureAnchorReadout
from gdl.testing import equivariance_error
from gdl.testing.data import random_molecule

TARGETS = (
    Target("energy", "0e", "graph"),
    Target("dipole", "1o", "graph"),
    Target("quadrupole", "2e", "graph"),
    Target("charge", "0e", "node"),
    Target("force", "1o", "node"),
    Target("shape", "2e", "node"),
)
SIZES = (12, 24, 60, 120, 240)
GROUPS = {
    12: ("tetrahedral T", tetrahedral),
    24: ("octahedral O", octahedral),
    60: ("icosahedral I", icosahedral),
}


class QuadratureGroupConvNet(GroupConvNet):
    """GroupConvNet whose readouts use plain quadrature, (1/A) sum_a D^l(R_a) u_a."""

    layers = {**GroupConvNet.layers, "so3": (LiftingConv, GroupConv, QuadratureAnchorReadout)}


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def qm9_sized_molecules(num_graphs: int, seed: int, dtype: torch.dtype = torch.float64) -> Batch:
    """``num_graphs`` random molecule-like clouds of 18 atoms, 5 atom types, full graphs."""
    return Batch.from_data_list(
        [random_molecule(18, num_types=5, seed=seed * 1000 + k, dtype=dtype) for k in range(num_graphs)]
    )


DATA_SOURCES: dict[str, Callable[[int, int, torch.dtype], Batch]] = {"random": qm9_sized_molecules}


# ---------------------------------------------------------------------------------------------
# table 1: error and time
# ---------------------------------------------------------------------------------------------
def families(n: int, seed: int) -> dict[str, tuple[type[GroupConvNet], AnchorSet] | None]:
    """The anchor sets compared at size ``n`` (``None`` where a family has no set of that size)."""
    group = GROUPS.get(n)
    return {
        "finite group": (GroupConvNet, GroupAnchors(group[1](), name=group[0])) if group else None,
        "super-Fibonacci": (GroupConvNet, SuperFibonacciAnchors(n)),
        "random (fixed)": (GroupConvNet, RandomAnchors(n, seed=seed)),
        "Haar (redrawn per pass)": (GroupConvNet, HaarAnchors(n, seed=seed)),
        "random, plain quadrature readout": (QuadratureGroupConvNet, RandomAnchors(n, seed=seed)),
    }


def build(cls: type[GroupConvNet], anchors: AnchorSet, seed: int, dtype: torch.dtype) -> GroupConvNet:
    torch.manual_seed(seed)
    with default_dtype(dtype):
        return cls(TARGETS, anchors=anchors).to(dtype).eval()


def rotation_errors(model: GroupConvNet, batch: Batch, seed: int, n_rotations: int) -> dict[str, float]:
    """Relative error under random SO(3) rotations, per irrep type (mean of graph and node level)."""
    errors = equivariance_error(
        model, batch, group="SO3", translation=False, permutation=False, n_samples=n_rotations, seed=seed
    ).by_transform("rotation")
    return {
        ir: statistics.mean(errors[t.name] for t in TARGETS if str(t.irreps) == f"1x{ir}")
        for ir in ("0e", "1o", "2e")
    }


def forward_ms(model: GroupConvNet, batch: Batch, repeats: int) -> float:
    with torch.no_grad():
        model(batch)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def error_table(
    sizes=SIZES,
    seeds: int = 5,
    n_rotations: int = 3,
    error_graphs: int = 4,
    time_graphs: int = 32,
    repeats: int = 5,
    make_batch: Callable[[int, int, torch.dtype], Batch] = qm9_sized_molecules,
) -> list[dict]:
    rows = []
    time_batch = make_batch(time_graphs, 12345, torch.float32)
    for n in sizes:
        for name in families(n, 0):
            errs, times = [], []
            for seed in range(seeds):
                entry = families(n, seed)[name]
                if entry is None:
                    break
                cls, anchors = entry
                errs.append(
                    rotation_errors(
                        build(cls, anchors, seed, torch.float64),
                        make_batch(error_graphs, seed, torch.float64),
                        seed,
                        n_rotations,
                    )
                )
                if seed == 0:
                    times.append(forward_ms(build(cls, anchors, seed, torch.float32), time_batch, repeats))
            if not errs:
                continue
            row = {"anchors": n, "family": name, "time_ms": times[0]}
            for ir in ("0e", "1o", "2e"):
                vals = [e[ir] for e in errs]
                row[ir] = (statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def _format_row(row: dict) -> str:
    cells = [f"{row['anchors']:>4}", f"{row['family']:<33}"]
    cells += [f"{row[ir][0]:9.2e} ± {row[ir][1]:7.1e}" for ir in ("0e", "1o", "2e")]
    cells += [f"{row['time_ms']:9.1f}"]
    return "| " + " | ".join(cells) + " |"


TABLE1_HEADER = (
    "| A    | anchors                           | error 0e              | error 1o              "
    "| error 2e              | fwd ms    |\n"
    "|------|-----------------------------------|-----------------------|-----------------------"
    "|-----------------------|-----------|"
)


# ---------------------------------------------------------------------------------------------
# table 2: memory (one fresh process per configuration)
# ---------------------------------------------------------------------------------------------
def _status_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process from ``/proc/self/status``, in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def _memory_child(num_points: int, k: int, num_anchors: int, backward: bool, queue) -> None:
    import gc

    from torch_cluster import knn_graph

    torch.set_num_threads(1)
    torch.manual_seed(0)
    pos = torch.randn(num_points, 3) * (num_points / 18) ** (1 / 3)  # QM9-like density
    z = torch.randint(1, 6, (num_points,))
    data = Batch.from_data_list([Data(pos=pos, z=z, edge_index=knn_graph(pos, k=k))])
    model = GroupConvNet(TARGETS, anchors=RandomAnchors(num_anchors, seed=0))
    small = Batch.from_data_list([random_molecule(4, num_types=5, dtype=torch.float32)])
    with torch.set_grad_enabled(backward):  # warm up every code path on a tiny graph
        out = model(small)
        if backward:
            sum(v.sum() for v in out.values()).backward()
    del out
    model.zero_grad(set_to_none=True)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak RSS (VmHWM) to the current RSS
        fh.write("5")
    base = _status_mib("VmRSS")
    with torch.set_grad_enabled(backward):
        out = model(data)
        if backward:
            sum(v.sum() for v in out.values()).backward()
    queue.put(_status_mib("VmHWM") - base)


def peak_memory_mib(num_points: int, k: int, num_anchors: int, backward: bool) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(num_points, k, num_anchors, backward, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


MEMORY_CONFIGS = ((1000, 16, 60), (1000, 8, 60), (1000, 16, 30), (1000, 16, 120), (2000, 16, 60))


def memory_table(configs=MEMORY_CONFIGS) -> list[dict]:
    rows = []
    for n, k, a in configs:
        fwd = peak_memory_mib(n, k, a, backward=False)
        bwd = peak_memory_mib(n, k, a, backward=True)
        e = n * k
        row = {"N": n, "k": k, "E": e, "A": a, "fwd": fwd, "bwd": bwd}
        rows.append(row)
        print(
            f"| {n:>5} | {k:>3} | {e:>6} | {a:>4} | {e * a / 1e6:6.2f} | {fwd:10.0f} | {bwd:10.0f} "
            f"| {fwd * 2**20 / (e * a):8.0f} |",
            flush=True,
        )
    return rows


TABLE2_HEADER = (
    "| N     | k   | E      | A    | E·A/1e6 | fwd peak MiB | fwd+bwd MiB | fwd bytes/(E·A) |\n"
    "|-------|-----|--------|------|---------|--------------|-------------|-----------------|"
)


# ---------------------------------------------------------------------------------------------
def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{datetime.date.today()} · {cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load:.1f} · commit {commit}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rotations", type=int, default=3)
    parser.add_argument("--data", choices=sorted(DATA_SOURCES), default="random")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-errors", action="store_true")
    args = parser.parse_args(argv)

    print(f"Machine: {_machine()}")
    if not args.skip_errors:
        print(
            f"\nTable 1 — untrained GroupConvNet (hidden 32, 3 layers), data: {args.data} "
            f"(QM9-sized random molecules: 18 atoms, 5 types, full graphs). Relative rotation error in "
            f"float64, mean ± std over {args.seeds} seeds (model init and anchor draw), each the max over "
            f"{args.rotations} Haar rotations on 4 molecules, averaged over the graph- and node-level "
            f"target of each type; forward time in float32 on 32 molecules (median of 5, eval, no grad).\n"
        )
        print(TABLE1_HEADER)
        error_table(args.sizes, args.seeds, args.rotations, make_batch=DATA_SOURCES[args.data])
    if not args.skip_memory:
        print(
            "\nTable 2 — peak memory of GroupConvNet (hidden 32, 3 layers, 6 targets, float32, random fixed "
            "anchors) on a random cloud with a k-NN graph: growth of the peak RSS (VmHWM, reset before the "
            "pass) of a fresh process during one forward (no grad) and one forward + backward.\n"
        )
        print(TABLE2_HEADER)
        memory_table()


if __name__ == "__main__":
    main()
