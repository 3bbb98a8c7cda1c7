"""Speed, memory and scaling of gdl against its peers, side by side in one run.

    python -m benchmarks.run                        # everything (make bench)
    python -m benchmarks.run --quick                # small workloads: a smoke run
    python -m benchmarks.run --only qm9,flops       # some sections: qm9, pairs, scaling, compile, flops
    python -m benchmarks.run --only pairs --rows tfn_vs_nequip_l1,tfn_vs_nequip_l2   # some rows
    python -m benchmarks.run --device cuda --qm9-sample qm9_sample.pt
    python -m benchmarks.run --save-qm9-sample qm9_sample.pt   # write the QM9 sample and exit

Sections (benchmarks/README.md):

* ``qm9``: 1,024 QM9 molecules drawn with a fixed seed, batches of 32 with full graphs, 4 layers;
  training steps of ``EGNN`` (128 features) and egnn-pytorch's ``EGNN_Sparse`` (128 features,
  4 deep), ``SE3Transformer`` and se3-transformer-pytorch at matched settings (degrees 0..2,
  16 channels, 4 heads, depth 4; also at 8 molecules per batch, which fits in less memory),
  ``TFN`` (l_max 2) and ``GroupConvNet`` (60 anchors) at EGNN's parameter count, and the other
  gdl models for context. A peer that is not installed is reported as missing.
* ``pairs``: gdl beside NequIP and PyG's SchNet at matched settings (and beside itself with a full
  last layer), on the same QM9 batches with radius-5 Å graphs, the two models' training steps and
  forward passes interleaved in one process.
* ``scaling``: one training step of every gdl model (small widths) on galaxy clouds of 10³, 10⁴
  and 10⁵ points with 16 periodic nearest neighbours: time and memory per edge.
* ``compile``: ``torch.compile`` vs eager training steps of every gdl model on one QM9 batch.
* ``flops``: FLOPs of forward+backward (``FlopCounterMode``) per second, as a fraction of the
  FLOP rate of a 2048³ float32 matrix product measured in the same run.

Every measurement runs in a fresh subprocess with a memory guard (:mod:`benchmarks.harness`); a
peer that needs more memory than allowed is reported as ``out of memory at N GB``. The run writes
a JSON record to ``benchmarks/results/`` and prints the tables and ``RATIO <name> <value>`` lines.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .harness import available_memory_bytes, run_inline, run_isolated
from .models import GDL_MODELS, PEERS, count_parameters, match_hidden, peer_available
from .plans import SECTIONS, Plan, make_plan
from .record import compute_ratios, machine_info, ratio_lines, write_record
from .record_tables import markdown
from .workloads import draw_qm9_sample, random_qm9_like_sample, save_qm9_sample

__all__ = ["main", "parse_args", "print_summary", "run"]

RESULTS = Path(__file__).resolve().parent / "results"
#: Environment of the measurement subprocesses per ``--allocator``. "retain": glibc malloc never
#: uses mmap and never trims its heap, so freed blocks are reused instead of being unmapped and
#: page-faulted (and zeroed by the kernel) again at the next step; with the defaults, every tensor
#: above 32 MB costs one page fault per 4 KiB on every step, which doubles the time per edge of a
#: 10^5-point cloud and hides the scaling of the models. Applies to gdl and the peers alike.
ALLOCATORS = {
    "retain": {"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"},
    "system": {},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small workloads and widths (a smoke run)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]. Default cpu")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    p.add_argument("--models", default=",".join(GDL_MODELS), help="comma-separated gdl models to measure")
    p.add_argument(
        "--rows",
        default=None,
        help="comma-separated row ids of the qm9 and pairs sections (e.g. tfn_vs_nequip_l2); "
        "other rows of those sections are skipped. Default: every row of the selected models",
    )
    p.add_argument("--no-peers", action="store_true", help="do not run the peers (their rows say so)")
    p.add_argument(
        "--versus-commit",
        default=None,
        metavar="REV",
        help="pairs section: also each selected model vs the same model at git revision REV "
        "(RATIO <model>_vs_<REV>, old time / new time)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads. Default: the available cores")
    p.add_argument(
        "--mem-limit-gb",
        type=float,
        default=None,
        help="kill a measurement whose resident memory exceeds this. Default: available - 2 GB",
    )
    p.add_argument("--timeout-s", type=float, default=1800.0, help="per measurement. Default 1800")
    p.add_argument(
        "--allocator",
        choices=tuple(ALLOCATORS),
        default="retain",
        help="glibc malloc settings of the measurement processes (README). Default retain",
    )
    p.add_argument(
        "--no-isolate",
        action="store_true",
        help="measure in this process (no memory guard; for tests and debugging)",
    )
    p.add_argument(
        "--qm9-sample", default=None, help="read the QM9 sample from this file (else gdl.data.QM9)"
    )
    p.add_argument("--save-qm9-sample", default=None, help="write the QM9 sample to this file and exit")
    p.add_argument(
        "--random-molecules",
        action="store_true",
        help="use random QM9-sized molecules instead of QM9 (tests; labelled in the record)",
    )
    p.add_argument(
        "--scaling-sizes",
        default=None,
        help="comma-separated cloud sizes of the scaling section. Default 1000,10000,100000",
    )
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend. Default inductor")
    p.add_argument("--results-dir", default=str(RESULTS), help="where the JSON record goes")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.rows is not None:
        args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
        known = {r["id"] for r in _all_rows(make_plan(args.quick))}
        for r in args.rows:
            if r not in known:
                p.error(f"unknown row {r!r}; the rows of the qm9 and pairs sections are {sorted(known)}")
    if args.scaling_sizes:
        args.scaling_sizes = tuple(int(float(n)) for n in args.scaling_sizes.split(","))
    for s in args.only:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}; choose from {SECTIONS}")
    for m in args.models:
        if m not in GDL_MODELS:
            p.error(f"unknown model {m!r}; choose from {GDL_MODELS}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: torch.cuda.is_available() is False on this machine")
    return args


def _all_rows(plan: Plan) -> list[dict[str, Any]]:
    return plan.qm9_rows(list(GDL_MODELS)) + plan.pair_rows(list(GDL_MODELS))


def _selected(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The rows that ``--rows`` keeps (all of them without it)."""
    if getattr(args, "rows", None) is None:
        return rows
    return [r for r in rows if r["id"] in args.rows]


def _sample(args: argparse.Namespace, size: int) -> tuple[dict[str, torch.Tensor], str]:
    if args.random_molecules:
        return random_qm9_like_sample(size), f"random QM9-sized molecules ({size})"
    if args.qm9_sample:
        from .workloads import load_qm9_sample

        sample = load_qm9_sample(args.qm9_sample)
        return sample, f"QM9 sample file {args.qm9_sample} ({len(sample['num_atoms'])} molecules)"
    return draw_qm9_sample(size), f"QM9, {size} molecules drawn with torch.randperm, seed 0"


class Runner:
    """Runs the measurements of a plan one by one, printing progress."""

    def __init__(self, args: argparse.Namespace, threads: int, mem_limit: int):
        self.args, self.threads, self.mem_limit = args, threads, mem_limit

    def __call__(self, label: str, function: str, **kwargs: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        print(f"  {label} ...", end="", flush=True)
        task = {"function": f"benchmarks.measure:{function}", "kwargs": kwargs}
        if self.args.no_isolate:
            result = run_inline(task)
        else:
            result = run_isolated(
                task,
                self.mem_limit,
                self.args.timeout_s,
                self.threads,
                self.args.device,
                env=ALLOCATORS[self.args.allocator],
            )
        status = (
            result["status"] if result["status"] == "ok" else f"{result['status']}: {result.get('error')}"
        )
        print(f" {status} ({time.perf_counter() - t0:.0f} s)", flush=True)
        return result


def _missing(name: str) -> dict[str, Any]:
    return {"status": "missing", "error": f"{PEERS[name]} is not installed (pip install -e '.[peers]')"}


def run_qm9(plan: Plan, runner: Runner, args: argparse.Namespace, sample_path: str) -> list[dict[str, Any]]:
    rows = []
    for row in _selected(plan.qm9_rows(args.models), args):
        spec = row["spec"]
        if spec["kind"] == "gdl" and row.get("match_parameters_of"):
            # the reference row's spec, also when --rows skipped it
            ref = next(r["spec"] for r in plan.qm9_rows(GDL_MODELS) if r["id"] == row["match_parameters_of"])
            spec = match_hidden(spec, count_parameters(ref), hi=row.get("max_hidden", 512))
        workload = {
            "type": "qm9",
            "sample": sample_path,
            "batch_size": row["batch_size"],
            "num_batches": plan.num_batches,
        }
        out = {**row, "spec": spec, "workload": workload}
        if spec["kind"] == "peer" and args.no_peers:  # asked not to run: say so, installed or not
            out["result"] = {"status": "not run", "error": "--no-peers"}
        elif spec["kind"] == "peer" and not peer_available(spec["name"]):
            out["result"] = _missing(spec["name"])
        else:
            out["result"] = runner(
                row["label"],
                "train",
                spec=spec,
                workload=workload,
                settings={"device": args.device, **row["settings"]},
            )
        rows.append(out)
    return rows


def run_pairs(plan: Plan, runner: Runner, args: argparse.Namespace, sample_path: str) -> list[dict[str, Any]]:
    rows = []
    versus = plan.versus_rows(args.models, args.versus_commit) if args.versus_commit else []
    for row in _selected(plan.pair_rows(args.models), args) + versus:
        workload = {
            "type": "qm9",
            "sample": sample_path,
            "batch_size": row["batch_size"],
            "num_batches": plan.num_batches,
            "radius": row["radius"],
        }
        out = {**row, "workload": workload}
        peers = [s["name"] for s in row["specs"] if s["kind"] == "peer"]
        if peers and args.no_peers:
            out["result"] = {"status": "not run", "error": "--no-peers"}
        elif any(not peer_available(p) for p in peers):
            out["result"] = _missing(next(p for p in peers if not peer_available(p)))
        else:
            settings = {"device": args.device, **row["settings"]}
            out["result"] = runner(
                row["label"], "pair", specs=row["specs"], workload=workload, settings=settings
            )
        rows.append(out)
    return rows


def run_scaling(plan: Plan, runner: Runner, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for model in args.models:
        spec, config = plan.scaling_spec(model)
        for n in plan.scaling_sizes:
            workload = {"type": "galaxy", "num_points": n, "k": plan.scaling_k}
            result = runner(
                f"{model} on {n:,} points",
                "train",
                spec=spec,
                workload=workload,
                settings={"device": args.device, **plan.scaling_settings},
            )
            rows.append(
                {
                    "model": model,
                    "config": config,
                    "num_points": n,
                    "spec": spec,
                    "workload": workload,
                    "result": result,
                }
            )
    return rows


def _qm9_spec(plan: Plan, model: str, qm9_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec of the model's row in the QM9 section (parameter-matched where it was), else the plan's."""
    for r in qm9_rows:
        if r["spec"]["kind"] == "gdl" and r["spec"]["name"] == model and r.get("main", True):
            return r["spec"]
    return plan.context_spec(model)


def run_compile(plan, runner, args, sample_path, qm9_rows) -> list[dict[str, Any]]:
    workload = {"type": "qm9", "sample": sample_path, "batch_size": plan.batch_size, "num_batches": 1}
    settings = {"device": args.device, "compile_backend": args.compile_backend, **plan.compile_settings}
    return [
        {
            "model": m,
            "spec": (spec := _qm9_spec(plan, m, qm9_rows)),
            "workload": workload,
            "result": runner(
                f"{m} eager vs compiled", "compile_vs_eager", spec=spec, workload=workload, settings=settings
            ),
        }
        for m in args.models
    ]


def run_flops(plan, runner, args, sample_path, qm9_rows) -> dict[str, Any]:
    settings = {"device": args.device, **plan.flops_settings}
    gemm = runner(f"GEMM {plan.gemm_n}^3", "gemm", n=plan.gemm_n, settings=settings)
    workload = {"type": "qm9", "sample": sample_path, "batch_size": plan.batch_size, "num_batches": 1}
    models = [
        {
            "model": m,
            "spec": (spec := _qm9_spec(plan, m, qm9_rows)),
            "workload": workload,
            "result": runner(f"{m} FLOPs", "flops", spec=spec, workload=workload, settings=settings),
        }
        for m in args.models
    ]
    return {"gemm": gemm, "models": models}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected sections; returns the record (also written under ``--results-dir``)."""
    plan = make_plan(args.quick)
    if args.scaling_sizes:
        plan.scaling_sizes = args.scaling_sizes
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    mem_limit = int((args.mem_limit_gb or max(1.0, available_memory_bytes() / 2**30 - 2.0)) * 2**30)
    runner = Runner(args, threads, mem_limit)
    started = time.perf_counter()
    record: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
        "machine": machine_info(args.device, threads),
        "config": {
            **{k: v for k, v in vars(args).items()},
            "threads": threads,
            "mem_limit_bytes": mem_limit,
            "plan": plan.describe(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="gdl-bench-") as tmp:
        sample_path = str(Path(tmp) / "qm9_sample.pt")
        if {"qm9", "pairs", "compile", "flops"} & set(args.only):
            sample, source = _sample(args, plan.sample_size)
            save_qm9_sample(sample_path, sample)
            record["config"]["qm9_source"] = source
            print(f"data: {source}", flush=True)
        if "qm9" in args.only:
            print("qm9:", flush=True)
            record["qm9"] = run_qm9(plan, runner, args, sample_path)
        if "pairs" in args.only:
            print("pairs:", flush=True)
            record["pairs"] = run_pairs(plan, runner, args, sample_path)
        if "scaling" in args.only:
            print("scaling:", flush=True)
            record["scaling"] = run_scaling(plan, runner, args)
        if "compile" in args.only:
            print("compile:", flush=True)
            record["compile"] = run_compile(plan, runner, args, sample_path, record.get("qm9", []))
        if "flops" in args.only:
            print("flops:", flush=True)
            record["flops"] = run_flops(plan, runner, args, sample_path, record.get("qm9", []))
    record["ratios"] = compute_ratios(record)
    record["machine"]["load_average_end"] = list(__import__("os").getloadavg())
    record["wall_s"] = time.perf_counter() - started
    record["path"] = str(write_record(record, args.results_dir))
    print_summary(record)
    return record


def print_summary(record: dict[str, Any]) -> None:
    """Print the tables, the ``RATIO`` lines and where the record is."""
    print()
    print(markdown(record))
    print()
    print("\n".join(ratio_lines(record["ratios"])))
    print(f"\nrecord: {record.get('path')} ({record['wall_s'] / 60:.1f} min)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.save_qm9_sample:
        sample, source = _sample(args, make_plan(args.quick).sample_size)
        path = save_qm9_sample(args.save_qm9_sample, sample)
        print(f"wrote {path}: {source}")
        return
    run(args)


if __name__ == "__main__":
    main()
