"""Runs → one pandas row per (run, target): the long table every aggregate is computed from.

Columns: the identity of the run (:data:`IDENTITY`: ``sweep``, ``dataset``, ``experiment``,
``target``, ``model``, ``strategy``, ``variant``), ``train_size`` (the number of training graphs
actually used, ``num_train``), ``seed``, ``unit``, ``metric`` (the run's first error metric —
``mae``, ``rmse`` or ``mse`` — else its first: the one the summary, learning curves and figures
use), then numbers: ``test/<m>`` and ``baseline/<m>`` for each metric ``<m>`` in native units,
``num_params``, ``time_per_epoch_s``, ``throughput_graphs_per_s``, ``equivariance`` (float64
relative error of that target), ``symmetry/<key>`` (numeric entries of the strategy's report), and
``symmetry`` (its text entries), ``run_dir``.

``variant`` names the Hydra overrides that tell apart runs that would otherwise share model,
strategy, training size and seed (``l_max=1``, ``data.field_strength=0.3``, ``combo=tfn_l1``): an
override that only ever changes together with the model or the strategy is not a variant, and a
(model, strategy) without such siblings has none (``egnn``/``exact`` next to ``tfn_l0``/``tfn_l1``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .runs import Run

__all__ = ["ERROR_METRICS", "IDENTITY", "NOT_VARIANTS", "primary_metric", "runs_frame", "variant_keys"]

#: Columns that identify what a run measured (its row in the tables, with ``train_size``).
IDENTITY = ("sweep", "dataset", "experiment", "target", "model", "strategy", "variant")
#: Override keys that are never variants: the seed and the training size have their own columns.
NOT_VARIANTS = ("seed", "data.train_size")
#: Metrics where lower is better and a power law in the training size makes sense.
ERROR_METRICS = ("mae", "rmse", "mse")
_NUMBERS = ("num_params", "time_per_epoch_s", "throughput_graphs_per_s")


def _split(text: Any) -> list[str]:
    return [x for x in str(text or "").split(",") if x]


def primary_metric(metrics: Sequence[str]) -> str:
    """The metric of the summary, learning curves and figures: the first error metric of the run
    (:data:`ERROR_METRICS`), else its first metric (``r2``)."""
    return next((m for m in metrics if m in ERROR_METRICS), metrics[0])


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _setting(run: Run) -> tuple:
    m = run.metrics or {}
    return (run.sweep, m.get("dataset"), m.get("experiment"), m.get("model"), m.get("strategy"),
            m.get("num_train"), m.get("seed"))


def _family_keys(runs: Sequence[Run]) -> dict[tuple, list[str]]:
    """For each (sweep, dataset, experiment, model, strategy): the override keys that tell apart
    two of its runs with the same training size and seed."""
    groups: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for run in runs:
        groups[_setting(run)].append(run.override_dict)
    keys: dict[tuple, set[str]] = defaultdict(set)
    for setting, members in groups.items():
        if len(members) < 2:
            continue
        candidates = {k for o in members for k in o if k not in NOT_VARIANTS and not k.startswith("hydra.")}
        keys[setting[:5]] |= {k for k in candidates if len({o.get(k) for o in members}) > 1}
    return {family: sorted(k) for family, k in keys.items()}


def variant_keys(runs: Sequence[Run]) -> list[str]:
    """The override keys needed somewhere to tell apart runs with the same sweep, dataset,
    experiment, model, strategy, training size and seed (sorted). A run's ``variant`` uses the keys
    needed within its own (sweep, dataset, experiment, model, strategy) only."""
    return sorted({k for keys in _family_keys(runs).values() for k in keys})


def _variant(run: Run, keys: Sequence[str]) -> str:
    o = run.override_dict
    return ", ".join(f"{k}={o[k]}" for k in keys if k in o)


def _symmetry(m: dict[str, Any]) -> tuple[dict[str, float], str]:
    numbers, text = {}, []
    for key, value in m.items():
        if not key.startswith("symmetry/") or key == "symmetry/strategy":
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers[key] = float(value)
        elif value is not None:
            text.append(f"{key.removeprefix('symmetry/')}={value}")
    return numbers, ", ".join(text)


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (usable run, target); see the module docstring for the columns."""
    family_keys = _family_keys(runs)
    rows = []
    for run in runs:
        m = run.metrics or {}
        numbers, text = _symmetry(m)
        for target in _split(m.get("targets")):
            row: dict[str, Any] = {
                "sweep": run.sweep,
                "dataset": m.get("dataset"),
                "experiment": m.get("experiment") or "",
                "target": target,
                "model": m.get("model"),
                "strategy": m.get("strategy"),
                "variant": _variant(run, family_keys.get(_setting(run)[:5], ())),
                "train_size": int(m["num_train"]),
                "seed": m.get("seed"),
                "unit": m.get(f"unit/{target}") or "",
                "metric": primary_metric(_split(m.get("metrics"))),
            }
            for metric in _split(m.get("metrics")):
                row[f"test/{metric}"] = _number(m.get(f"test/{target}/{metric}"))
                row[f"baseline/{metric}"] = _number(m.get(f"baseline/{target}/{metric}"))
            for key in _NUMBERS:
                row[key] = _number(m.get(key))
            row["equivariance"] = _number(m.get(f"equivariance/float64/{target}"))
            row.update(numbers)
            row["symmetry"] = text
            row["run_dir"] = str(run.path)
            rows.append(row)
    return pd.DataFrame(rows)
