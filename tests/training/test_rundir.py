import json

import pytest

from gdl.training import RunDirectoryError, check_run_dir, format_summary, read_metrics, write_metrics


def test_metrics_json_is_flat_and_finished_runs_are_refused(tmp_path):
    assert read_metrics(tmp_path) is None
    check_run_dir(tmp_path)  # empty: fine
    write_metrics(tmp_path, {"status": "running", "x": float("nan"), "n": 3})
    check_run_dir(tmp_path)  # running (e.g. interrupted): may be resumed
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"status": "running", "x": None, "n": 3}
    write_metrics(tmp_path, {"status": "finished"})
    with pytest.raises(RunDirectoryError, match="already holds a finished run"):
        check_run_dir(tmp_path)
    assert not list(tmp_path.glob("*.tmp"))


def test_summary_table():
    record = {
        "dataset": "qm9",
        "model": "egnn",
        "strategy": "exact",
        "targets": "homo",
        "metrics": "mae",
        "num_train": 100,
        "seed": 0,
        "unit/homo": "meV",
        "test/homo/mae": 200.0,
        "baseline/homo/mae": 400.0,
        "num_params": 1234,
        "epochs": 2,
        "optimizer_steps": 8,
        "steps_per_epoch": 4.0,
        "world_size": 1,
        "time_per_epoch_s": 1.5,
        "throughput_graphs_per_s": 66.7,
        "total_time_s": 9.0,
        "train_dtype": "float32",
        "equivariance/float64/homo": 1e-16,
        "equivariance/train_dtype/homo": 2e-7,
        "symmetry/strategy": "exact",
        "run_dir": "/x",
    }
    text = format_summary(record)
    row = next(line for line in text.splitlines() if line.startswith("homo"))
    assert row.split() == ["homo", "mae", "200", "400", "meV", "0.5"]
    assert "1,234" in text and "strategy=exact" in text and "1.00e-16 (float64)" in text


def test_a_failed_attempt_is_kept_and_interrupted_runs_resume_from_last(tmp_path):
    from gdl.training.rundir import archive_failed_attempt, resumable_checkpoint

    assert archive_failed_attempt(tmp_path) is None and resumable_checkpoint(tmp_path) is None
    write_metrics(tmp_path, {"status": "running"})
    assert resumable_checkpoint(tmp_path) is None  # no checkpoint: starts again
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resumable_checkpoint(tmp_path) == tmp_path / "checkpoints" / "last.ckpt"
    assert archive_failed_attempt(tmp_path) is None  # running, not failed
    for k in (1, 2):
        write_metrics(tmp_path, {"status": "failed", "error": f"RuntimeError: attempt {k}"})
        kept = archive_failed_attempt(tmp_path)
        assert kept == tmp_path / f"failed_attempt_{k}.json"
        assert json.loads(kept.read_text())["error"] == f"RuntimeError: attempt {k}"
    assert resumable_checkpoint(tmp_path) is not None  # failed with a checkpoint: resumes
    write_metrics(tmp_path, {"status": "finished"})
    assert resumable_checkpoint(tmp_path) is None and archive_failed_attempt(tmp_path) is None


def test_one_process_at_a_time_trains_in_a_run_directory(tmp_path):
    """flock locks belong to open file descriptions, so a second RunLock conflicts with the first even
    inside one process, as it would from another process."""
    from gdl.training.rundir import RunLock

    lock = RunLock(tmp_path)
    with pytest.raises(RunDirectoryError, match="another process is training"):
        RunLock(tmp_path)
    lock.release()
    RunLock(tmp_path).release()
