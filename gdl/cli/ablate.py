"""``gdl-ablate``: run directories of ``gdl-train`` sweeps → the ablation table and figures.

::

    gdl-train -m ablation=smoke                      # a sweep (conf/ablation/smoke.yaml)
    gdl-ablate logs/ablation_smoke/multiruns/<time>  # prints the table, writes <sweep>/ablation/
    gdl-ablate sweepA sweepB --out results/          # several sweeps, aggregated separately
    gdl-ablate sweepA sweepB --merge-sweeps          # ... or pooled
    gdl-ablate sweep --versus data.field_strength    # also: error and symmetry level against a setting
    gdl-ablate sweep --curves                        # also: validation curves and how flat they ended

Prints the summary in Markdown (one row per dataset, target, model, strategy and variant at its
largest training size, with the learning-curve slope), the notes (mixed sweeps, runs left out with
the reason), the jobs of sweeps in progress that have not finished (pending: not started,
running or interrupted, failed) and the files written (:mod:`gdl.analysis.report`). Exit status 0
on success, 2 when no usable run was found or a path is wrong (nothing is written then).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gdl-ablate",
        description="Tables (Markdown, CSV, LaTeX) and figures (PNG) from gdl-train run directories.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_DIR",
                   help="run directories or sweep directories (searched recursively for metrics.json)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: <RUN_DIR>/ablation for one path, ./ablation for several)")
    p.add_argument("--merge-sweeps", action="store_true",
                   help="pool runs of different sweeps instead of aggregating each sweep separately")
    p.add_argument("--versus", metavar="KEY", default=None,
                   help="a swept numeric override (e.g. data.field_strength): also plot the test error and "
                        "each strategy's learned symmetry level against it and write their rank "
                        "correlations (versus.png, symmetry_versus.png, symmetry_trend.csv)")
    p.add_argument("--curves", action="store_true",
                   help="also plot every finished run's validation curve (csv/metrics.csv) and measure how "
                        "much it still improved in its last 20%% of epochs (validation_curves.png, "
                        "validation_curves.csv, convergence.csv)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    args = parser().parse_args(argv)
    from ..analysis import NoFinishedRunsError, NoRunsError, analyse, write_report

    out = args.out if args.out is not None else (
        args.paths[0] / "ablation" if len(args.paths) == 1 else Path("ablation")
    )
    try:
        report = analyse(args.paths, merge_sweeps=args.merge_sweeps)
    except (NoRunsError, NoFinishedRunsError, FileNotFoundError, NotADirectoryError) as e:
        print(f"gdl-ablate: {e}", file=sys.stderr)
        return 2
    n_runs, n_bad, n_pending = len(report.runs.runs), len(report.runs.problems), len(report.runs.pending)
    print(
        f"gdl-ablate: {n_runs} finished run(s), {n_bad} left out, {len(report.runs.sweeps)} sweep(s), "
        f"{n_pending} job(s) pending\n"
    )
    print(report.markdown())
    for note in report.notes:
        print(f"\nnote: {note}")
    for run in report.runs.problems:
        print(f"  left out: {run.path}: {run.problem}")
    for job in report.runs.pending:
        print(f"  pending: job {job.num} ({job.status}): {job.describe()}")
    written = write_report(report, out)
    if args.versus:
        from ..analysis.versus import plot_symmetry_versus, plot_versus, symmetry_trend

        try:
            trend = symmetry_trend(report.frame, args.versus)
            figures = {"versus.png": plot_versus(report.frame, args.versus),
                       "symmetry_versus.png": plot_symmetry_versus(report.frame, args.versus)}
        except ValueError as e:
            print(f"gdl-ablate: {e}", file=sys.stderr)
            return 2
        trend.to_csv(out / "symmetry_trend.csv", index=False)
        written.append(out / "symmetry_trend.csv")
        for name, fig in figures.items():
            fig.savefig(out / name, dpi=120)
            written.append(out / name)
        if not trend.empty:
            print(f"\nrank correlation (Spearman) of the learned symmetry level with {args.versus}:")
            for r in trend.itertuples():
                print(f"  {r.model} / {r.strategy}{f' ({r.rest})' if r.rest else ''}: {r.level} "
                      f"{r.spearman:.3f} over {r.num_runs} runs, {r.num_settings} settings")
    if args.curves:
        from ..analysis.curves import convergence, plot_validation_curves, validation_curves

        curves = validation_curves(report.frame)
        conv = convergence(curves)
        curves.to_csv(out / "validation_curves.csv", index=False)
        conv.to_csv(out / "convergence.csv", index=False)
        plot_validation_curves(curves).savefig(out / "validation_curves.png", dpi=120)
        written += [out / "validation_curves.csv", out / "convergence.csv", out / "validation_curves.png"]
        if not conv.empty:
            print("\nvalidation curves (best value's relative improvement within the last 20% of epochs):")
            for key, g in conv.groupby(["model", "strategy", "variant"], sort=True, dropna=False):
                label = f"{key[0]} / {key[1]}" + (f" ({key[2]})" if key[2] else "")
                epochs = f"{int(g['epochs'].min())}-{int(g['epochs'].max())}"
                print(f"  {label}: {len(g)} run(s), epochs {epochs}, "
                      f"late improvement max {g['late_improvement'].max():.3g}")
    print(f"\nwrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
