"""Run directories: the status file ``metrics.json`` and the rule that a finished run is never
overwritten.

``metrics.json`` is written when a run starts (``"status": "running"``), when it fails
(``"failed"``, with the error) and when it ends (``"finished"``, with every metric). A directory
whose ``metrics.json`` says ``"finished"`` is refused by :func:`check_run_dir` — before Hydra
writes its ``.hydra/`` files there (``gdl.cli.hydra_callbacks.RefuseFinishedRuns``) and again by
:func:`gdl.training.train`. A ``"running"`` or ``"failed"`` directory may be reused, which is how
``ckpt_path=last`` resumes an interrupted run.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data._paths import _file_mode

__all__ = ["METRICS_FILE", "RunDirectoryError", "check_run_dir", "read_metrics", "write_metrics"]

METRICS_FILE = "metrics.json"


class RunDirectoryError(RuntimeError):
    """The run directory cannot be used (it holds a finished run)."""


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
