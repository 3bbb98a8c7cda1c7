"""gdl-train as users run it: subprocesses, a real SIGKILL, Hydra sweeps and DDP on CPU."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gdl

REPO = Path(gdl.__file__).resolve().parents[1]
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "num_threads=1"]


@pytest.fixture(scope="session")
def nbody_root(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "nbody"


def env():
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HYDRA_FULL_ERROR": "0",
        "GDL_LOG_DIR": "/nonexistent-logs",
    }


def command(*args):
    return [sys.executable, "-m", "gdl.cli.train", *args]


def cli(*args, timeout=600):
    return subprocess.run(
        command(*args), cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout
    )


def nbody(nbody_root, *extra, train_size=16):
    return [
        "experiment=nbody",
        f"paths.data_dir.nbody={nbody_root}",
        f"data.train_size={train_size}",
        "data.val_size=8",
        "data.test_size=8",
        "data.batch_size=8",
        "model.hidden_channels=16",
        "model.num_layers=2",
        "trainer=cpu",
        "trainer.check_val_every_n_epoch=1",
        *QUIET,
        *extra,
    ]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_unknown_model_lists_the_choices():
    res = cli("model=transformer")
    assert res.returncode != 0
    assert (
        "Could not find 'model/transformer'" in res.stderr
        and "egnn" in res.stderr
        and "invariant" in res.stderr
    )


def test_a_finished_run_directory_is_refused_before_hydra_writes_to_it(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "finished", "test/x/mae": 1.0}))
    res = cli(f"hydra.run.dir={tmp_path}", "trainer.fast_dev_run=true")
    assert res.returncode != 0
    assert "already holds a finished run" in res.stderr + res.stdout
    assert not (tmp_path / ".hydra").exists()
    assert metrics(tmp_path) == {"status": "finished", "test/x/mae": 1.0}


@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None,
    reason="the plugin is installed",
)
def test_slurm_launcher_without_the_plugin_says_how_to_install_it(tmp_path):
    res = cli("-m", "hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}", "trainer.fast_dev_run=true")
    assert res.returncode != 0
    assert "install gdl's `slurm` extra" in res.stderr + res.stdout
    assert not any(tmp_path.iterdir())


def test_kill_after_the_first_epoch_and_resume(tmp_path, nbody_root):
    """A run SIGKILLed after its first epoch and resumed with ckpt_path=last ends with the metrics of
    the same run left alone (CPU, fixed seed)."""
    args = nbody(nbody_root, "trainer.max_epochs=4", "seed=7", train_size=480)
    reference = tmp_path / "reference"
    done = cli(*args, f"hydra.run.dir={reference}")
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "killed"
    last = run / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        command(*args, f"hydra.run.dir={run}"),
        cwd=REPO,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not last.exists():
            assert proc.poll() is None, "the run ended before it wrote its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert metrics(run)["status"] == "running"
    killed_at = torch.load(last, weights_only=False, map_location="cpu")["epoch"]
    assert killed_at < 3

    resumed = cli(*args, f"hydra.run.dir={run}", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = metrics(reference), metrics(run)
    assert b["status"] == "finished" and b["resumed_from"].endswith("last.ckpt")
    assert b["optimizer_steps"] == a["optimizer_steps"] == 4 * 60
    keys = [k for k in a if k.startswith(("test/", "baseline/"))]
    assert keys
    for k in keys:
        assert math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-12), (k, a[k], b[k])
    # the curve of the first attempt survives the resume (Lightning's CSV writer deletes the file it
    # finds): the same logged steps, each once, with the losses of the run left alone
    curve_a, curve_b = train_curve(reference), train_curve(run)
    assert {e for e, _, _ in curve_a} == set(range(4))
    assert [(e, s) for e, s, _ in curve_b] == [(e, s) for e, s, _ in curve_a]
    for (_, _, la), (_, _, lb) in zip(curve_a, curve_b):
        assert math.isclose(la, lb, rel_tol=1e-5), (curve_a, curve_b)


def train_curve(run_dir):
    import csv

    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss")]
    return sorted((int(r["epoch"]), int(r["step"]), float(r["train/loss"])) for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_multirun_four_jobs(launcher, tmp_path, nbody_root):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    res = cli(
        "-m",
        "model=egnn,invariant",
        "seed=0,1",
        f"hydra/launcher={launcher}",
        *extra,
        f"hydra.sweep.dir={tmp_path}",
        *nbody(nbody_root, "trainer.max_epochs=1"),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and (p / "metrics.json").exists())
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        m = metrics(job)
        assert m["status"] == "finished" and (job / ".hydra" / "config.yaml").exists()
        seen.add((m["model"], m["seed"]))
    assert seen == {("egnn", 0), ("egnn", 1), ("invariant", 0), ("invariant", 1)}
    # another sweep into the same directory is refused before any job starts, naming what differs
    again = cli("-m", "seed=0,1", f"hydra.sweep.dir={tmp_path}", *nbody(nbody_root, "trainer.max_epochs=1"))
    assert again.returncode != 0 and "override model: 'egnn,invariant' then, (absent) now" in again.stderr
    # ... and so is any sweep there under Hydra's basic sweeper, which cannot skip finished jobs
    basic = cli("-m", "hydra/sweeper=basic", "seed=0,1", f"hydra.sweep.dir={tmp_path}",
                *nbody(nbody_root, "trainer.max_epochs=1"))
    assert basic.returncode != 0 and "already holds a finished run" in basic.stderr + basic.stdout


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, nbody_root):
    """Two gloo processes; each sees ceil(N / 2) graphs per epoch (DistributedSampler), so an epoch has
    ceil(ceil(N / 2) / batch_size) optimizer steps (gdl/data/datamodules/graph_datamodule.py)."""
    n, batch, epochs = 40, 8, 2
    res = cli(
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        f"trainer.max_epochs={epochs}",
        f"hydra.run.dir={tmp_path}",
        *nbody(nbody_root, train_size=n),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m = metrics(tmp_path)
    assert m["status"] == "finished" and m["world_size"] == 2
    expected = math.ceil(math.ceil(n / 2) / batch)
    assert m["steps_per_epoch"] == expected == 3
    assert m["optimizer_steps"] == epochs * expected
