"""Running one measurement: in a fresh subprocess with a memory guard, or inline; timing and memory.

:func:`run_isolated` starts ``python -m benchmarks.harness TASK RESULT`` in its own session and
polls the child's resident set size (``/proc/<pid>/status``) every 50 ms: above ``mem_limit`` bytes
the whole process group is killed and the measurement is reported as ``{"status": "oom"}`` — so a
peer that needs more memory than the machine has cannot take the runner (or the machine) down. On
CPU the child also caps its address space (``RLIMIT_AS``) at its size after start-up plus the
limit, so that one huge allocation fails at once with an error the child reports as ``oom``.
Each child has fresh peak-memory accounting. :func:`run_inline` runs the same task in this process
(no guard; used by the tests and ``--no-isolate``).

Measurements (:mod:`benchmarks.measure`) use :class:`PeakMemory` — on CPU the growth of the peak
resident set size (``VmHWM``, reset by writing ``5`` to ``/proc/self/clear_refs``, read with
:func:`benchmarks.anchors._status_mib`) above the resident size when it was started; on CUDA
``torch.cuda.max_memory_allocated`` above ``torch.cuda.memory_allocated`` at the start — and
:func:`time_steps` (median-ready wall times after warm-up, synchronised on CUDA).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "PeakMemory",
    "available_memory_bytes",
    "is_oom",
    "run_inline",
    "run_isolated",
    "sync",
    "time_steps",
]

REPO = Path(__file__).resolve().parents[1]
_GIB = 2**30


def available_memory_bytes() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` (Linux), in bytes."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("MemAvailable not in /proc/meminfo (Linux only)")


def _proc_status_bytes(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def sync(device: str) -> None:
    """Wait for queued kernels on CUDA; nothing on CPU."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory growth over a window: ``start()`` records the baseline and resets the peak,
    ``growth()`` returns the peak above the baseline in bytes (see the module docstring)."""

    def __init__(self, device: str):
        self.device = device
        self.baseline = 0

    def start(self) -> None:
        if self.device.startswith("cuda"):
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
        else:
            from benchmarks.anchors import _status_mib

            with open("/proc/self/clear_refs", "w") as fh:  # peak RSS (VmHWM) := current RSS
                fh.write("5")
            self.baseline = int(_status_mib("VmRSS") * 2**20)

    def growth(self) -> int:
        if self.device.startswith("cuda"):
            sync(self.device)
            return int(torch.cuda.max_memory_allocated(self.device)) - self.baseline
        from benchmarks.anchors import _status_mib

        return int(_status_mib("VmHWM") * 2**20) - self.baseline


def time_steps(
    step: Callable[[Any], dict[str, float] | None],
    inputs: Sequence[Any],
    device: str,
    warmup: Sequence[Any] = (),
    min_steps: int = 3,
    max_steps: int = 32,
    budget_s: float = 30.0,
) -> list[dict[str, float]]:
    """Run ``step`` on each of ``warmup``, then on ``inputs[0], inputs[1], ...`` (cyclically) until
    ``max_steps`` steps are timed, or at least ``min_steps`` are and ``budget_s`` seconds have passed.
    Returns one record per timed step: ``{"input": k, "s": wall seconds, "user_s"/"sys_s": CPU
    seconds of the process in user/kernel mode, "page_faults": minor page faults, **whatever step
    returned}``."""
    for x in warmup:
        step(x)
    records: list[dict[str, float]] = []
    start = time.perf_counter()
    while len(records) < max_steps and (len(records) < min_steps or time.perf_counter() - start < budget_s):
        k = len(records) % len(inputs)
        sync(device)
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        extra = step(inputs[k])
        sync(device)
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        records.append(
            {
                "input": k,
                "s": t1 - t0,
                "user_s": r1.ru_utime - r0.ru_utime,
                "sys_s": r1.ru_stime - r0.ru_stime,
                "page_faults": r1.ru_minflt - r0.ru_minflt,
                **(extra if isinstance(extra, dict) else {}),
            }
        )
    return records


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is an allocation failure (CPU allocator, CUDA, ``MemoryError``)."""
    if isinstance(exc, MemoryError):
        return True
    msg = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in msg or "out of memory" in msg or "Cannot allocate memory" in msg
    )


def _call(task: dict[str, Any]) -> dict[str, Any]:
    module, name = task["function"].split(":")
    fn = getattr(importlib.import_module(module), name)
    try:
        return {"status": "ok", **fn(**task.get("kwargs", {}))}
    except Exception as exc:  # reported as a result row; the runner goes on with the next one
        if is_oom(exc):
            return {"status": "oom", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
        tail = traceback.format_exc().strip().splitlines()[-3:]
        return {"status": "error", "error": " | ".join(line.strip() for line in tail)[:600]}


def run_inline(task: dict[str, Any]) -> dict[str, Any]:
    """Run a task (``{"function": "module:name", "kwargs": {...}}``) in this process."""
    return _call(task)


def run_isolated(
    task: dict[str, Any],
    mem_limit: int,
    timeout_s: float,
    threads: int,
    device: str = "cpu",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a task in a fresh subprocess with ``threads`` torch threads and the extra environment
    variables ``env``, killed above ``mem_limit`` bytes of resident memory (``{"status": "oom",
    "limit_bytes": ...}``) or after ``timeout_s`` seconds (``{"status": "timeout"}``); a crash is
    ``{"status": "crashed"}``."""
    with tempfile.TemporaryDirectory(prefix="gdl-bench-") as tmp:
        task_path, result_path, log_path = (Path(tmp) / n for n in ("task.json", "result.json", "log.txt"))
        task_path.write_text(
            json.dumps({**task, "threads": threads, "device": device, "mem_limit": mem_limit})
        )
        child_env = dict(
            os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **(env or {})
        )
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), child_env.get("PYTHONPATH")) if p)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.harness", str(task_path), str(result_path)],
                cwd=REPO,
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed together with its workers
            )
            killed, max_rss, t0 = None, 0, time.monotonic()
            while proc.poll() is None:
                try:
                    max_rss = max(max_rss, _proc_status_bytes(proc.pid, "VmRSS"))
                except (OSError, RuntimeError):  # exiting between poll() and the read
                    pass
                if max_rss > mem_limit:
                    killed = "oom"
                elif time.monotonic() - t0 > timeout_s:
                    killed = "timeout"
                if killed:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(0.05)
        wall = time.monotonic() - t0
        progress = Path(str(result_path) + ".progress")
        info: dict[str, Any] = {"child_wall_s": wall, "child_max_rss_bytes": max_rss}
        if progress.is_file():
            info["progress"] = json.loads(progress.read_text())
        if killed == "oom":
            return {
                "status": "oom",
                "limit_bytes": mem_limit,
                **info,
                "error": f"out of memory at {mem_limit / _GIB:.1f} GB (resident set above the limit)",
            }
        if killed == "timeout":
            return {"status": "timeout", "error": f"no result after {timeout_s:.0f} s", **info}
        if result_path.is_file():
            result = json.loads(result_path.read_text())
            if result["status"] == "oom":
                result["limit_bytes"] = mem_limit
            return {**result, **info}
        tail = log_path.read_text().strip().splitlines()[-3:]
        return {
            "status": "crashed",
            "error": f"exit code {proc.returncode}: " + " | ".join(tail)[-600:],
            **info,
        }


def report_progress(**fields: Any) -> None:
    """Called by a measurement in an isolated child: leave ``fields`` where the parent finds them
    even if the child is killed later (e.g. the resident size before the measured steps)."""
    path = os.environ.get("GDL_BENCH_PROGRESS")
    if path:
        Path(path).write_text(json.dumps(fields))


def _child_main(task_path: str, result_path: str) -> None:
    task = json.loads(Path(task_path).read_text())
    torch.set_num_threads(int(task["threads"]))
    os.environ["GDL_BENCH_PROGRESS"] = result_path + ".progress"
    if not task["device"].startswith("cuda"):  # CUDA reserves far more address space than it uses
        size = _proc_status_bytes("self", "VmSize")
        limit = size + int(task["mem_limit"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result = _call(task)
    tmp = result_path + ".tmp"
    Path(tmp).write_text(json.dumps(result))
    os.replace(tmp, result_path)


if __name__ == "__main__":
    _child_main(sys.argv[1], sys.argv[2])
