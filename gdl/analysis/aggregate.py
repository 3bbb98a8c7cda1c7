"""Aggregation over seeds: the long run table (:func:`gdl.analysis.frame.runs_frame`) → one row per
(sweep, dataset, experiment, target, model, strategy, variant, train_size).

Every numeric column ``c`` of the run table becomes ``c:mean``, ``c:std`` (sample standard
deviation, ``ddof=1``; NaN for a single seed) and ``c:median``; ``num_seeds`` counts the runs,
``seeds`` lists their seeds, ``unit``, ``metric`` and ``symmetry`` (text entries of the strategy's report) are
kept when all seeds agree and joined with ``" | "`` otherwise. :func:`largest_train_size` keeps, for
each setting, the row with the most training data — the one-row-per-(model, strategy) summary.
"""

from __future__ import annotations

import pandas as pd

from .frame import IDENTITY

__all__ = ["GROUP", "STATISTICS", "aggregate", "largest_train_size", "value_columns"]

#: The columns runs are grouped by: identity and training-set size; seeds are aggregated over.
GROUP = (*IDENTITY, "train_size")
STATISTICS = ("mean", "std", "median")
_TEXT = ("unit", "metric", "symmetry")


def value_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric columns of a run table that are aggregated (all but the grouping keys and seed)."""
    skip = {*GROUP, "seed", *_TEXT, "run_dir"}
    return [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]


def _join(values: pd.Series) -> str:
    return " | ".join(dict.fromkeys(str(v) for v in values if isinstance(v, str) and v))


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and median over seeds of every numeric column (module docstring).

    Raises ``ValueError`` naming the missing columns when ``frame`` is not a run table.
    """
    missing = [c for c in (*GROUP, "seed") if c not in frame.columns]
    if missing:
        raise ValueError(f"aggregate: the run table lacks the columns {missing} (build it with runs_frame)")
    values = value_columns(frame)
    grouped = frame.groupby(list(GROUP), sort=True, dropna=False)
    stats = grouped[values].agg(list(STATISTICS)) if values else pd.DataFrame(index=grouped.size().index)
    stats.columns = [f"{c}:{s}" for c, s in stats.columns] if values else []
    out = pd.concat(
        [
            grouped.size().rename("num_seeds"),
            grouped["seed"].agg(lambda s: ",".join(str(x) for x in sorted(s, key=str))).rename("seeds"),
            *(grouped[c].agg(_join).rename(c) for c in _TEXT if c in frame.columns),
            stats,
        ],
        axis=1,
    )
    return out.reset_index()


def largest_train_size(table: pd.DataFrame) -> pd.DataFrame:
    """For each (sweep, dataset, experiment, target, model, strategy, variant), the row of
    :func:`aggregate`'s table with the largest ``train_size``."""
    idx = table.groupby(list(IDENTITY), sort=False, dropna=False)["train_size"].idxmax()
    return table.loc[sorted(idx)].reset_index(drop=True)
