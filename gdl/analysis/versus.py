r"""Results against a swept numeric setting (``gdl-ablate --versus data.field_strength``): the test
error and each strategy's learned symmetry level as functions of, e.g., the strength ε of a
symmetry-breaking field, and the rank correlation of the symmetry level with it.

The setting is read from each run's ``variant`` (``"data.field_strength=0.3"``,
:mod:`gdl.analysis.frame`); runs whose variant does not name it are left out. A line is a (model,
strategy, remaining variant); its points are the mean over seeds, its error bars the standard
deviation.

:data:`SYMMETRY_LEVELS` are the report entries that measure how far a strategy has moved from exact
symmetry: RPP's ``output_norm_ratio`` (norm of the non-equivariant path over the output's),
relaxed group convolutions' ``relaxation_norm`` and partial group convolutions' ``theta_max_mean``
(the largest rotation angle each layer keeps; larger is *more* symmetric, so its correlation with a
symmetry-breaking setting is expected to be negative).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["SYMMETRY_LEVELS", "plot_symmetry_versus", "plot_versus", "symmetry_trend", "versus_frame"]

#: Numeric ``symmetry/<key>`` columns that measure a strategy's learned symmetry level.
SYMMETRY_LEVELS = ("symmetry/output_norm_ratio", "symmetry/relaxation_norm", "symmetry/theta_max_mean")
_LINE = ["sweep", "dataset", "target", "model", "strategy", "rest"]


def _split_variant(variant: str, key: str) -> tuple[float, str]:
    parts = [p.strip() for p in str(variant or "").split(",") if p.strip()]
    value, rest = math.nan, []
    for p in parts:
        k, _, v = p.partition("=")
        if k == key:
            try:
                value = float(v)
            except ValueError:
                value = math.nan
        else:
            rest.append(p)
    return value, ", ".join(rest)


def versus_frame(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The rows of a :func:`gdl.analysis.frame.runs_frame` whose variant sets ``key`` to a number,
    with the columns ``x`` (that number) and ``rest`` (the rest of the variant).

    Raises:
        ValueError: no run's variant sets ``key`` to a number (naming the variants present).
    """
    if frame.empty:
        raise ValueError("no finished runs")
    split = frame["variant"].map(lambda v: _split_variant(v, key))
    out = frame.assign(x=[s[0] for s in split], rest=[s[1] for s in split])
    out = out[out["x"].notna()]
    if out.empty:
        present = sorted({str(v) for v in frame["variant"] if v}) or ["(none)"]
        raise ValueError(
            f"--versus {key}: no run's variant sets {key} to a number; variants present: {', '.join(present)}"
        )
    return out


def symmetry_trend(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per line and per symmetry level it reports (:data:`SYMMETRY_LEVELS`): Spearman's rank
    correlation between ``key`` and that level over all runs (every seed), the number of runs and
    of distinct settings. Columns: the line's identity, ``level``, ``spearman``, ``num_runs``,
    ``num_settings``."""
    data = versus_frame(frame, key)
    rows = []
    for ident, line in data.groupby(_LINE, sort=True, dropna=False):
        for level in SYMMETRY_LEVELS:
            if level not in line or line[level].isna().all():
                continue
            pts = line[["x", level]].dropna()
            rho = pts["x"].rank().corr(pts[level].rank()) if pts["x"].nunique() > 1 else math.nan
            rows.append({**dict(zip(_LINE, ident)), "level": level.removeprefix("symmetry/"),
                         "spearman": rho, "num_runs": len(pts), "num_settings": int(pts["x"].nunique())})
    return pd.DataFrame(rows, columns=[*_LINE, "level", "spearman", "num_runs", "num_settings"])


def _line_label(ident: tuple) -> str:
    model, strategy, rest = ident[3], ident[4], ident[5]
    return f"{model} / {strategy}" + (f" ({rest})" if rest else "")


def _axes(n: int) -> tuple[Figure, list]:
    cols = min(max(n, 1), 3)
    rows = math.ceil(max(n, 1) / cols)
    fig = Figure(figsize=(6.5 * cols, 4.5 * rows), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False).ravel().tolist()


def _xscale(ax, xs: np.ndarray) -> None:
    """A symmetric-log axis when the positive settings span a decade or more (so that a setting of
    0, e.g. no field, sits on the axis beside them), cut a little left of the smallest setting:
    without negative settings there is no negative half (matplotlib's autoscale would draw one)."""
    positive = xs[xs > 0]
    if len(positive) and positive.max() / positive.min() >= 10:
        linthresh = float(positive.min())
        ax.set_xscale("symlog", linthresh=linthresh)
        if xs.min() >= 0:
            ax.set_xlim(-0.2 * linthresh, ax.get_xlim()[1])


def plot_versus(frame: pd.DataFrame, key: str) -> Figure:
    """Test error (each row's ``metric``; mean ± std over seeds) against ``key``, one line per
    (model, strategy, remaining variant), one panel per (sweep, dataset, target)."""
    data = versus_frame(frame, key)
    panels = list(data.groupby(["sweep", "dataset", "target"], sort=True))
    fig, axes = _axes(len(panels))
    for ax, ((_, dataset, target), part) in zip(axes, panels):
        metric = str(part["metric"].iloc[0])
        for i, (ident, line) in enumerate(part.groupby(_LINE, sort=True, dropna=False)):
            stats = line.groupby("x")[f"test/{metric}"].agg(["mean", "std"]).reset_index()
            ax.errorbar(stats["x"], stats["mean"], yerr=stats["std"].fillna(0), marker="os^Dv<>"[i % 7],
                        capsize=3, label=_line_label(ident))
        ax.set_yscale("log")
        _xscale(ax, part["x"].to_numpy())
        ax.set_xlabel(key)
        ax.set_ylabel(f"test {metric}")
        ax.set_title(f"{dataset} / {target}")
        ax.legend(fontsize=7)
    return fig


def plot_symmetry_versus(frame: pd.DataFrame, key: str) -> Figure:
    """Each strategy's learned symmetry level (:data:`SYMMETRY_LEVELS`; mean ± std over seeds)
    against ``key``, one panel per level, the Spearman correlation in the legend."""
    data = versus_frame(frame, key)
    trend = symmetry_trend(frame, key)
    levels = [lv for lv in SYMMETRY_LEVELS if lv in data and data[lv].notna().any()]
    fig, axes = _axes(len(levels))
    if not levels:
        axes[0].text(0.5, 0.5, "no strategy with a symmetry level", ha="center", va="center")
        return fig
    for ax, level in zip(axes, levels):
        for ident, line in data[data[level].notna()].groupby(_LINE, sort=True, dropna=False):
            stats = line.groupby("x")[level].agg(["mean", "std"]).reset_index()
            row = trend[(trend["model"] == ident[3]) & (trend["strategy"] == ident[4])
                        & (trend["rest"] == ident[5]) & (trend["level"] == level.removeprefix("symmetry/"))]
            rho = float(row["spearman"].iloc[0]) if len(row) else math.nan
            ax.errorbar(stats["x"], stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3,
                        label=f"{_line_label(ident)}  (Spearman {rho:.2f})")
        _xscale(ax, data["x"].to_numpy())
        ax.set_xlabel(key)
        ax.set_ylabel(level.removeprefix("symmetry/"))
        ax.legend(fontsize=7)
    return fig
