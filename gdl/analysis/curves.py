r"""Validation curves of finished runs (``gdl-ablate --curves``): has training converged?

Each run's per-epoch log ``<run>/csv/metrics.csv`` (``logger=csv``, gdl's default) holds the
validation metric ``val/<target>/<metric>`` at every validation epoch. :func:`validation_curves`
collects them in one long table; :func:`convergence` measures, per run, how much the best validation
value still improved over the last ``tail`` fraction of the epochs (``late_improvement`` = (best
before the tail − best overall) / best overall: ``0`` when the curve had flattened before the tail);
:func:`plot_validation_curves` draws the mean over seeds per (model, strategy, variant).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["convergence", "plot_validation_curves", "validation_curves"]

_LINE = ["sweep", "dataset", "target", "model", "strategy", "variant"]


def validation_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, target, validation epoch) of a :func:`gdl.analysis.frame.runs_frame`:
    the identity columns, ``seed``, ``run_dir``, ``metric``, ``epoch`` and ``value``
    (``val/<target>/<metric>``). Runs without ``csv/metrics.csv`` or without that column are left
    out (empty result when none has it)."""
    rows = []
    for r in frame.itertuples(index=False):
        path = Path(r.run_dir) / "csv" / "metrics.csv"
        column = f"val/{r.target}/{r.metric}"
        try:
            log = pd.read_csv(path)
        except (OSError, ValueError):
            continue
        if column not in log or "epoch" not in log:
            continue
        points = log[["epoch", column]].dropna()
        for epoch, value in zip(points["epoch"], points[column]):
            rows.append({**{k: getattr(r, k) for k in _LINE}, "seed": r.seed, "run_dir": r.run_dir,
                         "metric": r.metric, "epoch": int(epoch), "value": float(value)})
    return pd.DataFrame(rows, columns=[*_LINE, "seed", "run_dir", "metric", "epoch", "value"])


def convergence(curves: pd.DataFrame, tail: float = 0.2) -> pd.DataFrame:
    """Per run: ``epochs`` (last validation epoch), ``best``, ``best_epoch`` and ``late_improvement``
    (how much the best value improved within the last ``tail`` of the epochs, relative to the best).

    Raises:
        ValueError: ``tail`` outside (0, 1).
    """
    if not 0 < tail < 1:
        raise ValueError(f"tail must be in (0, 1), got {tail}")
    rows = []
    for (run_dir, _), c in curves.groupby(["run_dir", "target"], sort=False):
        c = c.sort_values("epoch")
        last = int(c["epoch"].max())
        best = float(c["value"].min())
        before = c[c["epoch"] <= (1 - tail) * last]["value"]
        late = (float(before.min()) - best) / abs(best) if len(before) and best != 0 else math.nan
        first = c.iloc[0]
        rows.append({**{k: first[k] for k in _LINE}, "seed": first["seed"], "run_dir": run_dir,
                     "epochs": last, "best": best, "best_epoch": int(c.loc[c["value"].idxmin(), "epoch"]),
                     "late_improvement": late})
    return pd.DataFrame(rows, columns=[*_LINE, "seed", "run_dir", "epochs", "best", "best_epoch",
                                       "late_improvement"])


def plot_validation_curves(curves: pd.DataFrame) -> Figure:
    """Validation metric against epoch (log y), mean over seeds per (model, strategy, variant), one
    panel per (sweep, dataset, target)."""
    panels = list(curves.groupby(["sweep", "dataset", "target"], sort=True)) if not curves.empty else []
    cols = min(max(len(panels), 1), 2)
    rows = math.ceil(max(len(panels), 1) / cols)
    fig = Figure(figsize=(9.5 * cols, 4.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    if not panels:
        axes[0].text(0.5, 0.5, "no validation curves (csv/metrics.csv)", ha="center", va="center")
        return fig
    for ax, ((_, dataset, target), part) in zip(axes, panels):
        lines = part.groupby(["model", "strategy", "variant"], sort=True, dropna=False)
        for i, (key, line) in enumerate(lines):
            mean = line.groupby("epoch")["value"].mean()
            label = f"{key[0]} / {key[1]}" + (f" ({key[2]})" if key[2] else "")
            ax.plot(mean.index, mean.to_numpy(), label=label, color=f"C{i % 10}",
                    linestyle="-" if i < 10 else "--")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {part['metric'].iloc[0]}")
        ax.set_title(f"{dataset} / {target}")
        ax.legend(fontsize=7, ncol=2)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig
