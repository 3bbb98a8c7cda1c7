"""The three figures of an ablation, as matplotlib ``Figure`` objects (no pyplot, no global backend:
``fig.savefig(path)`` renders with Agg), one panel per (sweep, dataset, target):

* :func:`plot_learning_curves` — test error against training-set size, log–log, one line per
  (model, strategy, variant), error bars the standard deviation over seeds, the fitted slope in the
  legend;
* :func:`plot_accuracy_vs_equivariance` — test error against the measured relative equivariance
  error (float64; values below 1e-16 are drawn at 1e-16, the float64 floor);
* :func:`plot_accuracy_vs_parameters` — test error against the number of parameters.

Inputs are :func:`gdl.analysis.aggregate.aggregate` tables; the error is each row's ``metric``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["plot_accuracy_vs_equivariance", "plot_accuracy_vs_parameters", "plot_learning_curves"]

#: Equivariance errors are drawn no lower than this (relative errors of exact models in float64).
EQUIVARIANCE_FLOOR = 1e-16
_COLORS = colormaps["tab20"]
_PANEL = ("sweep", "dataset", "target")
_LINE = ("model", "strategy", "variant")
_MARKERS = "osD^v<>pPX*h"


def _style(i: int) -> dict:
    """A distinct colour (tab20) and marker for line ``i``."""
    return {"color": _COLORS(i % 20), "marker": _MARKERS[i % len(_MARKERS)]}


def _label(key: tuple) -> str:
    model, strategy, variant = key
    return f"{model} / {strategy}" + (f" ({variant})" if variant else "")


def _panels(table: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    return list(table.groupby(list(_PANEL), sort=True, dropna=False))


def _figure(n: int) -> tuple[Figure, list]:
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(9.5 * cols, 4.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _title(key: tuple, many_sweeps: bool) -> str:
    sweep, dataset, target = key
    return f"{dataset} / {target}" + (f"\n{sweep}" if many_sweeps else "")


def _ylabel(part: pd.DataFrame) -> tuple[str, str]:
    metric = str(part["metric"].iloc[0])
    unit = str(part["unit"].iloc[0]) if "unit" in part and part["unit"].iloc[0] else ""
    if metric == "mse" and unit:
        unit = f"({unit})²"
    return metric, f"test {metric}" + (f" [{unit}]" if unit and metric != "r2" else "")


def _lines(part: pd.DataFrame) -> Iterator[tuple[int, tuple, pd.DataFrame]]:
    for i, (key, line) in enumerate(part.groupby(list(_LINE), sort=True, dropna=False)):
        yield i, key, line


def _check(table: pd.DataFrame, what: str) -> None:
    if table.empty:
        raise ValueError(f"{what}: the table is empty (no finished runs)")


def plot_learning_curves(table: pd.DataFrame, fits: pd.DataFrame | None = None) -> Figure:
    """Error vs training size per (model, strategy, variant); ``fits`` (from
    :func:`gdl.analysis.learning_curve.learning_curves`) adds the slope to each legend entry."""
    _check(table, "plot_learning_curves")
    panels = _panels(table)
    fig, axes = _figure(len(panels))
    many = table["sweep"].nunique() > 1
    for ax, (pkey, part) in zip(axes, panels):
        metric, ylabel = _ylabel(part)
        for i, key, line in _lines(part):
            line = line.sort_values("train_size")
            mean, std = line[f"test/{metric}:mean"], line[f"test/{metric}:std"].fillna(0.0)
            label = _label(key)
            if fits is not None and not fits.empty:
                match = fits[
                    (fits["sweep"] == pkey[0]) & (fits["dataset"] == pkey[1]) & (fits["target"] == pkey[2])
                    & (fits["model"] == key[0]) & (fits["strategy"] == key[1]) & (fits["variant"] == key[2])
                ]
                if not match.empty:
                    label += f": slope {match['slope'].iloc[0]:.2f}"
            ax.errorbar(line["train_size"], mean, yerr=std, capsize=3, label=label, **_style(i))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training set size")
        ax.set_ylabel(ylabel)
        ax.set_title(_title(pkey, many))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _scatter(table: pd.DataFrame, x_column: str, xlabel: str, floor: float | None) -> Figure:
    panels = _panels(table)
    fig, axes = _figure(len(panels))
    many = table["sweep"].nunique() > 1
    for ax, (pkey, part) in zip(axes, panels):
        metric, ylabel = _ylabel(part)
        for i, key, line in _lines(part):
            x = line[x_column].to_numpy(dtype=float)
            if floor is not None:
                x = np.maximum(x, floor)
            y = line[f"test/{metric}:mean"].to_numpy(dtype=float)
            yerr = line[f"test/{metric}:std"].fillna(0.0).to_numpy(dtype=float)
            ax.errorbar(x, y, yerr=yerr, linestyle="none", capsize=3, label=_label(key), **_style(i))
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(_title(pkey, many))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_accuracy_vs_equivariance(table: pd.DataFrame) -> Figure:
    """Test error vs measured equivariance error (one point per row of ``table``)."""
    _check(table, "plot_accuracy_vs_equivariance")
    return _scatter(table, "equivariance:mean", "relative equivariance error (float64)",
                    EQUIVARIANCE_FLOOR)


def plot_accuracy_vs_parameters(table: pd.DataFrame) -> Figure:
    """Test error vs number of parameters (one point per row of ``table``)."""
    _check(table, "plot_accuracy_vs_parameters")
    return _scatter(table, "num_params:mean", "parameters", None)
