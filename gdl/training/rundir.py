"""Run directories: the status file ``metrics.json`` and the rule that a finished run is never
overwritten.

``metrics.json`` is written when a run starts (``"status": "running"``), when it fails
(``"failed"``, with the error) and when it ends (``"finished"``, with every metric). A directory
whose ``metrics.json`` says ``"finished"`` is refused by :func:`check_run_dir` — before Hydra
writes its ``.hydra/`` files there (``gdl.cli.hydra_callbacks.RefuseFinishedRuns``) and again by
:func:`gdl.training.train`. A ``"running"`` or ``"failed"`` directory may be reused, which is how
``ckpt_path=last`` resumes an interrupted run.

A sweep job reused by a relaunched sweep (:mod:`gdl.cli.sweep`) resumes from its
``checkpoints/last.ckpt`` when it has one (:func:`resumable_checkpoint`); a failed attempt's
``metrics.json`` is kept as ``failed_attempt_<k>.json`` (:func:`archive_failed_attempt`). While a run
trains, :class:`RunLock` holds an exclusive lock on ``<run>/.lock`` so that no second process trains
in the same directory.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data._paths import _file_mode

__all__ = [
    "FAILED_ATTEMPT",
    "METRICS_FILE",
    "RunDirectoryError",
    "RunLock",
    "archive_failed_attempt",
    "check_run_dir",
    "read_metrics",
    "resumable_checkpoint",
    "write_metrics",
]

METRICS_FILE = "metrics.json"
#: Name of a failed attempt's kept ``metrics.json`` (``k`` = 1, 2, ...).
FAILED_ATTEMPT = "failed_attempt_{k}.json"
LOCK_FILE = ".lock"


class RunDirectoryError(RuntimeError):
    """The run directory cannot be used (it holds a finished run, or another process trains in it)."""


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``metrics.json`` of a run directory, or ``None`` when there is none (or it is unreadable)."""
    path = Path(run_dir) / METRICS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_run_dir(run_dir: str | os.PathLike) -> Path:
    """Raise :class:`RunDirectoryError` if ``run_dir`` holds a finished run; return it as a ``Path``."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    if metrics is not None and metrics.get("status") == "finished":
        raise RunDirectoryError(
            f"the run directory {str(run_dir)!r} already holds a finished run ({METRICS_FILE} has status "
            "'finished'); gdl-train never overwrites a finished run: choose another directory "
            "(e.g. hydra.run.dir=...) or move that one away"
        )
    return run_dir


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _jsonable(value.item())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_metrics(run_dir: str | os.PathLike, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json`` atomically (flat: keys are strings, values numbers, strings, booleans
    or ``null``; NaN becomes ``null``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    flat = {str(k): _jsonable(v) for k, v in metrics.items()}
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=METRICS_FILE, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(flat, f, indent=1)
            f.write("\n")
        os.chmod(tmp, _file_mode())
        os.replace(tmp, run_dir / METRICS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return run_dir / METRICS_FILE


def resumable_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """``<run_dir>/checkpoints/last.ckpt`` when the run there was interrupted (``"running"``) or
    failed and left that checkpoint, else ``None``."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if metrics is not None and metrics.get("status") in ("running", "failed") and last.is_file():
        return last
    return None


def archive_failed_attempt(run_dir: str | os.PathLike) -> Path | None:
    """Keep a failed run's ``metrics.json`` (with its error) as ``failed_attempt_<k>.json`` (the
    next free ``k``) before the run is retried; returns the kept file, or ``None`` when the run
    directory holds no failed run."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    if metrics is None or metrics.get("status") != "failed":
        return None
    k = 1
    while (run_dir / FAILED_ATTEMPT.format(k=k)).exists():
        k += 1
    kept = run_dir / FAILED_ATTEMPT.format(k=k)
    shutil.copy2(run_dir / METRICS_FILE, kept)
    return kept


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<run_dir>/.lock``, held until :meth:`release` (the
    operating system drops it when the process dies, even by SIGKILL).

    Raises:
        RunDirectoryError: another process holds the lock (trains in this directory now).
    """

    def __init__(self, run_dir: str | os.PathLike):
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, _file_mode())
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise RunDirectoryError(
                f"another process is training in the run directory {str(run_dir)!r} (it holds "
                f"{LOCK_FILE}): wait for it to end, or stop it, before running there again"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
