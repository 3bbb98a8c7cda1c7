r"""Sweeps that survive interruption: the ``resumable`` Hydra sweeper of ``gdl-train -m``.

Relaunching the same ``gdl-train -m ...`` command with the same ``hydra.sweep.dir`` continues the
sweep where it stopped:

* a job whose ``metrics.json`` says ``"finished"`` is **skipped** — nothing is written into its
  directory, so a finished run is never overwritten;
* a job that was interrupted (``"running"``) or that failed (``"failed"``) and left
  ``checkpoints/last.ckpt`` **resumes** from it (:func:`gdl.training.train` does this for sweep jobs);
* every other job **starts** (a failed job's earlier ``metrics.json`` is kept in its directory as
  ``failed_attempt_<k>.json``, :func:`gdl.training.rundir.archive_failed_attempt`).

A relaunch whose configuration differs from the one the sweep was started with — another override,
another sweep list, an edited preset, or an edited config file that a job's overrides select (each
started job's ``.hydra/config.yaml`` is compared with its configuration composed now) — stops before
any job starts with :class:`SweepMismatchError` naming the differing keys: configurations are never
mixed in one sweep. The launcher and its
settings (``hydra/launcher=...``, ``hydra.launcher.n_jobs``) may change between launches; they do
not change what a job computes.

Files in the sweep directory: Hydra's ``multirun.yaml`` (the sweep's configuration, compared on
relaunch) and ``jobs.yaml`` (:data:`JOBS_FILE`: every job's number, directory and overrides, which
``gdl-ablate`` uses to list the jobs still pending).

``hydra.sweeper.exclude`` leaves chosen points out of the grid, by construction rather than by a run
that fails: a list of mappings from swept keys to a value (or a list of values); a job is left out
when its override of every key of one entry is among that entry's values, e.g. ::

    hydra:
      sweeper:
        params: {combo: "egnn_exact,tfn_l2", model.hidden_channels: "8,16,32"}
        exclude:
          - {combo: tfn_l2, model.hidden_channels: 32}   # the one point that costs half the sweep

The jobs left are numbered consecutively in the grid's order. A key that the sweep does not set is an
error (:class:`SweepExcludeError`); an entry that matches no job is logged as a warning, not an error,
so that a preset's grid can be shrunk from the command line (``combo=egnn_exact`` on a preset that
excludes a GroupConvNet point) — read the log when a job you meant to drop runs.

Jobs keep their numbers and directories. The unfinished jobs of a batch go to the launcher in one
launch, so that a parallel launcher keeps all its workers busy across the gaps that finished jobs
leave: a job after a gap is given its directory by a ``hydra.sweep.subdir=<num>`` override (Hydra's
launchers number the jobs of a launch consecutively), and its ``hydra.job.num`` is then its place in
the launch, not its number in the grid. Where that number could change what a job computes or where
it goes — ``hydra.sweep.subdir`` is not the default ``${hydra.job.num}``, or a job's configuration
interpolates ``hydra:job.num`` / ``hydra:job.id`` — the unfinished jobs are launched in runs of
consecutive numbers instead (one launch per run, each with its exact numbers), and a gap briefly
lowers the parallelism.

The Hydra plugin class lives in ``hydra_plugins/gdl_sweeper`` (Hydra only loads plugins from the
``hydra_plugins`` namespace); this module holds the logic. It imports neither torch nor Lightning.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = [
    "JOBS_FILE",
    "MULTIRUN_FILE",
    "Job",
    "ResumableSweeperBase",
    "SweepExcludeError",
    "SweepMismatchError",
    "exclude_jobs",
    "config_differences",
    "job_differences",
    "read_jobs",
]

log = logging.getLogger(__name__)

#: Hydra's record of the sweep configuration in the sweep directory.
MULTIRUN_FILE = "multirun.yaml"
#: gdl's list of the sweep's jobs in the sweep directory (number, directory, overrides).
JOBS_FILE = "jobs.yaml"
#: The status file of a run directory (``gdl.training.rundir.METRICS_FILE``, not imported: no torch here).
METRICS_FILE = "metrics.json"
#: The checkpoint a job resumes from.
LAST_CKPT = Path("checkpoints") / "last.ckpt"
#: Values of ``hydra.sweep.subdir`` that name a job's directory by its number alone.
_NUMBERED_SUBDIRS = ("${hydra.job.num}", "${hydra:job.num}")
#: An interpolation of the job's number or id (``${hydra:job.num}``, ``${hydra.job.id}``, ``${hydra:job}``).
_JOB_NUM_INTERPOLATION = re.compile(r"hydra[.:]job(\.(num|id))?\b(?!\.)")


class SweepMismatchError(ValueError):
    """A relaunch into a sweep directory whose jobs were started with another configuration."""


class SweepExcludeError(ValueError):
    """An entry of ``hydra.sweeper.exclude`` that is not a mapping or names a key the sweep does not set."""


@dataclass(frozen=True)
class Job:
    """One job of a sweep: its number, its directory relative to the sweep directory, its overrides."""

    num: int
    subdir: str
    overrides: tuple[str, ...]


# -- comparing configurations ---------------------------------------------------------------------
def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        if not node and prefix:
            out[prefix[:-1]] = {}
        return out
    return {prefix[:-1]: node}


def _parse_override(text: str) -> tuple[str, str]:
    key, sep, value = str(text).lstrip("~+").partition("=")
    return key, (value if sep else "~" if str(text).startswith("~") else "")


def _override_map(overrides: Sequence[str]) -> dict[str, str]:
    return dict(_parse_override(o) for o in overrides)


def _signature(cfg: DictConfig | Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(flattened job configuration without ``hydra``, plus the sweeper's params; command-line task
    overrides) of a sweep configuration, unresolved."""
    if isinstance(cfg, DictConfig):
        container = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    else:
        container = dict(cfg)
    assert isinstance(container, dict)
    hydra = container.pop("hydra", None) or {}
    flat = _flatten(container)
    params = (hydra.get("sweeper") or {}).get("params") or {}
    for key, value in dict(params).items():
        flat[f"hydra.sweeper.params.{key}"] = value
    exclude = (hydra.get("sweeper") or {}).get("exclude")
    if exclude:  # absent and empty are the same sweep (sweeps started before the key existed)
        flat["hydra.sweeper.exclude"] = [dict(e) for e in exclude]
    task = [str(o) for o in ((hydra.get("overrides") or {}).get("task") or [])]
    return flat, task


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else repr(value)


_ABSENT = object()


def _allowed(key: str, allow: Sequence[str]) -> bool:
    return any(key == a or key.startswith(f"{a}.") for a in allow)


def config_differences(
    old: DictConfig | Mapping[str, Any], new: DictConfig | Mapping[str, Any], allow: Sequence[str] = ()
) -> list[str]:
    """The differences between two sweep configurations (``multirun.yaml``), one line per key:
    ``"<key>: <old> then, <new> now"``; command-line overrides appear as ``"override <key>: ..."``.
    Hydra's own settings (launcher, directories, logging) are not compared, except the sweeper's
    ``params``; keys in ``allow`` (and below them) are not compared either. Returns ``[]`` when the
    jobs would be the same."""
    (old_flat, old_task), (new_flat, new_task) = _signature(old), _signature(new)
    out = []
    for key in sorted(set(old_flat) | set(new_flat)):
        a, b = old_flat.get(key, _ABSENT), new_flat.get(key, _ABSENT)
        if a != b and not _allowed(key, allow):
            out.append(f"{key}: {_show(a)} then, {_show(b)} now")
    a_map, b_map = _override_map(old_task), _override_map(new_task)
    for key in sorted(set(a_map) | set(b_map)):
        a, b = a_map.get(key, _ABSENT), b_map.get(key, _ABSENT)
        if a != b and not _allowed(key, allow):
            out.append(f"override {key}: {_show(a)} then, {_show(b)} now")
    if not out and [_parse_override(o)[0] for o in old_task] != [_parse_override(o)[0] for o in new_task]:
        out.append(
            f"the order of the overrides (it sets the job numbers): {old_task} then, {new_task} now"
        )
    return out


def job_differences(old: Sequence[Job], new: Sequence[Job]) -> list[str]:
    """The differences between two job lists (``jobs.yaml``), one line per job or key."""
    out = []
    if len(old) != len(new):
        out.append(f"number of jobs: {len(old)} then, {len(new)} now")
    for a, b in zip(old, new):
        if a.subdir != b.subdir:
            out.append(f"job {a.num}: directory {a.subdir!r} then, {b.subdir!r} now")
        a_map, b_map = _override_map(a.overrides), _override_map(b.overrides)
        for key in sorted(set(a_map) | set(b_map)):
            x, y = a_map.get(key, _ABSENT), b_map.get(key, _ABSENT)
            if x != y:
                out.append(f"job {a.num} override {key}: {_show(x)} then, {_show(y)} now")
    return out


def _mismatch(sweep_dir: Path, what: str, diffs: list[str]) -> SweepMismatchError:
    shown = diffs[:20] + ([f"... and {len(diffs) - 20} more"] if len(diffs) > 20 else [])
    return SweepMismatchError(
        f"the sweep directory {str(sweep_dir)!r} was started with another {what}; differing keys:\n  "
        + "\n  ".join(shown)
        + "\nA sweep never mixes configurations: relaunch it with the overrides it was started with, or "
        "choose another hydra.sweep.dir. If a difference does not change what the jobs compute (e.g. a "
        "code update added a key with a neutral default), accept it explicitly with "
        "hydra.sweeper.allow_changes=[<key>,...]"
    )


# -- the grid ---------------------------------------------------------------------------------------
def _as_override_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same_value(override: str, wanted: str) -> bool:
    if override == wanted:
        return True
    try:
        return float(override) == float(wanted)
    except ValueError:
        return False


def exclude_jobs(
    jobs: Sequence[Sequence[str]], exclude: Sequence[Mapping[str, Any]] | None
) -> list[list[str]]:
    """The jobs (each a list of ``key=value`` overrides, in the grid's order) that no entry of
    ``exclude`` matches (module docstring: ``hydra.sweeper.exclude``).

    An entry that matches no job is logged as a warning (the grid may have been shrunk on the command
    line).

    Raises:
        SweepExcludeError: an entry is not a non-empty mapping or names a key that no job overrides.
    """
    jobs = [list(j) for j in jobs]
    if not exclude:
        return jobs
    maps = [_override_map(j) for j in jobs]
    keys = sorted({k for m in maps for k in m})
    rules = []
    for i, entry in enumerate(exclude):
        if not isinstance(entry, Mapping) or not entry:
            raise SweepExcludeError(
                f"hydra.sweeper.exclude[{i}] must be a non-empty mapping of swept keys to values, "
                f"got {entry!r}"
            )
        rule = {}
        for key, value in entry.items():
            if str(key) not in keys:
                raise SweepExcludeError(
                    f"hydra.sweeper.exclude[{i}] names {key!r}, which no job of the sweep sets; "
                    f"the sweep sets: {', '.join(keys)}"
                )
            values = value if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else [value]
            rule[str(key)] = [_as_override_text(v) for v in values]
        rules.append(rule)

    def matches(m: Mapping[str, str], rule: Mapping[str, list[str]]) -> bool:
        return all(any(_same_value(m.get(k, ""), v) for v in vs) for k, vs in rule.items())

    for i, rule in enumerate(rules):
        if not any(matches(m, rule) for m in maps):
            log.warning(
                f"hydra.sweeper.exclude[{i}] = {dict(exclude[i])!r} matches no job of the sweep "
                "(a shrunk grid, or a misspelt value?)"
            )
    return [j for j, m in zip(jobs, maps) if not any(matches(m, r) for r in rules)]


# -- the job list -----------------------------------------------------------------------------------
def read_jobs(sweep_dir: str | Path) -> list[Job] | None:
    """The jobs of a sweep (``<sweep_dir>/jobs.yaml``), or ``None`` when the file is absent or unreadable."""
    path = Path(sweep_dir) / JOBS_FILE
    try:
        items = yaml.safe_load(path.read_text())
        return [Job(int(j["num"]), str(j["dir"]), tuple(str(o) for o in j["overrides"])) for j in items]
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return None


def _write_jobs(sweep_dir: Path, jobs: Sequence[Job]) -> None:
    items = [{"num": j.num, "dir": j.subdir, "overrides": list(j.overrides)} for j in jobs]
    tmp = sweep_dir / f".{JOBS_FILE}.tmp"
    tmp.write_text(
        "# gdl-train -m: every job of this sweep (gdl.cli.sweep); gdl-ablate lists the unfinished ones\n"
        + yaml.safe_dump(items, sort_keys=False, default_flow_style=None, width=1000)
    )
    tmp.replace(sweep_dir / JOBS_FILE)


def _status(job_dir: Path) -> str | None:
    try:
        return json.loads((job_dir / METRICS_FILE).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


# -- the sweeper ------------------------------------------------------------------------------------
class _ResumingLauncher:
    """Wraps the configured launcher: skips finished jobs and launches the others, in one launch
    where job numbers allow it (module docstring), else in runs of consecutive job numbers."""

    def __init__(self, inner: Any, sweeper: ResumableSweeperBase):
        self.inner, self.sweeper = inner, sweeper

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        todo: list[int] = []
        for i, overrides in enumerate(job_overrides):
            num = initial_job_idx + i
            job_dir = self.sweeper.job_dir(num, overrides)
            status = _status(job_dir)
            if status == "finished":
                log.info(f"\t#{num} : finished before, skipped ({job_dir})")
                record = json.loads((job_dir / METRICS_FILE).read_text())
                returns[i] = JobReturn(
                    overrides=list(overrides), working_dir=str(job_dir), task_name=str(
                        self.sweeper.config.hydra.job.name), status=JobStatus.COMPLETED, _return_value=record,
                )
                continue
            if status is not None:
                resumes = (job_dir / LAST_CKPT).is_file()
                how = "resumes from checkpoints/last.ckpt" if resumes else "starts again"
                log.info(f"\t#{num} : {status} before, {how}")
            todo.append(i)
        runs: list[list[int]] = []
        for i in todo:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        if len(runs) > 1 and self.sweeper.numbers_only_name_directories([job_overrides[i] for i in todo]):
            log.info(f"\tlaunching jobs {', '.join(str(initial_job_idx + i) for i in todo)} together "
                     "(each in its own directory, hydra.sweep.subdir)")
            batch = [[*job_overrides[i], f"hydra.sweep.subdir={initial_job_idx + i}"] for i in todo]
            results = self.inner.launch(batch, initial_job_idx=initial_job_idx + todo[0])
            for i, r in zip(todo, results):
                r.overrides = list(job_overrides[i])
                returns[i] = r
        else:
            for run in runs:
                batch = [job_overrides[i] for i in run]
                results = self.inner.launch(batch, initial_job_idx=initial_job_idx + run[0])
                for i, r in zip(run, results):
                    returns[i] = r
        assert all(r is not None for r in returns)
        return returns  # type: ignore[return-value]


class ResumableSweeperBase(BasicSweeper):
    """Hydra's basic sweeper (the same grid of jobs, the same numbering) made resumable (module
    docstring). The plugin ``hydra_plugins.gdl_sweeper.ResumableSweeper`` subclasses it; select it
    with ``hydra/sweeper=resumable`` (gdl's default, ``conf/hydra/default.yaml``).

    Args:
        max_batch_size: as Hydra's basic sweeper (jobs per launch). Default ``None`` (all).
        params: as Hydra's basic sweeper (``hydra.sweeper.params``). Default ``None``.
        allow_changes: configuration keys that may differ from the sweep's first launch (e.g. a key
            that a code update added with a neutral default); everything else must be equal.
            Default ``()``.
        exclude: points of the grid left out (module docstring). Default ``()`` (the whole grid).
    """

    def __init__(
        self, max_batch_size: int | None = None, params: dict[str, str] | None = None,
        allow_changes: Sequence[str] | None = (), exclude: Sequence[Mapping[str, Any]] | None = (),
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.allow_changes = tuple(str(k) for k in (allow_changes or ()))
        self.exclude = list(exclude or ())

    def split_arguments(  # type: ignore[override]
        self, overrides: Sequence[Any], max_batch_size: int | None
    ) -> list[list[list[str]]]:
        """Hydra's grid (:meth:`BasicSweeper.split_arguments`) less the excluded jobs, in batches of
        ``max_batch_size``."""
        grid = [j for batch in BasicSweeper.split_arguments(list(overrides), None) for j in batch]
        jobs = exclude_jobs(grid, self.exclude)
        if max_batch_size is None:
            return [jobs]
        return [jobs[i:i + max_batch_size] for i in range(0, len(jobs), max_batch_size)]

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.launcher = _ResumingLauncher(self.launcher, self)

    def _numbered_subdir(self) -> bool:
        """Whether ``hydra.sweep.subdir`` names a job's directory by its number alone (the default)."""
        assert self.config is not None
        raw = OmegaConf.to_container(self.config.hydra.sweep, resolve=False)["subdir"]  # type: ignore[index]
        return raw in _NUMBERED_SUBDIRS

    def job_dir(self, num: int, overrides: Sequence[str]) -> Path:
        """The directory Hydra gives job ``num`` (``hydra.sweep.dir``/``hydra.sweep.subdir``)."""
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        if self._numbered_subdir():
            return sweep_dir / str(num)
        assert self.hydra_context is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.num = num
            cfg.hydra.job.id = num
        return sweep_dir / str(cfg.hydra.sweep.subdir)

    def numbers_only_name_directories(self, jobs: Sequence[Sequence[str]]) -> bool:
        """Whether these jobs may run with another ``hydra.job.num`` than their number in the grid:
        ``hydra.sweep.subdir`` is the default ``${hydra.job.num}`` and no job's configuration
        (composed with its overrides, Hydra's own settings left out) interpolates
        ``hydra:job.num``, ``hydra:job.id`` or ``hydra:job``."""
        if not self._numbered_subdir():
            return False
        assert self.hydra_context is not None and self.config is not None
        for overrides in jobs:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            task = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
            assert isinstance(task, dict)
            task.pop("hydra", None)
            if _JOB_NUM_INTERPOLATION.search(yaml.safe_dump(task)):
                return False
        return True

    def _all_jobs(self, arguments: list[str]) -> list[Job]:
        assert self.hydra_context is not None and self.config is not None
        params_conf = self._parse_config()
        params_conf.extend(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        batches = self.split_arguments(parser.parse_overrides(params_conf), None)
        jobs = []
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        for num, overrides in enumerate(o for batch in batches for o in batch):
            subdir = self.job_dir(num, overrides).relative_to(sweep_dir)
            jobs.append(Job(num, str(subdir), tuple(overrides)))
        return jobs

    def _started_job_differences(self, sweep_dir: Path, jobs: Sequence[Job]) -> list[str]:
        """Each started job's saved configuration (``.hydra/config.yaml``) against the one composed
        now: catches edits of the files a job's overrides select (a combo, a model config), which
        the sweep's own configuration does not show."""
        assert self.hydra_context is not None and self.config is not None
        out = []
        for job in jobs:
            saved = sweep_dir / job.subdir / ".hydra" / "config.yaml"
            if not saved.is_file():
                continue
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job.overrides))
            now = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
            assert isinstance(now, dict)
            now.pop("hydra", None)
            then = OmegaConf.to_container(OmegaConf.load(saved), resolve=False, throw_on_missing=False)
            assert isinstance(then, dict)
            out += [f"job {job.num}: {d}" for d in config_differences(then, now, self.allow_changes)]
        return out

    def sweep(self, arguments: list[str]) -> Any:
        try:
            self._check_and_record(arguments)
        except (SweepMismatchError, SweepExcludeError) as e:
            raise SystemExit(f"gdl-train: {e}") from None
        return super().sweep(arguments)

    def _check_and_record(self, arguments: list[str]) -> None:
        """Compare the configuration and the jobs with the sweep directory's, then write ``jobs.yaml``."""
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        old_config = sweep_dir / MULTIRUN_FILE
        if old_config.is_file():
            diffs = config_differences(OmegaConf.load(old_config), self.config, self.allow_changes)
            if diffs:
                raise _mismatch(sweep_dir, "configuration", diffs)
        jobs = self._all_jobs(arguments)
        old_jobs = read_jobs(sweep_dir)
        if old_jobs is not None:
            diffs = job_differences(old_jobs, jobs)
            if diffs:
                raise _mismatch(sweep_dir, "list of jobs", diffs)
        elif sweep_dir.is_dir() and any((sweep_dir / j.subdir / METRICS_FILE).is_file() for j in jobs):
            # a sweep started without jobs.yaml (older gdl): compare each job's recorded overrides
            diffs = []
            for j in jobs:
                path = sweep_dir / j.subdir / ".hydra" / "overrides.yaml"
                if path.is_file():
                    old = tuple(str(o) for o in (yaml.safe_load(path.read_text()) or []))
                    diffs += job_differences([Job(j.num, j.subdir, old)], [j])
            if diffs:
                raise _mismatch(sweep_dir, "list of jobs", diffs)
        diffs = self._started_job_differences(sweep_dir, jobs)
        if diffs:
            raise _mismatch(sweep_dir, "configuration of its jobs", diffs)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        _write_jobs(sweep_dir, jobs)
        done = sum(_status(sweep_dir / j.subdir) == "finished" for j in jobs)
        if done:
            log.info(f"Resuming the sweep in {sweep_dir}: {done} of {len(jobs)} jobs finished before")
