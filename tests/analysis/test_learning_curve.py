from __future__ import annotations

import numpy as np
import pytest

from gdl.analysis.frame import runs_frame
from gdl.analysis.learning_curve import fit_power_law, learning_curves
from gdl.analysis.runs import load_runs

from ._runs import metrics, write_run

SIZES = (1000, 2000, 5000, 10000, 20000, 50000, 100000)


def test_known_slope_with_seed_noise():
    rng = np.random.default_rng(0)
    n = np.repeat(SIZES, 3)
    err = 30.0 * n**-0.5 * np.exp(rng.normal(0.0, 0.01, n.size))  # 1% multiplicative noise per seed
    fit = fit_power_law(n, err)
    assert fit.slope == pytest.approx(-0.5, abs=0.01)
    assert fit.ci_low < -0.5 < fit.ci_high and fit.ci_high - fit.ci_low < 0.02
    assert fit.num_points == 21 and fit.num_sizes == 7 and fit.r2 > 0.99
    assert fit.predict(10000) == pytest.approx(0.3, rel=0.02)


def test_exact_power_law():
    n = np.array(SIZES, dtype=float)
    fit = fit_power_law(n, 2.0 * n**-0.5)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12) and 10**fit.intercept == pytest.approx(2.0)
    assert fit.ci_high - fit.ci_low < 1e-9


def test_two_points_have_no_interval():
    fit = fit_power_law([10, 100], [1.0, 0.1])
    assert fit.slope == pytest.approx(-1.0) and np.isnan(fit.ci_low) and str(fit) == "-1.000"


@pytest.mark.parametrize(
    "n, err, match",
    [
        ([10, 10], [1.0, 2.0], "two distinct training sizes"),
        ([10, 100], [1.0, 0.0], "finite and > 0"),
        ([10, 100], [1.0, float("nan")], "finite and > 0"),
        ([10, 100, 1000], [1.0, 0.5], "3 training sizes but 2 errors"),
    ],
)
def test_bad_input(n, err, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(n, err)
    with pytest.raises(ValueError, match="confidence"):
        fit_power_law([10, 100], [1.0, 0.5], confidence=1.5)


def test_learning_curves_from_run_directories(tmp_path):
    job = 0
    for model, c in (("egnn", 50.0), ("tfn", 20.0)):
        for n in (1000, 10000, 100000):
            for seed in (0, 1, 2):
                noise = 1.0 + 0.005 * (seed - 1)
                write_run(tmp_path, job, metrics(model=model, seed=seed, n=n, mae=c * n**-0.5 * noise))
                job += 1
    write_run(tmp_path, job, metrics(model="plain", n=1000, mae=3.0))  # one size only: no fit
    curves = learning_curves(runs_frame(load_runs([tmp_path]).runs))
    assert list(curves["model"]) == ["egnn", "tfn"] and set(curves["metric"]) == {"mae"}
    assert np.allclose(curves["slope"], -0.5, atol=0.01)
    assert (curves["ci_low"] < -0.5).all() and (curves["ci_high"] > -0.5).all()
    assert list(curves["num_points"]) == [9, 9]


def test_r2_alone_gets_no_learning_curve(tmp_path):
    for job, n in enumerate((100, 1000)):
        record = metrics(n=n, metrics="r2", **{"test/homo/r2": 0.5 + job / 10})
        write_run(tmp_path, job, record)
    assert learning_curves(runs_frame(load_runs([tmp_path]).runs)).empty
