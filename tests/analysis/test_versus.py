import math

import pandas as pd
import pytest

from gdl.analysis.versus import plot_symmetry_versus, plot_versus, symmetry_trend, versus_frame


def frame(rows):
    base = {"sweep": "s", "dataset": "nbody", "target": "displacement", "model": "egnn", "metric": "mse"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_the_setting_is_read_from_the_variant_and_the_rest_kept():
    f = frame([
        {"strategy": "rpp", "variant": "data.field_strength=0.3, model.num_layers=2", "test/mse": 1.0},
        {"strategy": "rpp", "variant": "data.field_strength=1.0, model.num_layers=2", "test/mse": 2.0},
        {"strategy": "exact", "variant": "model.num_layers=2", "test/mse": 3.0},
    ])
    out = versus_frame(f, "data.field_strength")
    assert out["x"].tolist() == [0.3, 1.0] and set(out["rest"]) == {"model.num_layers=2"}
    with pytest.raises(ValueError, match="no run's variant sets seed"):
        versus_frame(f, "seed")


def test_rank_correlation_per_line_and_level():
    rows = [{"strategy": "relaxed", "variant": f"data.field_strength={e}", "test/mse": 1.0,
             "symmetry/relaxation_norm": n} for e, n in ((0.0, 0.1), (0.1, 0.3), (1.0, 0.2))]
    rows.append({"strategy": "exact", "variant": "data.field_strength=0.0", "test/mse": 1.0})
    trend = symmetry_trend(frame(rows), "data.field_strength")
    assert trend[["strategy", "level", "num_runs", "num_settings"]].values.tolist() == [
        ["relaxed", "relaxation_norm", 3, 3]
    ]
    assert math.isclose(trend["spearman"].iloc[0], 0.5)


def test_figures_have_no_negative_half_axis_when_every_setting_is_non_negative():
    # the field strengths 0, 0.03 ... 1: a symmetric-log axis whose left end is just left of 0
    # (autoscale put it at about -0.03, drawing an empty negative half with a -10^-2 tick)
    rows = [{"strategy": "relaxed", "variant": f"data.field_strength={e}", "test/mse": 1.0 + e,
             "symmetry/relaxation_norm": 0.1 + e} for e in (0.0, 0.03, 0.1, 0.3, 1.0)]
    for fig in (plot_versus(frame(rows), "data.field_strength"),
                plot_symmetry_versus(frame(rows), "data.field_strength")):
        ax = fig.axes[0]
        left, right = ax.get_xlim()
        assert ax.get_xscale() == "symlog" and -0.03 * 0.5 < left < 0 and right >= 1.0
