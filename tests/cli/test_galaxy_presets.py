"""The galaxy presets of issue 21 (conf/ablation/galaxy_*): what they sweep, that every swept model can
produce the task's target type (a model that cannot is left out by construction, never run and
reported as failed), and, shrunk to a few one-epoch jobs on tiny clouds, gdl-train -m, the domain
baselines and gdl-ablate end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

import gdl
from gdl.cli.sweep import exclude_jobs
from gdl.training import compose

REPO = Path(gdl.__file__).resolve().parents[1]
MODELS = {"egnn_exact", "tfn_l1", "tfn_l2", "invariant_exact", "plain_augment", "plain_frame_average",
          "group_conv_exact"}
PRESETS = ("galaxy_cosmology_scaling", "galaxy_velocity_scaling", "galaxy_params")
# shrunk clouds: 100 tracers in a box keeping the presets' number density (1000 in 584.8 Mpc/h)
TINY = ["data.num_clouds=40", "data.val_size=4", "data.test_size=8", "data.config.num_points=100",
        "data.config.box_size=271.4", "data.config.grid=16"]


def _params(preset, tmp_path):
    cfg = compose([f"ablation={preset}"], run_dir=tmp_path)
    return cfg, OmegaConf.to_container(cfg.hydra.sweeper.params)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_sweeps_the_issue_grid(preset, tmp_path):
    cfg, params = _params(preset, tmp_path)
    assert set(params["combo"].split(",")) == MODELS and params["seed"] == "0,1,2"
    assert cfg.data.config.num_points == 1000 and cfg.data.graph._target_ == "gdl.data.PeriodicKNNGraph"
    density = cfg.data.config.num_points / cfg.data.config.box_size**3
    assert density == pytest.approx(5000 / 1000.0**3, rel=0.01)  # the default clouds' number density
    assert cfg.hydra.launcher.n_jobs == 2 and cfg.num_threads == 1
    if preset == "galaxy_params":
        _, scaling = _params("galaxy_cosmology_scaling", tmp_path)
        # one of the learning curves' sizes (the largest does not fit 2 hours: the preset's header)
        assert str(params["data.train_size"]) in scaling["data.train_size"].split(",")
        widths = [int(w) for w in str(params["model.hidden_channels"]).split(",")]
        assert 3 <= len(widths) <= 4 and cfg.model.hidden_channels in widths  # the scaling presets' width
        assert cfg.model.hidden_channels == compose(["ablation=galaxy_cosmology_scaling"],
                                                    run_dir=tmp_path).model.hidden_channels
        # the points left out for time (header): every model keeps >= 2 widths, the shared width 8
        # among them, and only the two costliest models lose any
        grid = [[f"seed={s}", f"combo={c}", f"model.hidden_channels={w}"] for s in params["seed"].split(",")
                for c in params["combo"].split(",") for w in widths]
        kept = exclude_jobs(grid, OmegaConf.to_container(cfg.hydra.sweeper.exclude))
        assert len(kept) == 75
        per_model = {c: {int(j[2].split("=")[1]) for j in kept if j[1] == f"combo={c}"} for c in MODELS}
        assert all(len(w) >= 2 and 8 in w for w in per_model.values())
        assert {c for c, w in per_model.items() if len(w) < len(widths)} == {"group_conv_exact", "tfn_l2"}
    else:
        assert not cfg.hydra.sweeper.exclude
        assert params["data.train_size"] == "50,100,200,400,800"
    # one step budget for every size (the header says why), and seeds outermost
    assert cfg.trainer.max_steps == 800 and cfg.trainer.max_epochs == -1
    assert cfg.module.scheduler.T_max == 800 and cfg.module.scheduler_interval == "step"
    assert list(params)[0] == "seed"
    spacing = cfg.data.config.box_size / cfg.data.config.num_points ** (1 / 3)
    assert cfg.inputs.length_scale == pytest.approx(spacing, rel=1e-3)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_swept_model_produces_the_targets(preset, tmp_path):
    """Each combo builds its model for the preset's targets (the readout checks the types) and its
    strategy wraps it: nothing in the sweep can fail for a target type it cannot produce."""
    _, params = _params(preset, tmp_path)
    for combo in params["combo"].split(","):
        cfg = compose([f"ablation={preset}", f"combo={combo}"], run_dir=tmp_path)
        model = instantiate(cfg.symmetry)(instantiate(cfg.model, _convert_="all"))
        assert [t.name for t in model.targets] == list(cfg.targets)


def test_a_model_without_the_target_type_is_refused_before_training(tmp_path):
    """InvariantNet with the invariant-only readout cannot give 1o velocities: it fails when built,
    which is why the velocity preset sweeps InvariantNet with its (default) scalarization readout."""
    cfg = compose(["ablation=galaxy_velocity_scaling", "combo=invariant_exact",
                   "+model.readout={_target_: gdl.nn.InvariantReadout, _partial_: true}"], run_dir=tmp_path)
    with pytest.raises(Exception, match="cannot produce target .velocity."):
        instantiate(cfg.model, _convert_="all")


def _run(args, env, timeout):
    res = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_shrunk_preset_end_to_end(preset, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "GDL_LOG_DIR": str(tmp_path / "logs"),
           "HYDRA_FULL_ERROR": "1"}
    sweep = tmp_path / "sweep"
    combos = "egnn_exact,invariant_exact,tfn_l1"
    shrunk = ["data.train_size=16", "model.hidden_channels=4,8"] if preset == "galaxy_params" else [
        "data.train_size=8,16"]
    _run(["gdl.cli.train", "-m", f"ablation={preset}", f"combo={combos}", *shrunk, "seed=0,1",
          "trainer.max_steps=4", "trainer.val_check_interval=2", *TINY, f"hydra.sweep.dir={sweep}",
          f"paths.data_dir.galaxy={tmp_path / 'data'}"],
         env, 1500)
    _run(["gdl.baselines.ablation", str(sweep)], env, 600)
    _run(["gdl.cli.ablate", str(sweep)], env, 300)
    out = sweep / "ablation"
    summary = pd.read_csv(out / "summary.csv")
    baselines = {"linear_theory"} if preset == "galaxy_velocity_scaling" else {"two_point_lstsq",
                                                                               "pair_distance_lstsq"}
    assert set(summary["model"]) == {"egnn", "invariant", "tfn"} | baselines
    runs = pd.read_csv(out / "runs.csv")
    assert runs.groupby("model")["test/r2"].count().min() >= 1 and runs["test/mae"].notna().all()
    assert (runs.loc[runs["strategy"] == "none", "run_dir"].str.contains("baseline_")).all()
    match = pd.read_csv(out / "param_match.csv")
    if preset == "galaxy_params":
        assert set(match["model"]) == {"egnn", "tfn"} and match["statement"].str.len().min() > 20
        assert (match["num_widths"] == 2).all()
    else:  # no width sweep: no parameter matching
        assert match.empty
        slopes = pd.read_csv(out / "slope_separation.csv")
        assert set(slopes["model"]) >= {"egnn", "tfn"} and slopes["separated"].notna().all()
    assert (out / "accuracy_vs_parameters.png").stat().st_size > 1000
