from __future__ import annotations

import math

import pandas as pd
import pytest

from gdl.analysis.aggregate import aggregate, largest_train_size
from gdl.analysis.frame import runs_frame
from gdl.analysis.runs import load_runs

from ._runs import metrics, write_run


@pytest.fixture
def table(tmp_path):
    """egnn/exact: three seeds at n=100 (mae 1, 2, 4), one at n=1000; plain/augment: two seeds;
    a failed and an unfinished run that must not count."""
    job = iter(range(100))
    for seed, mae, t in ((0, 1.0, 1.0), (1, 2.0, 2.0), (2, 4.0, 6.0)):
        write_run(tmp_path, next(job), metrics(seed=seed, mae=mae, time_per_epoch_s=t))
    write_run(tmp_path, next(job), metrics(seed=0, n=1000, mae=0.5))
    for seed, mae in ((0, 10.0), (1, 20.0)):
        plain = metrics(model="plain", strategy="augment", seed=seed, mae=mae, num_params=500)
        write_run(tmp_path, next(job), plain)
    write_run(tmp_path, next(job), metrics(seed=3, status="failed", error="RuntimeError: x"))
    write_run(tmp_path, next(job), metrics(seed=4, status="running"))
    runs = load_runs([tmp_path])
    assert len(runs.runs) == 6 and len(runs.problems) == 2
    return aggregate(runs_frame(runs.runs))


def row(table, model, n):
    out = table[(table["model"] == model) & (table["train_size"] == n)]
    assert len(out) == 1
    return out.iloc[0]


def test_mean_std_median_over_seeds(table):
    r = row(table, "egnn", 100)
    assert r["num_seeds"] == 3 and r["seeds"] == "0,1,2"
    assert r["test/mae:mean"] == pytest.approx(7 / 3)
    assert r["test/mae:std"] == pytest.approx(math.sqrt(7 / 3))  # sample std (ddof=1)
    assert r["test/mae:median"] == pytest.approx(2.0)
    assert r["time_per_epoch_s:mean"] == pytest.approx(3.0)
    assert r["time_per_epoch_s:std"] == pytest.approx(math.sqrt(7.0))
    assert r["baseline/mae:mean"] == 400.0 and r["unit"] == "meV" and r["metric"] == "mae"
    p = row(table, "plain", 100)
    assert p["strategy"] == "augment" and p["test/mae:mean"] == 15.0
    assert p["test/mae:std"] == pytest.approx(math.sqrt(50.0)) and p["num_params:mean"] == 500
    one = row(table, "egnn", 1000)
    assert one["num_seeds"] == 1 and one["test/mae:mean"] == 0.5 and math.isnan(one["test/mae:std"])


def test_largest_train_size_gives_one_row_per_model_and_strategy(table):
    top = largest_train_size(table)
    assert sorted(zip(top["model"], top["strategy"], top["train_size"])) == [
        ("egnn", "exact", 1000),
        ("plain", "augment", 100),
    ]


def test_aggregate_needs_a_run_table():
    with pytest.raises(ValueError, match="lacks the columns"):
        aggregate(pd.DataFrame({"model": ["egnn"]}))
