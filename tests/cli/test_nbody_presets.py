"""The charged N-body presets (conf/ablation/nbody_*.yaml) end to end, shrunk: a few of each preset's
jobs with tiny data and one epoch (or a few steps), then gdl-ablate on the sweep (slow). Sweep lists
on the command line replace the preset's lists of the same key (Hydra's basic sweeper)."""

from __future__ import annotations

import pandas as pd
import pytest

from gdl.cli.ablate import main as ablate

from .test_gdl_train import QUIET, cli, metrics

TINY = ["data.val_size=16", "data.test_size=16", "data.batch_size=50",
        "callbacks.equivariance_monitor.num_graphs=2", *QUIET]

# (preset, sweep overrides that shrink it, budget overrides, expected rows)
PRESETS = {
    "nbody_table2": (
        ["seed=0", "combo=linear_exact,radial_field_exact,egnn_rpp", "data.train_size=100"],
        ["trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1"],
        {("linear", "exact"), ("radial_field", "exact"), ("egnn", "rpp")},
    ),
    "nbody_data_efficiency": (
        ["seed=0", "data.train_size=50,100", "combo=plain_augment"],
        ["trainer.max_steps=4", "trainer.val_check_interval=2",
         "callbacks.last_checkpoint.every_n_train_steps=2"],
        {("plain", "augment")},
    ),
    "nbody_symmetry_breaking": (
        ["seed=0", "data.field_strength=0.0,1.0", "combo=group_conv_relaxed", "data.train_size=100"],
        ["trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1", "model.hidden_channels=8"],
        {("group_conv", "relaxed")},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_shrunk_preset_runs_and_is_tabulated(preset, tmp_path):
    shrink, budget, rows = PRESETS[preset]
    sweep = tmp_path / "sweep"
    args = [f"ablation={preset}", f"hydra.sweep.dir={sweep}", f"paths.data_dir.nbody={tmp_path / 'data'}",
            *TINY, *shrink, *budget]
    res = cli("-m", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "metrics.json").is_file())
    assert len(jobs) == 2 if preset != "nbody_table2" else len(jobs) == 3
    for job in jobs:
        m = metrics(job)
        assert m["status"] == "finished" and m["test/displacement/mse"] > 0
        if preset == "nbody_data_efficiency":
            assert m["optimizer_steps"] == 4
    versus = {"nbody_symmetry_breaking": ["--versus", "data.field_strength"], "nbody_table2": ["--curves"]}
    versus = versus.get(preset, [])
    assert ablate([str(sweep), "--out", str(tmp_path / "out"), *versus]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(zip(summary["model"], summary["strategy"])) == rows
    if preset == "nbody_table2":
        conv = pd.read_csv(tmp_path / "out" / "convergence.csv")
        assert len(conv) == 3 and (conv["epochs"] == 0).all()  # one epoch, numbered 0
    if preset == "nbody_data_efficiency":
        assert sorted(pd.read_csv(tmp_path / "out" / "by_train_size.csv")["train_size"]) == [50, 100]
    if preset == "nbody_symmetry_breaking":
        assert len(summary) == 2  # one row per field strength (column variant)
        trend = pd.read_csv(tmp_path / "out" / "symmetry_trend.csv")
        assert trend["level"].tolist() == ["relaxation_norm"] and trend["num_settings"].tolist() == [2]
