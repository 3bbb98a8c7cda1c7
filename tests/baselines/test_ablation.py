"""``python -m gdl.baselines.ablation``: the domain baselines as run directories of a galaxy sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from gdl.analysis.report import analyse
from gdl.baselines.ablation import main, run_baselines
from gdl.baselines.regression import LeastSquares, r2_score
from gdl.baselines.two_point import TwoPointFeatures
from gdl.data import GalaxyClouds
from gdl.data.datasets.splits import SplitSpec, split_indices
from gdl.training import compose

TINY = [
    "data.num_clouds=24", "data.val_size=4", "data.test_size=8", "data.config.num_points=100",
    "data.config.box_size=271.4", "data.config.grid=16",
]


def _job(sweep, job, preset, train_size, data_dir, extra=()):
    """A job directory as gdl-train -m leaves it before training: .hydra/config.yaml and hydra.yaml."""
    cfg = compose(
        [f"ablation={preset}", *TINY, f"data.train_size={train_size}", f"paths.data_dir.galaxy={data_dir}",
         *extra],
        run_dir=sweep / str(job),
    )
    hydra_dir = sweep / str(job) / ".hydra"
    hydra_dir.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    OmegaConf.save({k: v for k, v in cfg.items() if k != "hydra"}, hydra_dir / "config.yaml")
    choices = {"experiment": OmegaConf.to_container(cfg.hydra.runtime.choices)["experiment"]}
    (hydra_dir / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}}))
    return cfg


def test_cosmology_baselines_on_the_jobs_clouds(tmp_path):
    sweep, data = tmp_path / "sweep", tmp_path / "data"
    for job, n in enumerate((6, 12, 12)):  # two jobs share a training size: one baseline run
        _job(sweep, job, "galaxy_cosmology_scaling", n, data)
    logged = []
    dirs = run_baselines(sweep, log=logged.append)
    assert sorted(d.name for d in dirs) == sorted(
        f"baseline_{m}_n{n}" for m in ("two_point_lstsq", "pair_distance_lstsq") for n in (6, 12)
    )
    m = json.loads((sweep / "baseline_two_point_lstsq_n12" / "metrics.json").read_text())
    assert (m["status"], m["dataset"], m["experiment"], m["strategy"]) == (
        "finished", "galaxy", "galaxy_cosmology", "none")
    assert (m["num_train"], m["num_test"], m["targets"], m["metrics"]) == (12, 8, "omega_m,sigma_8", "r2,mae")
    # the same number as fitting by hand on the data module's split (the networks' test clouds)
    cfg = OmegaConf.load(sweep / "1" / ".hydra" / "config.yaml")
    clouds = GalaxyClouds(24, OmegaConf.to_container(cfg.data.config), seed=0, root=data, progress=False)
    idx = split_indices(24, SplitSpec("galaxy", 12, 4, 8), 0, 12)
    feats = TwoPointFeatures()
    X = {k: np.stack([feats(clouds[int(i)].pos.double().numpy(), 271.4) for i in v]) for k, v in idx.items()}
    Y = {k: np.array([[float(clouds[int(i)].omega_m), float(clouds[int(i)].sigma_8)] for i in v])
         for k, v in idx.items()}
    pred = LeastSquares().fit(X["train"], Y["train"]).predict(X["test"])
    assert m["test/omega_m/r2"] == pytest.approx(r2_score(Y["test"], pred)[0], rel=1e-6, abs=1e-9)
    assert m["test/sigma_8/mae"] == pytest.approx(np.abs(Y["test"] - pred)[:, 1].mean(), rel=1e-6)
    # resumable: finished baseline runs are kept
    again = []
    run_baselines(sweep, log=again.append)
    assert all(line.startswith("kept") for line in again) and len(again) == 4
    # gdl-ablate reads them as rows of the same sweep
    report = analyse([sweep])
    assert set(report.summary["model"]) == {"two_point_lstsq", "pair_distance_lstsq"}
    assert len(report.runs.sweeps) == 1  # the same sweep as the jobs


def test_velocity_baseline(tmp_path):
    sweep = tmp_path / "sweep"
    _job(sweep, 0, "galaxy_velocity_scaling", 6, tmp_path / "data")
    (run,) = run_baselines(sweep, log=lambda s: None)
    m = json.loads((run / "metrics.json").read_text())
    assert run.name == "baseline_linear_theory_n6" and m["targets"] == "velocity"
    assert np.isfinite(m["test/velocity/r2"]) and m["test/velocity/mae"] > 0 and m["unit/velocity"] == "km/s"


def test_bad_input(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no job directories"):
        run_baselines(tmp_path)
    assert main([str(tmp_path / "missing")]) == 2 and "not a directory" in capsys.readouterr().err
    sweep = tmp_path / "shape"
    _job(sweep, 0, "galaxy_velocity_scaling", 6, tmp_path / "data", ["targets=[shape]"])
    with pytest.raises(ValueError, match=r"no baseline predicts the targets \['shape'\]"):
        run_baselines(sweep)
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baselines(sweep, methods=["mlp"])
    nbody = tmp_path / "nbody"
    (nbody / "0" / ".hydra").mkdir(parents=True)
    cfg = compose(["experiment=nbody"], run_dir=nbody / "0")
    OmegaConf.save({k: v for k, v in cfg.items() if k != "hydra"}, nbody / "0" / ".hydra" / "config.yaml")
    with pytest.raises(ValueError, match="need galaxy clouds"):
        run_baselines(nbody)
