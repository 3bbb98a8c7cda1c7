r"""Learning curves: how the test error falls with the training-set size.

A power law :math:`\mathrm{err}(n) = c\, n^{a}` is a straight line in log–log axes,

.. math::
    \log_{10} \mathrm{err} = \log_{10} c + a \log_{10} n,

fitted by least squares (``scipy.stats.linregress``) to every seed's point (not to the means, so
that the seeds' spread enters the uncertainty). The confidence interval of the slope :math:`a` is
:math:`a \pm t_{1-\alpha/2,\,k-2}\, \mathrm{se}(a)` with :math:`k` points. Equivariant models with
higher-order features are expected to have steeper (more negative) slopes, or lower curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .frame import ERROR_METRICS, IDENTITY

__all__ = ["PowerLawFit", "fit_power_law", "learning_curves"]


@dataclass(frozen=True)
class PowerLawFit:
    """A log–log line fitted to (training size, error) points.

    Attributes:
        slope: exponent :math:`a` of :math:`\\mathrm{err} \\propto n^a`.
        intercept: :math:`\\log_{10} c`.
        stderr: standard error of the slope (NaN with two points).
        ci_low, ci_high: the ``confidence`` interval of the slope (NaN with two points).
        confidence: the level of the interval (``0.95``).
        r2: coefficient of determination of the log–log fit.
        num_points: points fitted (runs); num_sizes: distinct training sizes.
    """

    slope: float
    intercept: float
    stderr: float
    ci_low: float
    ci_high: float
    confidence: float
    r2: float
    num_points: int
    num_sizes: int

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        """The fitted error at training size(s) ``n``."""
        return 10.0 ** (self.intercept + self.slope * np.log10(np.asarray(n, dtype=float)))

    def __str__(self) -> str:
        if math.isnan(self.ci_low):
            return f"{self.slope:.3f}"
        return f"{self.slope:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}]"


def fit_power_law(
    train_size: Sequence[float] | np.ndarray, error: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> PowerLawFit:
    """Fit :math:`\\log_{10}\\mathrm{err} = b + a \\log_{10} n` (module docstring).

    Args:
        train_size: training-set sizes, one per point (> 0).
        error: test errors, one per point (> 0, finite).
        confidence: level of the slope's confidence interval, in (0, 1). Default ``0.95``.

    Raises ``ValueError`` for mismatched lengths, non-positive or non-finite values, fewer than two
    distinct sizes or a confidence outside (0, 1).
    """
    n = np.asarray(train_size, dtype=float).ravel()
    e = np.asarray(error, dtype=float).ravel()
    if n.shape != e.shape:
        raise ValueError(f"fit_power_law: {n.size} training sizes but {e.size} errors")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"fit_power_law: confidence must be in (0, 1), got {confidence}")
    bad = ~(np.isfinite(n) & np.isfinite(e) & (n > 0) & (e > 0))
    if bad.any():
        raise ValueError(
            f"fit_power_law: training sizes and errors must be finite and > 0; found "
            f"{list(zip(n[bad].tolist(), e[bad].tolist()))[:5]} (size, error)"
        )
    sizes = np.unique(n)
    if sizes.size < 2:
        raise ValueError(f"fit_power_law: needs at least two distinct training sizes, got {sizes.tolist()}")
    res = stats.linregress(np.log10(n), np.log10(e))
    k = n.size
    if k > 2:
        half = stats.t.ppf(0.5 + confidence / 2, k - 2) * res.stderr
        lo, hi, se = res.slope - half, res.slope + half, float(res.stderr)
    else:
        lo = hi = se = math.nan
    return PowerLawFit(
        float(res.slope), float(res.intercept), se, float(lo), float(hi), confidence,
        float(res.rvalue**2), int(k), int(sizes.size),
    )


def learning_curves(
    frame: pd.DataFrame, metric: str | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """One :class:`PowerLawFit` per (sweep, dataset, experiment, target, model, strategy, variant)
    of the run table ``frame`` (:func:`gdl.analysis.frame.runs_frame`) that has at least two
    training sizes, on the column ``test/<metric>`` (``None``: each group's own ``metric`` column,
    the runs' first error metric; groups whose metric is not an error metric, such as ``r2``, are
    skipped). Columns: the identity, ``metric``, then the fit's fields. Runs with a
    missing or non-positive error are left out of the fit."""
    rows = []
    for key, part in frame.groupby(list(IDENTITY), sort=True, dropna=False):
        name = metric if metric is not None else str(part["metric"].iloc[0])
        if name not in ERROR_METRICS:
            continue  # r2 does not follow a power law in n (and may be negative)
        column = f"test/{name}"
        if column not in part.columns:
            raise ValueError(
                f"learning_curves: no column {column!r}; the run table has {list(frame.columns)}"
            )
        part = part[np.isfinite(part[column]) & (part[column] > 0)]
        if part["train_size"].nunique() < 2:
            continue
        fit = fit_power_law(part["train_size"], part[column], confidence)
        rows.append({**dict(zip(IDENTITY, key)), "metric": name, **asdict(fit)})
    return pd.DataFrame(rows, columns=[*IDENTITY, "metric", *PowerLawFit.__dataclass_fields__])
