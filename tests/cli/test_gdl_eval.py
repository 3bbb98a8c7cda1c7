"""gdl-eval: a run's best checkpoint on its test split reproduces the run's test metrics."""

from __future__ import annotations

import json

import pytest
import yaml

from gdl.cli.eval import main, resolve_checkpoint
from gdl.training import RunDirectoryError, compose, train

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "logger=csv"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    overrides = [
        "experiment=nbody",
        f"paths.data_dir.nbody={base / 'nbody'}",
        "data.train_size=16",
        "data.val_size=8",
        "data.test_size=8",
        "data.batch_size=8",
        "trainer=cpu",
        "trainer.max_epochs=2",
        "trainer.check_val_every_n_epoch=1",
        "model.hidden_channels=8",
        "model.num_layers=1",
        "seed=5",
        *QUIET,
    ]
    run_dir = base / "run"
    record = train(compose(overrides, run_dir=run_dir))
    (run_dir / ".hydra").mkdir(exist_ok=True)  # what gdl-train (Hydra) saves beside every run
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return run_dir, record


def test_best_checkpoint_on_test_reproduces_the_run(finished_run, capsys):
    run_dir, record = finished_run
    assert main([str(run_dir)]) == 0
    out = json.loads((run_dir / "eval" / "test-best" / "metrics.json").read_text())
    keys = [k for k in record if k.startswith(("test/", "baseline/"))]
    assert keys and out["status"] == "finished" and out["split"] == "test"
    for k in keys:
        assert out[k] == pytest.approx(record[k], rel=1e-6, abs=1e-9), k
    assert out["num_params"] == record["num_params"] and out["checkpoint"] == record["best_checkpoint"]
    assert "gdl-eval: nbody" in capsys.readouterr().out
    assert json.loads((run_dir / "metrics.json").read_text()) == json.loads(json.dumps(record))  # untouched
    # a finished evaluation is never overwritten
    with pytest.raises(RunDirectoryError):
        main([str(run_dir)])


def test_other_split_last_checkpoint_and_out(finished_run, tmp_path):
    run_dir, _ = finished_run
    assert main([str(run_dir), "--split", "val", "--ckpt", "last", "--out", str(tmp_path / "v")]) == 0
    out = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert out["split"] == "val" and out["num_val"] == 8 and "val/displacement/mse" in out
    assert not any(k.startswith("test/") for k in out)
    assert out["checkpoint"].endswith("last.ckpt")


def test_missing_run_parts_are_reported(finished_run, tmp_path, capsys):
    run_dir, _ = finished_run
    assert main([str(tmp_path)]) == 2
    assert "overrides.yaml not found" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        resolve_checkpoint(run_dir, str(tmp_path / "nope.ckpt"))
    with pytest.raises(SystemExit):
        main([str(run_dir), "--split", "holdout"])
