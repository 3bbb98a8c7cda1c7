from __future__ import annotations

import pandas as pd
import pytest

from gdl.analysis import report as report_module
from gdl.analysis.report import MERGED, NoFinishedRunsError, analyse, write_report
from gdl.analysis.runs import NoRunsError

from ._runs import metrics, write_run

FILES = {
    "summary.md", "summary.csv", "summary.tex", "by_train_size.md", "by_train_size.csv",
    "learning_curves.csv", "runs.csv", "problems.csv", "pending.csv", "learning_curves.png",
    "slope_separation.csv", "param_match.csv", "param_match.png",
    "accuracy_vs_equivariance.png", "accuracy_vs_parameters.png",
}


def sweep(root, models=("egnn", "plain"), seeds=(0, 1), sizes=(100, 400)):
    job = 0
    for model in models:
        for n in sizes:
            for seed in seeds:
                mae = 5.0 * n**-0.5 * (1 + 0.01 * seed)
                write_run(root, job, metrics(model=model, seed=seed, n=n, mae=mae))
                job += 1
    return job


def test_a_sweep_with_a_failed_and_a_partial_run(tmp_path):
    job = sweep(tmp_path / "s")
    write_run(tmp_path / "s", job, metrics(status="failed", error="ValueError: bad"))
    partial = metrics()
    del partial["test/homo/mae"]
    write_run(tmp_path / "s", job + 1, partial)
    rep = analyse([tmp_path / "s"])
    assert sorted(zip(rep.summary["model"], rep.summary["train_size"])) == [("egnn", 400), ("plain", 400)]
    assert rep.summary["slope"].tolist() == pytest.approx([-0.5, -0.5], abs=0.01)
    assert len(rep.runs.problems) == 2 and any("2 run(s) left out" in n for n in rep.notes)
    md = rep.markdown()
    assert md.startswith("| dataset | target | model | strategy |") and len(md.splitlines()) == 4
    written = write_report(rep, tmp_path / "out")
    assert {p.name for p in written} == FILES
    problems = pd.read_csv(tmp_path / "out" / "problems.csv")
    assert list(problems["status"]) == ["failed", "finished"]
    assert "lacks keys: test/homo/mae" in problems["reason"].iloc[1]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_mixed_sweeps_are_grouped_and_said(tmp_path):
    sweep(tmp_path / "a", models=("egnn",))
    sweep(tmp_path / "b", models=("egnn",))
    rep = analyse([tmp_path / "a", tmp_path / "b"])
    assert rep.summary["sweep"].nunique() == 2 and len(rep.summary) == 2
    assert any("2 sweeps, aggregated separately" in n for n in rep.notes)
    assert "| sweep |" in rep.markdown()
    merged = analyse([tmp_path / "a", tmp_path / "b"], merge_sweeps=True)
    assert list(merged.summary["sweep"]) == [MERGED] and merged.summary["num_seeds"].iloc[0] == 4
    assert any("occur in more than one run" in n for n in merged.notes)


def test_no_runs_and_no_usable_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoRunsError, match="no run directories"):
        analyse([tmp_path / "empty"])
    write_run(tmp_path / "bad", 0, metrics(status="failed", error="OSError: disk"))
    with pytest.raises(NoFinishedRunsError, match=r"none of the 1 run\(s\) can be used:\n.*OSError: disk"):
        analyse([tmp_path / "bad"])


def test_nothing_is_written_when_writing_fails(tmp_path, monkeypatch):
    sweep(tmp_path / "s")
    rep = analyse([tmp_path / "s"])

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report_module, "plot_accuracy_vs_parameters", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(rep, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]
