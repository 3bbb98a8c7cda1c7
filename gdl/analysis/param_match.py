r"""Comparisons against a reference model (by default the invariant one, ``InvariantNet``):

* :func:`param_match` — for a sweep over model widths, the parameter count at which each model's
  test error reaches the best error of the reference model, and the ratio
  :math:`P_\mathrm{ref}/P_\mathrm{match}` ("the same accuracy with *ratio* times fewer
  parameters"), with a bootstrap interval over seeds;
* :func:`slope_separation` — whether the 95% intervals of the learning-curve slopes
  (:func:`gdl.analysis.learning_curve.learning_curves`) of each model and of the reference separate.

**Matched parameter count.** Within one (sweep, dataset, experiment, target, training size), a
*curve* is a (model, strategy, variant) with the width override (``model.hidden_channels``) removed
from the variant; its points are the mean test error over seeds at each parameter count. The
reference error :math:`e^*` is the lowest mean error of the reference model's widths, reached at
:math:`P_\mathrm{ref}` parameters. Going from the smallest width up, the first point with
:math:`\bar e_j \le e^*` gives the crossing; between it and the point before, :math:`\log P` is
interpolated linearly in :math:`\log \bar e` (a power law between neighbouring widths):

.. math::
    \log P_\mathrm{match} = \log P_{j-1} + (\log e^* - \log \bar e_{j-1})
        \frac{\log P_j - \log P_{j-1}}{\log \bar e_j - \log \bar e_{j-1}}.

Three outcomes (``status``): ``matched`` (a crossing inside the sampled widths: a ratio);
``below range`` (already at or below :math:`e^*` at the smallest width: the ratio is at least
:math:`P_\mathrm{ref}/P_0`, a lower bound); ``not reached`` (above :math:`e^*` at every width: no
ratio can be read — at this size the model does not reach the reference's accuracy with any
sampled width). The interval resamples, :math:`B` times, the seeds of every (curve, width) with
replacement, recomputes :math:`e^*`, :math:`P_\mathrm{ref}` and the crossing, and takes the
``confidence`` percentile interval of the ratio, counting a ``below range`` replicate as
:math:`+\infty` and a ``not reached`` one as 0 (so an end of the interval can be unbounded; with 3
seeds there are only 10 distinct resamples per width, and the interval is coarse).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from .frame import ERROR_METRICS, IDENTITY

__all__ = [
    "MATCH_COLUMNS", "SLOPE_COLUMNS", "param_match", "plot_param_match", "slope_separation", "strip_variant",
]

_SCOPE = ("sweep", "dataset", "experiment", "target")
#: Columns of :func:`param_match`'s table.
MATCH_COLUMNS = (
    *_SCOPE, "train_size", "metric", "model", "strategy", "variant", "reference", "reference_error",
    "reference_params", "num_widths", "min_params", "max_params", "status", "match_params",
    "ratio", "ci_low", "ci_high", "confidence", "fraction_matched", "num_bootstrap", "statement",
)
#: Columns of :func:`slope_separation`'s table.
SLOPE_COLUMNS = (
    *_SCOPE, "metric", "model", "strategy", "variant", "slope", "ci_low", "ci_high", "reference",
    "reference_slope", "reference_ci_low", "reference_ci_high", "separated", "relation",
    "difference", "difference_ci_low", "difference_ci_high",
)


def strip_variant(variant: str, key: str) -> str:
    """``"combo=tfn_l1, model.hidden_channels=8"`` without ``key`` → ``"combo=tfn_l1"``."""
    parts = [p for p in str(variant or "").split(", ") if p and not p.startswith(f"{key}=")]
    return ", ".join(parts)


def _crossing(params: np.ndarray, errors: np.ndarray, target: float) -> tuple[str, float]:
    """(status, matched parameter count) of one curve (sorted by params) against ``target``."""
    below = np.flatnonzero(errors <= target)
    if below.size == 0:
        return "not reached", math.nan
    j = int(below[0])
    if j == 0:
        return "below range", float(params[0])
    lp0, lp1 = math.log(params[j - 1]), math.log(params[j])
    le0, le1 = math.log(errors[j - 1]), math.log(errors[j])
    frac = (math.log(target) - le0) / (le1 - le0)  # le1 <= log target < le0, so in (0, 1]
    return "matched", float(math.exp(lp0 + frac * (lp1 - lp0)))


def _boot_ratio(params: np.ndarray, means: np.ndarray, e_ref: float, p_ref: float) -> float:
    """A resample's ratio: below range counts as +inf, not reached as 0 (module docstring)."""
    status, match = _crossing(params, means, e_ref)
    if status == "matched":
        return p_ref / match
    return math.inf if status == "below range" else 0.0


def _reference_best(curves: dict, refs: list, means: dict) -> tuple[float, float]:
    """(lowest mean error, its parameter count) over the reference curves' widths."""
    best = min((means[k][i], curves[k][0][i]) for k in refs for i in range(len(curves[k][0])))
    return float(best[0]), float(best[1])


def _statement(row: dict) -> str:
    name = f"{row['model']}/{row['strategy']}" + (f" ({row['variant']})" if row["variant"] else "")
    ref = f"{row['reference']} ({row['reference_error']:.4g} at {row['reference_params']:.0f} parameters)"
    lo, hi = row["ci_low"], row["ci_high"]
    interval = f"[{lo:.3g}, {hi:.3g}]".replace("inf", "unbounded")
    level = f"{100 * row['confidence']:.0f}%"
    if row["status"] == "matched":
        return (f"{name} reaches the best error of {ref} at {row['match_params']:.0f} parameters: "
                f"ratio {row['ratio']:.3g}, {level} interval {interval} "
                f"({100 * row['fraction_matched']:.0f}% of resamples cross inside the widths)")
    if row["status"] == "below range":
        return (f"{name} is already at or below the best error of {ref} at its smallest width "
                f"({row['min_params']:.0f} parameters): ratio at least {row['ratio']:.3g} (a bound, "
                f"not a value); {level} interval {interval}; add smaller widths to read the ratio")
    return (f"no ratio can be read: {name} stays above the best error of {ref} at every sampled width "
            f"({row['min_params']:.0f}-{row['max_params']:.0f} parameters); {level} interval {interval}")


def param_match(
    frame: pd.DataFrame,
    reference: str = "invariant",
    width_key: str = "model.hidden_channels",
    metric: str | None = None,
    confidence: float = 0.95,
    num_bootstrap: int = 2000,
    seed: int = 0,
    exclude_strategies: Sequence[str] = ("none",),
) -> pd.DataFrame:
    """The parameter count at which each model matches the reference model's best error (module
    docstring), for every (sweep, dataset, experiment, target, training size) of the run table
    ``frame`` (:func:`gdl.analysis.frame.runs_frame`) in which the reference model ran and at least
    one curve has two or more parameter counts (a width sweep; groups with one width per model,
    such as the points of a learning curve, are skipped).

    Args:
        frame: the run table (one row per run and target).
        reference: ``model`` of the reference (every strategy and variant of it, all widths
            together). Default ``"invariant"``.
        width_key: the override whose values are the widths (removed from ``variant``). Default
            ``"model.hidden_channels"``.
        metric: the error metric (``test/<metric>``); ``None`` uses each group's ``metric`` column
            (groups whose metric is not an error metric are skipped). Default ``None``.
        confidence: level of the interval, in (0, 1). Default ``0.95``.
        num_bootstrap: resamples of the seeds. Default ``2000``.
        seed: seed of the resampling. Default ``0``.
        exclude_strategies: strategies left out of the comparison (the domain baselines' ``none``).
            Default ``("none",)``.

    Returns a table with :data:`MATCH_COLUMNS` (``ratio`` = reference parameters / matched
    parameters; > 1 means fewer parameters than the reference) and a plain ``statement`` per row.
    Raises ``ValueError`` for a confidence outside (0, 1), ``num_bootstrap < 1`` or a missing column.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"param_match: confidence must be in (0, 1), got {confidence}")
    if int(num_bootstrap) < 1:
        raise ValueError(f"param_match: num_bootstrap must be >= 1, got {num_bootstrap}")
    needed = [*IDENTITY, "train_size", "seed", "num_params", "metric"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"param_match: the run table lacks the columns {missing} (build it with runs_frame)")
    rng = np.random.default_rng(seed)
    rows = []
    frame = frame[~frame["strategy"].isin(list(exclude_strategies))]
    for key, part in frame.groupby([*_SCOPE, "train_size"], sort=True, dropna=False):
        name = metric if metric is not None else str(part["metric"].iloc[0])
        column = f"test/{name}"
        if name not in ERROR_METRICS:
            continue
        if column not in part.columns:
            raise ValueError(f"param_match: no column {column!r}; the run table has {list(frame.columns)}")
        part = part[np.isfinite(part[column]) & (part[column] > 0) & np.isfinite(part["num_params"])]
        part = part.assign(curve=[strip_variant(v, width_key) for v in part["variant"]])
        # curve -> sorted params, and per params the seeds' errors
        curves: dict[tuple, tuple[np.ndarray, list[np.ndarray]]] = {}
        for ckey, c in part.groupby(["model", "strategy", "curve"], sort=True, dropna=False):
            by_p = c.groupby("num_params")[column]
            params = np.array(sorted(by_p.groups), dtype=float)
            curves[ckey] = (params, [by_p.get_group(p).to_numpy(float) for p in params])
        refs = [k for k in curves if k[0] == reference]
        if not refs or all(len(p) < 2 for p, _ in curves.values()):
            continue  # no reference, or no width sweep here (e.g. a learning curve's sizes)
        point = {k: np.array([e.mean() for e in errs]) for k, (_, errs) in curves.items()}
        e_ref, p_ref = _reference_best(curves, refs, point)
        draws = []
        for _ in range(int(num_bootstrap)):
            means = {k: np.array([rng.choice(e, e.size).mean() for e in errs])
                     for k, (_, errs) in curves.items()}
            draws.append((means, *_reference_best(curves, refs, means)))
        for ckey in curves:
            if ckey in refs:
                continue
            params = curves[ckey][0]
            status, match = _crossing(params, point[ckey], e_ref)
            ratios = np.array([_boot_ratio(params, m[ckey], e, p) for m, e, p in draws])
            alpha = 1.0 - confidence
            lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
            row = {
                **dict(zip(_SCOPE, key[:-1])), "train_size": key[-1], "metric": name,
                "model": ckey[0], "strategy": ckey[1], "variant": ckey[2],
                "reference": reference, "reference_error": e_ref, "reference_params": p_ref,
                "num_widths": len(params), "min_params": float(params[0]), "max_params": float(params[-1]),
                "status": status, "match_params": match if status == "matched" else math.nan,
                # below range: the bound P_ref / P_0; not reached: no value
                "ratio": {"matched": p_ref / match, "below range": p_ref / params[0]}.get(status, math.nan),
                "ci_low": float(lo), "ci_high": float(hi), "confidence": confidence,
                "fraction_matched": float(np.mean(np.isfinite(ratios) & (ratios > 0))),
                "num_bootstrap": int(num_bootstrap),
            }
            row["statement"] = _statement(row)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(MATCH_COLUMNS))


def slope_separation(curves: pd.DataFrame, reference: str = "invariant") -> pd.DataFrame:
    """Whether each learning-curve slope's interval separates from the reference model's.

    For every (sweep, dataset, experiment, target) of ``curves`` (:func:`gdl.analysis.learning_curve.
    learning_curves`) with a reference row (``model == reference``; each reference row when there
    are several), every other row gets ``separated`` (the two ``confidence`` intervals are disjoint),
    ``relation`` (``steeper``: its interval lies wholly below the reference's, i.e. the error falls
    faster with training size; ``shallower``; ``overlapping``; ``no interval`` with two sizes) and the
    slope difference with a Welch interval (:math:`t` quantile at the Welch–Satterthwaite degrees of
    freedom, from the two fits' standard errors and ``num_points - 2``). Disjoint 95% intervals are a
    stricter test than a 95% interval of the difference that excludes 0.

    Returns a table with :data:`SLOPE_COLUMNS`; empty when no group has a reference row.
    """
    missing = [c for c in (*IDENTITY, "metric", "slope", "stderr", "ci_low", "ci_high", "confidence",
                           "num_points") if c not in curves.columns]
    if missing:
        raise ValueError(f"slope_separation: the fit table lacks {missing} (build it with learning_curves)")
    rows = []
    for key, part in curves.groupby(list(_SCOPE), sort=True, dropna=False):
        refs = part[part["model"] == reference]
        for _, ref in refs.iterrows():
            ref_name = reference + (f" ({ref['variant']})" if ref["variant"] else "")
            for _, r in part[part["model"] != reference].iterrows():
                has = all(math.isfinite(float(x)) for x in (r["ci_low"], ref["ci_low"]))
                if not has:
                    relation, separated = "no interval", False
                elif r["ci_high"] < ref["ci_low"]:
                    relation, separated = "steeper", True
                elif r["ci_low"] > ref["ci_high"]:
                    relation, separated = "shallower", True
                else:
                    relation, separated = "overlapping", False
                diff = float(r["slope"] - ref["slope"])
                lo = hi = math.nan
                if has:
                    v1, v2 = float(r["stderr"]) ** 2, float(ref["stderr"]) ** 2
                    d1, d2 = int(r["num_points"]) - 2, int(ref["num_points"]) - 2
                    if v1 + v2 > 0:
                        df = (v1 + v2) ** 2 / (v1**2 / d1 + v2**2 / d2) if v1 * v2 > 0 else max(d1, d2)
                        half = stats.t.ppf(0.5 + float(r["confidence"]) / 2, df) * math.sqrt(v1 + v2)
                    else:
                        half = 0.0
                    lo, hi = diff - half, diff + half
                rows.append({
                    **dict(zip(_SCOPE, key)), "metric": r["metric"], "model": r["model"],
                    "strategy": r["strategy"], "variant": r["variant"], "slope": r["slope"],
                    "ci_low": r["ci_low"], "ci_high": r["ci_high"], "reference": ref_name,
                    "reference_slope": ref["slope"], "reference_ci_low": ref["ci_low"],
                    "reference_ci_high": ref["ci_high"], "separated": separated, "relation": relation,
                    "difference": diff, "difference_ci_low": lo, "difference_ci_high": hi,
                })
    return pd.DataFrame(rows, columns=list(SLOPE_COLUMNS))


def plot_param_match(
    frame: pd.DataFrame, table: pd.DataFrame, width_key: str = "model.hidden_channels"
) -> Figure:
    """Test error against parameter count for a width sweep, one panel per (sweep, dataset,
    experiment, target, training size) of :func:`param_match`'s ``table``, one line per curve (mean
    over seeds, error bars the seeds' standard deviation, log–log), the reference's best error as a
    dashed line and each matched parameter count as a vertical tick. An empty ``table`` gives a
    figure that says there is no width sweep."""
    from matplotlib.figure import Figure

    from .plots import _label, _style

    keys = [*_SCOPE, "train_size"]
    panels = list(table.groupby(keys, sort=True, dropna=False)) if not table.empty else []
    fig = Figure(figsize=(9.5, 4.8 * max(len(panels), 1)), layout="constrained")
    axes = fig.subplots(max(len(panels), 1), 1, squeeze=False).ravel().tolist()
    if not panels:
        axes[0].text(0.5, 0.5, "no width sweep with the reference model: nothing to match",
                     ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
        return fig
    for ax, (key, rows) in zip(axes, panels):
        scope = dict(zip(keys, key))
        metric = str(rows["metric"].iloc[0])
        part = frame
        for k, v in scope.items():
            part = part[part[k] == v]
        part = part[~part["strategy"].isin(["none"])]
        part = part.assign(curve=[strip_variant(v, width_key) for v in part["variant"]])
        for i, (ckey, c) in enumerate(part.groupby(["model", "strategy", "curve"], sort=True)):
            g = c.groupby("num_params")[f"test/{metric}"].agg(["mean", "std"]).reset_index()
            ax.errorbar(g["num_params"], g["mean"], yerr=g["std"].fillna(0), capsize=3, label=_label(ckey),
                        **_style(i))
            same = (rows["model"] == ckey[0]) & (rows["strategy"] == ckey[1]) & (rows["variant"] == ckey[2])
            hit = rows[same]
            if not hit.empty and hit["status"].iloc[0] == "matched":
                ax.axvline(hit["match_params"].iloc[0], color=_style(i)["color"], ls=":", lw=1)
        ax.axhline(rows["reference_error"].iloc[0], color="k", ls="--", lw=1,
                   label=f"best {rows['reference'].iloc[0]}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(f"{scope['dataset']} / {scope['target']}, {scope['train_size']} training graphs")
        ax.legend(fontsize=7)
    return fig
