"""Figures, ratios and the JSON record of the benchmark runner (tables: :mod:`benchmarks.record_tables`).

Definitions (every figure is computed here from the raw per-step records the measurements return,
which the JSON record keeps):

* step time: the median wall time of the timed steps (warm-up excluded);
* throughput: graphs (molecules) per input divided by the median step time;
* peak memory: the growth of the peak memory above the state after the model, the optimizer and
  the inputs were built (:class:`benchmarks.harness.PeakMemory`);
* ratios (``RATIO <name> <value>`` lines): gdl throughput / peer throughput, peer memory / gdl
  memory; in the pairs section, the other model's median forward+backward time / gdl's (and
  ``<name>_forward``: the same for forward passes alone; ``<name>_cpu``: the same for the CPU
  time, user + system, of the whole steps); FLOP rate / GEMM FLOP rate; eager step / compiled step
  (``_cpu``: their CPU times); time per edge at the largest cloud / at the one before. A ratio
  that cannot be measured is ``nan``; when a peer ran out of memory its memory ratio is a lower
  bound ``>x`` (the peer's growth exceeded the limit minus its resident size before the steps).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "QM9_PAIRS",
    "compute_ratios",
    "cpu_s",
    "format_ratio",
    "machine_info",
    "median_s",
    "peak_bytes",
    "ratio_lines",
    "throughput",
    "write_record",
]

_MIB = 2**20
#: (ratio name, gdl row, peer row) of the QM9 section.
QM9_PAIRS = (
    ("egnn_vs_egnn_pytorch", "egnn", "egnn_pytorch"),
    ("egnn_vs_egnn_pytorch_m16", "egnn", "egnn_pytorch_m16"),
    ("se3t_vs_se3_transformer_pytorch", "se3t", "se3_transformer_pytorch"),
    ("se3t_vs_se3_transformer_pytorch_b8", "se3t_b8", "se3_transformer_pytorch_b8"),
)
#: Short names of the gdl models in ratio names.
ALIASES = {
    "EGNN": "egnn",
    "InvariantNet": "invariant",
    "PlainNet": "plain",
    "TFN": "tfn",
    "MACE": "mace",
    "SE3Transformer": "se3t",
    "GroupConvNet": "groupconv",
}


def _ok(result: dict[str, Any] | None) -> bool:
    return bool(result) and result.get("status") == "ok"


def median_s(result: dict[str, Any] | None, key: str = "s", steps: str = "steps") -> float:
    """Median of ``key`` over the timed steps of a result (``nan`` when it did not succeed)."""
    if not _ok(result) or not result.get(steps):
        return math.nan
    return statistics.median(r[key] for r in result[steps])


def cpu_s(result: dict[str, Any] | None, steps: str = "steps") -> float:
    """Median CPU time (user + system) of the timed steps (``nan`` when not measured)."""
    if not _ok(result) or not result.get(steps):
        return math.nan
    return statistics.median(r.get("user_s", math.nan) + r.get("sys_s", math.nan) for r in result[steps])


def throughput(result: dict[str, Any] | None) -> float:
    """Graphs per second: graphs per input / median step time (``nan`` when not measured)."""
    t = median_s(result)
    return result["graphs_per_input"] / t if t == t and t > 0 else math.nan


def peak_bytes(result: dict[str, Any] | None) -> float:
    return float(result["peak_bytes"]) if _ok(result) else math.nan


def _div(a: float, b: float) -> float:
    return a / b if (a == a and b == b and b != 0) else math.nan


def _memory_lower_bound(peer: dict[str, Any], gdl_peak: float) -> float:
    """When the peer was killed above ``limit_bytes``: (limit - its resident size before the steps)
    / gdl's peak, a lower bound of the memory ratio; ``nan`` when that cannot be told."""
    base = (peer.get("progress") or {}).get("baseline_bytes")
    if peer.get("status") != "oom" or base is None or "limit_bytes" not in peer:
        return math.nan
    return _div(peer["limit_bytes"] - base, gdl_peak)


def compute_ratios(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"value": float, "bound": "" or ">", "note": str}}`` from a record's sections."""
    out: dict[str, dict[str, Any]] = {}
    rows = {r["id"]: r for r in record.get("qm9", [])}
    for name, ours, peer in QM9_PAIRS:
        if ours not in rows or peer not in rows:
            continue
        a, b = rows[ours]["result"], rows[peer]["result"]
        note = "" if _ok(b) else f"{peer}: {b.get('status')} {b.get('error', '')}".strip()
        out[name] = {"value": _div(throughput(a), throughput(b)), "bound": "", "note": note}
        mem = name.replace("_vs_", "_memory_vs_", 1)
        value, bound = _div(peak_bytes(b), peak_bytes(a)), ""
        if value != value:
            value, bound = _memory_lower_bound(b, peak_bytes(a)), ">"
        out[mem] = {"value": value, "bound": bound if value == value else "", "note": note}
    for row in record.get("pairs", []):
        r = row["result"]
        models = r.get("models", []) if _ok(r) else []
        note = "" if _ok(r) else f"{r.get('status')}: {r.get('error', '')}"
        for suffix, key, steps in (("", "fwd_bwd_s", "steps"), ("_forward", "s", "forward")):
            value = math.nan
            if len(models) == 2:
                ours, other = (median_s({"status": "ok", **m}, key, steps) for m in models)
                value = _div(other, ours)
            out[row["ratio"] + suffix] = {"value": value, "bound": "", "note": note}
        # the whole steps' (optimizer included) CPU time: less sensitive than wall time to a load
        # that takes the core away from the process now and then
        cpu = math.nan
        if len(models) == 2:
            ours, other = (cpu_s({"status": "ok", **m}) for m in models)
            cpu = _div(other, ours)
        out[row["ratio"] + "_cpu"] = {"value": cpu, "bound": "", "note": note}
    gemm_rate = _gemm_rate(record.get("flops", {}).get("gemm"))
    for row in record.get("flops", {}).get("models", []):
        rate = _div(row["result"].get("flops", math.nan), median_s(row["result"]))
        out[f"{ALIASES[row['model']]}_flops_fraction_of_gemm"] = _ratio(_div(rate, gemm_rate), row["result"])
    for row in record.get("compile", []):
        r = row["result"]
        speedup = _div(median_s(r, steps="eager"), median_s(r, steps="compiled"))
        out[f"{ALIASES[row['model']]}_compiled_vs_eager"] = _ratio(speedup, r)
        cpu = _div(cpu_s(r, steps="eager"), cpu_s(r, steps="compiled"))
        out[f"{ALIASES[row['model']]}_compiled_vs_eager_cpu"] = _ratio(cpu, r)
    for model, (small, large) in _scaling_pairs(record.get("scaling", [])).items():
        sizes = f"{_size(large['num_points'])}_vs_{_size(small['num_points'])}"
        failed = next((r["result"] for r in (small, large) if not _ok(r["result"])), large["result"])
        for kind, time_of in (("time", median_s), ("cpu_time", cpu_s)):
            per_edge = [
                _div(time_of(r["result"]), r["result"].get("edges_per_input", math.nan))
                for r in (small, large)
            ]
            out[f"{ALIASES[model]}_{kind}_per_edge_{sizes}"] = _ratio(_div(per_edge[1], per_edge[0]), failed)
    return out


def _gemm_rate(gemm: dict[str, Any] | None) -> float:
    return _div(gemm["flops"], median_s(gemm)) if _ok(gemm) else math.nan


def _ratio(value: float, result: dict[str, Any]) -> dict[str, Any]:
    note = "" if _ok(result) else f"{result.get('status')}: {result.get('error', '')}"
    return {"value": value, "bound": "", "note": note}


def _size(n: int) -> str:
    """``1e5`` for 100000 (powers of ten from 1000), else the number."""
    e = round(math.log10(n)) if n > 0 else 0
    return f"1e{e}" if 10**e == n and e >= 3 else str(n)


def _scaling_pairs(rows: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    """Per model, the rows of the two largest clouds (ascending)."""
    by_model: dict[str, list[dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    return {
        m: tuple(sorted(rs, key=lambda r: r["num_points"])[-2:]) for m, rs in by_model.items() if len(rs) >= 2
    }


def format_ratio(value: float, bound: str = "") -> str:
    if value != value:
        return "nan"
    return f"{bound}{value:.3g}" if abs(value) < 1e4 else f"{bound}{value:.4g}"


def ratio_lines(ratios: dict[str, dict[str, Any]]) -> list[str]:
    """``RATIO <name> <value>`` lines, then ``# <name>: <note>`` for ratios with a note."""
    lines = [f"RATIO {k} {format_ratio(v['value'], v['bound'])}" for k, v in ratios.items()]
    lines += [f"# {k}: {v['note']}" for k, v in ratios.items() if v["note"]]
    return lines


# ---------------------------------------------------------------------------------------------
# record
# ---------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(device: str, threads: int) -> dict[str, Any]:
    """Hardware and software of this run: CPU model and cores, memory, GPU, versions, commit, load."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": threads,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": list(os.getloadavg()),
        "device": device,
        "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32
        if device.startswith("cuda")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": _git_commit(),
    }
    for package in ("torch_geometric", "e3nn", "egnn-pytorch", "se3-transformer-pytorch", "nequip"):
        info[package] = _version(package)
    return info


def write_record(record: dict[str, Any], results_dir: str | os.PathLike) -> Path:
    """Write the record as ``<results_dir>/<UTC time>-<device>[-quick].json`` (atomically)."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    device = record["machine"]["device"].replace(":", "")
    path = folder / f"{stamp}-{device}{'-quick' if record['config'].get('quick') else ''}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    os.replace(tmp, path)
    return path
