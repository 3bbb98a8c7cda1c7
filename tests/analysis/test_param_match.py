from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from gdl.analysis.frame import runs_frame
from gdl.analysis.learning_curve import learning_curves
from gdl.analysis.param_match import param_match, plot_param_match, slope_separation, strip_variant
from gdl.analysis.report import analyse, write_report
from gdl.analysis.runs import load_runs

from ._runs import metrics, write_run

NOISE = (0.995, 1.0, 1.005)  # multiplicative seed spread: +-0.5%


def _sweep(path, curves, n=800):
    """``curves``: {(model, strategy, combo or None): (params per width, error(params))}; one job per
    (curve, width, seed) with the width override, as the galaxy_params preset runs them."""
    job = 0
    for (model, strategy, combo), (params, error) in curves.items():
        for width, p in enumerate(params):
            for seed, f in enumerate(NOISE):
                rec = metrics(model=model, strategy=strategy, seed=seed, n=n, mae=error(p) * f, num_params=p)
                overrides = [f"model.hidden_channels={8 * 2**width}", f"seed={seed}", f"data.train_size={n}"]
                overrides += [f"combo={combo}"] if combo else [f"model={model}", f"symmetry={strategy}"]
                write_run(path, job, rec, overrides)
                job += 1
    return runs_frame(load_runs([path]).runs)


REF = ("invariant", "exact", None), ([1000, 4000, 16000, 32000], lambda p: 10.0 * p**-0.25)


def test_strip_variant():
    assert strip_variant("combo=tfn_l1, model.hidden_channels=8", "model.hidden_channels") == "combo=tfn_l1"
    assert strip_variant("model.hidden_channels=8", "model.hidden_channels") == ""
    assert strip_variant("", "model.hidden_channels") == ""


def test_known_ratio_from_a_power_law(tmp_path):
    # egnn: half the invariant error at every parameter count, err ~ P^-1/4, so it reaches the
    # invariant best (at 32,000) at 32,000 / 2^4 = 2,000 parameters: ratio 16.
    frame = _sweep(tmp_path, {REF[0]: REF[1], ("egnn", "exact", None): ([500, 1000, 4000, 16000],
                                                                         lambda p: 5.0 * p**-0.25)})
    table = param_match(frame, num_bootstrap=500)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.model, row.status, row.reference_params) == ("egnn", "matched", 32000)
    assert row.match_params == pytest.approx(2000, rel=0.05) and row.ratio == pytest.approx(16, rel=0.05)
    assert row.ci_low <= row.ratio <= row.ci_high and 12 < row.ci_low and row.ci_high < 21
    assert row.fraction_matched == 1.0 and "ratio 16" in row.statement


def test_the_interval_widens_with_the_seed_spread(tmp_path):
    curves = {REF[0]: REF[1], ("egnn", "exact", None): ([500, 1000, 4000, 16000], lambda p: 5.0 * p**-0.25)}
    narrow = param_match(_sweep(tmp_path / "a", curves), num_bootstrap=500).iloc[0]
    global NOISE
    old, NOISE = NOISE, (0.9, 1.0, 1.1)
    try:
        wide = param_match(_sweep(tmp_path / "b", curves), num_bootstrap=500).iloc[0]
    finally:
        NOISE = old
    assert wide.ci_high - wide.ci_low > 3 * (narrow.ci_high - narrow.ci_low)


def test_below_range_and_not_reached_are_bounds_not_ratios(tmp_path):
    frame = _sweep(
        tmp_path,
        {
            REF[0]: REF[1],
            ("egnn", "exact", None): ([500, 1000, 4000], lambda p: 0.1 * p**-0.25),  # far better
            ("plain", "augment", None): ([500, 1000, 4000], lambda p: 100.0 * p**-0.25),  # far worse
        },
    )
    table = param_match(frame, num_bootstrap=200).set_index("model")
    below, never = table.loc["egnn"], table.loc["plain"]
    assert below.status == "below range" and below.ratio == pytest.approx(32000 / 500)
    assert math.isinf(below.ci_high) and "at least 64" in below.statement and "a bound" in below.statement
    assert never.status == "not reached" and math.isnan(never.ratio) and never.ci_high == 0.0
    assert never.statement.startswith("no ratio can be read")


def test_tfn_variants_are_separate_curves_and_baselines_are_left_out(tmp_path):
    frame = _sweep(
        tmp_path,
        {
            REF[0]: REF[1],
            ("tfn", "exact", "tfn_l1"): ([500, 1000, 4000, 16000], lambda p: 5.0 * p**-0.25),
            ("tfn", "exact", "tfn_l2"): ([500, 1000, 4000, 16000], lambda p: 4.0 * p**-0.25),
            ("two_point_lstsq", "none", None): ([50], lambda p: 0.01),
        },
    )
    table = param_match(frame, num_bootstrap=200).set_index("variant")
    assert set(table.index) == {"combo=tfn_l1", "combo=tfn_l2"}
    assert table.loc["combo=tfn_l1"].ratio == pytest.approx(16, rel=0.05)
    assert table.loc["combo=tfn_l2"].ratio == pytest.approx(2.5**4, rel=0.05)  # 32,000 / 2.5^4 = 819
    assert table.loc["combo=tfn_l2"].status == "matched"


def test_no_reference_or_no_width_sweep_gives_an_empty_table(tmp_path):
    frame = _sweep(tmp_path / "a", {("egnn", "exact", None): ([500, 1000], lambda p: 1.0 / p)})
    assert param_match(frame, num_bootstrap=10).empty
    one_width = {REF[0]: ([4000], REF[1][1]), ("egnn", "exact", None): ([1000], lambda p: 1.0 / p)}
    assert param_match(_sweep(tmp_path / "b", one_width), num_bootstrap=10).empty


@pytest.mark.parametrize(
    "kwargs, match", [({"confidence": 1.0}, "confidence"), ({"num_bootstrap": 0}, "num_bootstrap")]
)
def test_bad_input(kwargs, match, tmp_path):
    frame = _sweep(tmp_path, {REF[0]: REF[1]})
    with pytest.raises(ValueError, match=match):
        param_match(frame, **kwargs)
    with pytest.raises(ValueError, match="lacks the columns"):
        param_match(frame.drop(columns=["num_params"]))
    with pytest.raises(ValueError, match="lacks"):
        slope_separation(pd.DataFrame({"slope": [1.0]}))


def _curves(path, slopes):
    job = 0
    for model, slope in slopes.items():
        for n in (50, 100, 200, 400, 800):
            for seed, f in enumerate(NOISE):
                write_run(path, job, metrics(model=model, seed=seed, n=n, mae=3.0 * n**slope * f))
                job += 1
    return learning_curves(runs_frame(load_runs([path]).runs))


def test_slope_separation(tmp_path):
    table = slope_separation(_curves(tmp_path, {"invariant": -0.2, "egnn": -0.5, "plain": -0.2001}))
    table = table.set_index("model")
    assert table.loc["egnn"].relation == "steeper" and table.loc["egnn"].separated
    assert table.loc["egnn"].difference == pytest.approx(-0.3, abs=0.01)
    assert table.loc["egnn"].difference_ci_high < 0
    assert table.loc["plain"].relation == "overlapping" and not table.loc["plain"].separated
    assert table.loc["plain"].difference_ci_low < 0 < table.loc["plain"].difference_ci_high
    assert slope_separation(_curves(tmp_path / "x", {"egnn": -0.5})).empty


def test_the_report_writes_both_tables(tmp_path):
    sweep = tmp_path / "sweep"
    egnn = ([500, 1000, 4000, 16000], lambda p: 5.0 * p**-0.25)
    _sweep(sweep, {REF[0]: REF[1], ("egnn", "exact", None): egnn})
    report = analyse([sweep])
    assert report.param_match.iloc[0].status == "matched"
    names = {p.name for p in write_report(report, tmp_path / "out")}
    assert {"param_match.csv", "slope_separation.csv", "param_match.png"} <= names
    empty = io.BytesIO()
    plot_param_match(report.frame, report.param_match.iloc[:0]).savefig(empty, format="png", dpi=120)
    assert (tmp_path / "out" / "param_match.png").stat().st_size > 2 * len(empty.getvalue())  # curves drawn
    written = pd.read_csv(tmp_path / "out" / "param_match.csv")
    assert written.iloc[0].ratio == pytest.approx(16, rel=0.05)
    assert np.isfinite(written.iloc[0].ci_low)
