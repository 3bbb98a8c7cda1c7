"""An ablation report: run directories in, tables and figures out (what ``gdl-ablate`` does).

:func:`analyse` reads the runs (:func:`gdl.analysis.runs.load_runs`), builds the run table, the
per-training-size aggregate, the learning-curve fits and the summary (one row per (sweep, dataset,
target, model, strategy, variant) at its largest training size, with the slope). :func:`write_report`
writes every file into a temporary folder next to ``out`` and moves them into ``out`` only when all
were written, so a failure leaves no partial set of outputs.

Files written (``out/``)::

    summary.md  summary.csv  summary.tex        one row per (model, strategy[, variant]); the CSV has numbers
    by_train_size.md  by_train_size.csv         every training size
    learning_curves.csv                         log–log slope fits with confidence intervals
    slope_separation.csv  param_match.csv       vs the invariant model (gdl.analysis.param_match)
    param_match.png                             error vs parameters of a width sweep, matched counts
    runs.csv                                    one row per (run, target)
    problems.csv                                runs left out, with the reason (failed, unfinished, ...)
    pending.csv                                 jobs of sweeps in progress that have not finished
    learning_curves.png  accuracy_vs_equivariance.png  accuracy_vs_parameters.png
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .aggregate import GROUP, aggregate, largest_train_size
from .frame import IDENTITY, runs_frame
from .learning_curve import learning_curves
from .param_match import param_match, plot_param_match, slope_separation
from .plots import plot_accuracy_vs_equivariance, plot_accuracy_vs_parameters, plot_learning_curves
from .runs import RunSet, load_runs
from .tables import display_table, to_latex, to_markdown

__all__ = ["MERGED", "AblationReport", "NoFinishedRunsError", "analyse", "write_report"]

#: Sweep label of all runs when sweeps are merged.
MERGED = "(merged sweeps)"
FIGURES = ("learning_curves.png", "accuracy_vs_equivariance.png", "accuracy_vs_parameters.png")


class NoFinishedRunsError(ValueError):
    """Run directories were found, but none finished with a complete ``metrics.json``."""


@dataclass
class AblationReport:
    """Everything :func:`write_report` writes, in memory.

    Attributes:
        runs: the runs read (usable and problems).
        frame: one row per (run, target) (:func:`gdl.analysis.frame.runs_frame`).
        by_train_size: :func:`gdl.analysis.aggregate.aggregate` of ``frame``.
        curves: :func:`gdl.analysis.learning_curve.learning_curves` of ``frame``.
        summary: ``by_train_size`` at the largest training size, joined with ``curves``.
        notes: what the reader must know (mixed sweeps, left-out runs, duplicate seeds).
        slopes, param_match: :func:`~gdl.analysis.param_match.slope_separation` of ``curves`` and
            :func:`~gdl.analysis.param_match.param_match` of ``frame`` (empty without InvariantNet runs).
    """

    runs: RunSet
    frame: pd.DataFrame
    by_train_size: pd.DataFrame
    curves: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    slopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    param_match: pd.DataFrame = field(default_factory=pd.DataFrame)

    def markdown(self) -> str:
        """The summary table in Markdown."""
        return to_markdown(display_table(self.summary))

    def pending_frame(self) -> pd.DataFrame:
        rows = [{"sweep": p.sweep, "job": p.num, "run_dir": str(p.path), "status": p.status,
                 "overrides": p.describe()} for p in self.runs.pending]
        return pd.DataFrame(rows, columns=["sweep", "job", "run_dir", "status", "overrides"])

    def problems_frame(self) -> pd.DataFrame:
        rows = [{"run_dir": str(r.path), "status": r.status, "run": r.describe(), "reason": r.problem}
                for r in self.runs.problems]
        return pd.DataFrame(rows, columns=["run_dir", "status", "run", "reason"])


def _notes(runs: RunSet, frame: pd.DataFrame, merged: bool) -> list[str]:
    notes = []
    sweeps = runs.sweeps
    if len(sweeps) > 1 and not merged:
        notes.append(
            f"the runs come from {len(sweeps)} sweeps, aggregated separately (column 'sweep'; "
            f"--merge-sweeps pools them): " + ", ".join(sweeps)
        )
    elif merged and len({r.sweep for r in runs.runs}) > 1:
        notes.append("runs of several sweeps are pooled (--merge-sweeps)")
    dup = frame[frame.duplicated([*GROUP, "seed"], keep=False)]
    if not dup.empty:
        keys = dup.drop_duplicates([*GROUP, "seed"])
        notes.append(
            f"{len(keys)} (setting, seed) pairs occur in more than one run and are averaged as separate "
            "samples: " + "; ".join(
                f"{r.model}/{r.strategy} n={r.train_size} seed={r.seed}" for r in keys.itertuples()
            )
        )
    if runs.problems:
        notes.append(
            f"{len(runs.problems)} run(s) left out (failed, unfinished or incomplete): see problems.csv"
        )
    if runs.pending:
        notes.append(
            f"{len(runs.pending)} job(s) of sweeps in progress have not finished and are not in the tables "
            "(relaunching the same gdl-train -m command finishes them): see pending.csv"
        )
    return notes


def analyse(paths: Sequence[str | os.PathLike], merge_sweeps: bool = False) -> AblationReport:
    """Read the runs under ``paths`` and compute the tables (module docstring).

    Raises :class:`gdl.analysis.runs.NoRunsError` when no run directory is found and
    :class:`NoFinishedRunsError` (listing each run and why) when none can be used.
    """
    runs = load_runs(paths)
    if merge_sweeps:
        runs = RunSet([dataclasses.replace(r, sweep=MERGED) for r in runs.runs], runs.problems, runs.pending)
    if not runs.runs:
        listing = "\n".join(
            [f"  {r.path}: {r.problem}" for r in runs.problems]
            + [f"  {p.path}: pending ({p.status})" for p in runs.pending]
        )
        n = len(runs.problems) + len(runs.pending)
        raise NoFinishedRunsError(f"none of the {n} run(s) can be used:\n{listing}")
    frame = runs_frame(runs.runs)
    by_size = aggregate(frame)
    curves = learning_curves(frame)
    summary = largest_train_size(by_size)
    if not curves.empty:
        fit_columns = ["slope", "ci_low", "ci_high", "num_sizes"]
        summary = summary.merge(curves[[*IDENTITY, *fit_columns]], on=list(IDENTITY), how="left")
    return AblationReport(
        runs, frame, by_size, curves, summary, _notes(runs, frame, merge_sweeps),
        slope_separation(curves), param_match(frame),
    )


def _write_all(report: AblationReport, folder: Path) -> None:
    shown = display_table(report.summary)
    (folder / "summary.md").write_text(to_markdown(shown) + "\n")
    (folder / "summary.tex").write_text(to_latex(shown, caption="Ablation summary (gdl-ablate)"))
    report.summary.to_csv(folder / "summary.csv", index=False)
    (folder / "by_train_size.md").write_text(to_markdown(display_table(report.by_train_size)) + "\n")
    report.by_train_size.to_csv(folder / "by_train_size.csv", index=False)
    report.curves.to_csv(folder / "learning_curves.csv", index=False)
    report.frame.to_csv(folder / "runs.csv", index=False)
    report.slopes.to_csv(folder / "slope_separation.csv", index=False)
    report.param_match.to_csv(folder / "param_match.csv", index=False)
    report.problems_frame().to_csv(folder / "problems.csv", index=False)
    report.pending_frame().to_csv(folder / "pending.csv", index=False)
    figures = (
        plot_learning_curves(report.by_train_size, report.curves),
        plot_accuracy_vs_equivariance(report.summary),
        plot_accuracy_vs_parameters(report.summary),
    )
    for name, fig in zip(FIGURES, figures):
        fig.savefig(folder / name, dpi=120)
    plot_param_match(report.frame, report.param_match).savefig(folder / "param_match.png", dpi=120)


def write_report(report: AblationReport, out: str | os.PathLike) -> list[Path]:
    """Write every file of the report into ``out`` (created if needed), all or nothing: files are
    rendered into a temporary folder beside ``out`` and moved in at the end. Returns the paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_all(report, tmp)
        out.mkdir(exist_ok=True)
        written = []
        for path in sorted(tmp.iterdir()):
            os.replace(path, out / path.name)
            written.append(out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
