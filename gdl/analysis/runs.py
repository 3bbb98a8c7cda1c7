"""Finding and reading run directories: what ``gdl-train`` leaves behind, checked.

A run directory (``gdl.training.rundir``) holds ``metrics.json`` (``"status"``: ``running``,
``failed`` or ``finished``) and Hydra's ``.hydra/config.yaml`` and ``.hydra/overrides.yaml``. A
sweep (``gdl-train -m``) puts one run directory per job under its sweep directory, next to Hydra's
``multirun.yaml``. :func:`load_runs` walks the given paths, reads every run directory and sorts
them into usable (finished, with the keys the tables need) and not usable (failed, unfinished,
missing or incomplete ``metrics.json``), each with the reason.

A sweep started by gdl's resumable sweeper (:mod:`gdl.cli.sweep`) also lists all its jobs in
``<sweep>/jobs.yaml``; the jobs of such a sweep that have not finished — not started yet, running
or interrupted, or failed (retried on relaunch) — are :class:`Pending`, not problems, so that a sweep
in progress can be tabulated with what has finished.

This module imports neither Lightning nor Hydra: analysing runs needs only the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "JOBS_FILE",
    "METRICS_FILE",
    "REQUIRED_KEYS",
    "NoRunsError",
    "Pending",
    "Run",
    "RunSet",
    "find_run_dirs",
    "load_runs",
    "parse_overrides",
    "read_run",
]

#: The status file of a run directory (``gdl.training.rundir.METRICS_FILE``; not imported from there
#: so that analysis does not import Lightning).
METRICS_FILE = "metrics.json"
#: Keys every finished run must have; the per-target test metrics ``test/<t>/<m>`` are checked too.
REQUIRED_KEYS = ("dataset", "model", "strategy", "targets", "metrics", "seed", "num_train")
#: Hydra's file in a sweep directory.
MULTIRUN_FILE = "multirun.yaml"
#: gdl's list of a sweep's jobs (gdl.cli.sweep.JOBS_FILE; not imported: no Hydra here).
JOBS_FILE = "jobs.yaml"
#: Sweep label of runs started without ``-m``.
SINGLE_RUNS = "(single runs)"


class NoRunsError(ValueError):
    """No run directory was found under the given paths."""


@dataclass(frozen=True)
class Run:
    """One run directory as read from disk.

    Args:
        path: the run directory.
        metrics: the parsed ``metrics.json``, or ``None`` when it is absent or unreadable.
        overrides: Hydra's overrides of the job (``.hydra/overrides.yaml``), e.g. ``("model=egnn",)``.
        sweep: the sweep directory (parent holding ``multirun.yaml``) or ``"(single runs)"``.
        problem: why the run cannot be used (``None`` for a usable run).
    """

    path: Path
    metrics: dict[str, Any] | None
    overrides: tuple[str, ...] = ()
    sweep: str = SINGLE_RUNS
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def status(self) -> str:
        """``finished``/``running``/``failed`` from ``metrics.json``, or ``no metrics.json``."""
        if self.metrics is None:
            return "no metrics.json"
        return str(self.metrics.get("status", "no status"))

    @property
    def override_dict(self) -> dict[str, str]:
        return parse_overrides(self.overrides)

    def describe(self) -> str:
        """A short label: model / strategy / seed from the metrics, else the overrides."""
        m = self.metrics or {}
        if m.get("model") is not None:
            return " / ".join(
                (str(m.get("model")), str(m.get("strategy")), f"train_size {m.get('train_size')}",
                 f"seed {m.get('seed')}")
            )
        return " ".join(self.overrides) or "(no overrides)"


@dataclass(frozen=True)
class Pending:
    """A job of a sweep in progress (listed in its ``jobs.yaml``) that has not finished.

    Args:
        sweep: the sweep directory.
        num: the job number.
        path: the job's run directory (it may not exist yet).
        overrides: the job's overrides.
        status: ``"not started"``, ``"running or interrupted"``, ``"failed: <error>"`` (retried on
            relaunch) or ``"no metrics.json"`` (started, stopped before training).
        swept: the overrides that tell this job from the sweep's other jobs (``seed=1 combo=...``).
    """

    sweep: str
    num: int
    path: Path
    overrides: tuple[str, ...]
    status: str
    swept: tuple[str, ...] = ()

    def describe(self) -> str:
        return " ".join(self.swept or self.overrides) or "(no overrides)"


@dataclass
class RunSet:
    """The runs found under some paths: ``runs`` (usable), ``problems`` (listed, not used) and
    ``pending`` (unfinished jobs of sweeps in progress, :class:`Pending`)."""

    runs: list[Run] = field(default_factory=list)
    problems: list[Run] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)

    @property
    def sweeps(self) -> list[str]:
        """The distinct sweeps of the usable runs, in order of appearance."""
        return list(dict.fromkeys(r.sweep for r in self.runs))


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """``["model=egnn", "+x=1", "~y"]`` → ``{"model": "egnn", "x": "1", "y": None}``-like mapping
    (prefixes ``+``, ``++``, ``~`` dropped; a deletion maps to ``"~"``)."""
    out: dict[str, str] = {}
    for item in overrides:
        text = str(item)
        if text.startswith("~"):
            out[text.lstrip("~").split("=", 1)[0]] = "~"
            continue
        key, sep, value = text.lstrip("+").partition("=")
        out[key] = value if sep else ""
    return out


def _is_run_dir(path: Path) -> bool:
    return (path / METRICS_FILE).is_file() or (path / ".hydra" / "config.yaml").is_file()


def find_run_dirs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Every run directory at or under ``paths`` (a directory with ``metrics.json`` or
    ``.hydra/config.yaml``), sorted, without duplicates. Raises ``FileNotFoundError`` for a path
    that does not exist and :class:`NoRunsError` when nothing is found."""
    if not paths:
        raise NoRunsError("no paths given: pass run directories or sweep directories")
    found: dict[Path, None] = {}
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"{str(path)!r} does not exist (expected a run or sweep directory)")
        if not path.is_dir():
            raise NotADirectoryError(f"{str(path)!r} is a file; pass the run or sweep directory holding it")
        if _is_run_dir(path):
            found[path.resolve()] = None
            continue
        for dirpath, dirnames, _ in os.walk(path):
            d = Path(dirpath)
            if d.name == ".hydra":
                dirnames[:] = []
                continue
            if _is_run_dir(d):
                found[d.resolve()] = None
                dirnames[:] = []  # a run directory holds checkpoints and logs, not other runs
            else:
                dirnames.sort()
    if not found:
        raise NoRunsError(
            "no run directories under " + ", ".join(repr(str(p)) for p in paths) + f": a run directory holds "
            f"{METRICS_FILE} or .hydra/config.yaml (what gdl-train writes; a sweep puts one per job under "
            "logs/train/multiruns/<time>/)"
        )
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> tuple:
    # job directories 0, 1, ..., 10 in numeric order
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.parts)


def _read_overrides(run_dir: Path) -> tuple[str, ...]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return ()
    try:
        items = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError):
        return ()
    return tuple(str(x) for x in items) if isinstance(items, list) else ()


def _sweep_of(run_dir: Path) -> str:
    return str(run_dir.parent) if (run_dir.parent / MULTIRUN_FILE).is_file() else SINGLE_RUNS


def _missing_keys(m: dict[str, Any]) -> list[str]:
    missing = [k for k in REQUIRED_KEYS if m.get(k) is None]
    targets = [t for t in str(m.get("targets") or "").split(",") if t]
    metrics = [x for x in str(m.get("metrics") or "").split(",") if x]
    missing += [f"test/{t}/{x}" for t in targets for x in metrics if m.get(f"test/{t}/{x}") is None]
    return missing


def read_run(run_dir: str | os.PathLike) -> Run:
    """Read one run directory; a run that cannot be used gets ``problem`` set (never raises for
    the contents of the files)."""
    run_dir = Path(run_dir)
    overrides, sweep = _read_overrides(run_dir), _sweep_of(run_dir)
    path = run_dir / METRICS_FILE
    if not path.is_file():
        reason = f"no {METRICS_FILE} (the job stopped before training started)"
        return Run(run_dir, None, overrides, sweep, reason)
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return Run(run_dir, None, overrides, sweep, f"{METRICS_FILE} is unreadable: {e}")
    if not isinstance(metrics, dict):
        return Run(run_dir, None, overrides, sweep, f"{METRICS_FILE} is not a JSON object")
    status = metrics.get("status")
    if status != "finished":
        reason = {
            "running": "unfinished (status 'running': interrupted, or still running)",
            "failed": f"failed: {metrics.get('error', 'no error recorded')}",
        }.get(str(status), f"status {status!r} (expected 'finished')")
        return Run(run_dir, metrics, overrides, sweep, reason)
    missing = _missing_keys(metrics)
    if missing:
        return Run(run_dir, metrics, overrides, sweep, f"{METRICS_FILE} lacks keys: {', '.join(missing)}")
    return Run(run_dir, metrics, overrides, sweep)


def read_jobs(sweep_dir: str | os.PathLike) -> list[tuple[int, str, tuple[str, ...]]] | None:
    """``(num, subdir, overrides)`` of every job in ``<sweep_dir>/jobs.yaml``, or ``None``."""
    try:
        items = yaml.safe_load((Path(sweep_dir) / JOBS_FILE).read_text())
        return [(int(j["num"]), str(j["dir"]), tuple(str(o) for o in j["overrides"])) for j in items]
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return None


def _pending_status(run: Run | None) -> str:
    if run is None:
        return "not started"
    if run.metrics is None:
        return "no metrics.json"
    status = run.metrics.get("status")
    if status == "failed":
        return f"failed: {run.metrics.get('error', 'no error recorded')}"
    return "running or interrupted" if status == "running" else f"status {status!r}"


def load_runs(paths: Sequence[str | os.PathLike]) -> RunSet:
    """Read every run directory under ``paths`` (:func:`find_run_dirs`) into a :class:`RunSet`; the
    unfinished jobs of sweeps with a ``jobs.yaml`` become :attr:`RunSet.pending`."""
    given_sweeps = [Path(p) for p in paths if (Path(p) / JOBS_FILE).is_file()]
    try:
        run_dirs = find_run_dirs(paths)
    except NoRunsError:
        if not given_sweeps:
            raise
        run_dirs = []  # a sweep whose first job has not started yet
    out = RunSet()
    read = {}
    for run_dir in run_dirs:
        run = read_run(run_dir)
        read[run_dir] = run
        (out.runs if run.ok else out.problems).append(run)
    sweeps = dict.fromkeys([str(p.resolve()) for p in given_sweeps] + [r.sweep for r in read.values()])
    pending_dirs = set()
    for sweep in sweeps:
        jobs = (read_jobs(sweep) if sweep != SINGLE_RUNS else None) or []
        maps = [parse_overrides(o) for _, _, o in jobs]
        varying = {k for m in maps for k in m if len({mm.get(k) for mm in maps}) > 1}
        for num, subdir, overrides in jobs:
            path = (Path(sweep) / subdir).resolve()
            run = read.get(path)
            if run is not None and (run.ok or run.status == "finished"):
                continue  # usable, or finished but incomplete (a problem, not pending)
            swept = tuple(o for o in overrides if set(parse_overrides([o])) & varying)
            out.pending.append(Pending(sweep, num, path, overrides, _pending_status(run), swept))
            pending_dirs.add(path)
    out.problems = [r for r in out.problems if r.path.resolve() not in pending_dirs]
    return out
