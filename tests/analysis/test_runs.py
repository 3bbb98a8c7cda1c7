from __future__ import annotations

import subprocess
import sys

import pytest

from gdl.analysis.runs import (
    METRICS_FILE,
    SINGLE_RUNS,
    NoRunsError,
    find_run_dirs,
    load_runs,
    parse_overrides,
    read_run,
)

from ._runs import metrics, write_run


def test_metrics_file_name_is_the_trainers():
    from gdl.training import METRICS_FILE as TRAINING_METRICS_FILE

    assert METRICS_FILE == TRAINING_METRICS_FILE


def test_find_run_dirs_in_a_sweep_in_job_order(tmp_path):
    for job in (0, 1, 2, 10, 11):
        write_run(tmp_path / "sweep", job, metrics(seed=job))
    (tmp_path / "sweep" / "0" / "checkpoints").mkdir()
    found = find_run_dirs([tmp_path])
    assert [p.name for p in found] == ["0", "1", "2", "10", "11"]
    # a run directory given directly, twice, counts once
    assert find_run_dirs([tmp_path / "sweep" / "1", tmp_path / "sweep" / "1"]) == [found[1]]


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_run_dirs([tmp_path / "nope"])
    (tmp_path / "empty" / "deep").mkdir(parents=True)
    with pytest.raises(NoRunsError, match="no run directories under .*empty.*metrics.json"):
        find_run_dirs([tmp_path / "empty"])
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        find_run_dirs([tmp_path / "f.txt"])
    with pytest.raises(NoRunsError, match="no paths given"):
        find_run_dirs([])


def test_read_run_sorts_out_unusable_runs(tmp_path):
    sweep = tmp_path / "s"
    ok = read_run(write_run(sweep, 0, metrics()))
    assert ok.ok and ok.status == "finished" and ok.sweep == str(sweep)
    assert ok.override_dict["model"] == "egnn"

    failed = read_run(write_run(sweep, 1, metrics(status="failed", error="ValueError: boom")))
    assert not failed.ok and failed.status == "failed" and "ValueError: boom" in failed.problem

    running = read_run(write_run(sweep, 2, metrics(status="running")))
    assert "unfinished" in running.problem

    missing = read_run(write_run(sweep, 3, None, overrides=["model=tfn"]))
    assert missing.status == "no metrics.json" and "no metrics.json" in missing.problem
    assert missing.describe() == "model=tfn"

    partial = metrics()
    del partial["test/homo/mae"], partial["num_train"]
    incomplete = read_run(write_run(sweep, 4, partial))
    assert incomplete.problem == "metrics.json lacks keys: num_train, test/homo/mae"

    broken = write_run(sweep, 5, metrics())
    (broken / METRICS_FILE).write_text("{not json")
    assert "unreadable" in read_run(broken).problem

    runs = load_runs([sweep])
    assert [r.path.name for r in runs.runs] == ["0"]
    assert [r.path.name for r in runs.problems] == ["1", "2", "3", "4", "5"]
    assert runs.sweeps == [str(sweep)]


def test_a_single_run_is_not_a_sweep(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / METRICS_FILE).write_text('{"status": "finished"}')
    assert read_run(run).sweep == SINGLE_RUNS


def test_parse_overrides():
    assert parse_overrides(["model=egnn", "+x=1", "++y=a=b", "~z", "flag"]) == {
        "model": "egnn",
        "x": "1",
        "y": "a=b",
        "z": "~",
        "flag": "",
    }


def test_analysis_imports_neither_torch_nor_lightning_nor_hydra():
    code = "import sys, gdl.analysis; print(*(m in sys.modules for m in ('torch', 'lightning', 'hydra')))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["False", "False", "False"]
