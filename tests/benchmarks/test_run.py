"""Smoke tests of the runner in --quick mode on tiny workloads, in-process (no peers needed)."""

import json
import re

import pytest

import benchmarks.run as run_module
from benchmarks.run import main, parse_args, print_summary, run
from benchmarks.workloads import load_qm9_sample


@pytest.fixture(scope="module")
def quick_record(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    args = parse_args(
        [
            "--quick",
            "--random-molecules",
            "--no-isolate",
            "--no-peers",
            "--models",
            "EGNN",
            "--compile-backend",
            "eager",
            "--scaling-sizes",
            "100,300",
            "--results-dir",
            str(out),
        ]
    )
    return run(args)


def test_quick_run_covers_every_section(quick_record):
    rows = {r["id"]: r for r in quick_record["qm9"]}
    assert set(rows) == {"egnn", "egnn_pytorch", "egnn_pytorch_m16"}
    assert rows["egnn"]["result"]["status"] == "ok" and rows["egnn"]["result"]["graphs_per_input"] == 8
    assert rows["egnn_pytorch"]["result"]["status"] == "not run"  # --no-peers, said so in the row
    assert [r["num_points"] for r in quick_record["scaling"]] == [100, 300]
    assert all(r["result"]["status"] == "ok" for r in quick_record["scaling"])
    assert quick_record["compile"][0]["result"]["status"] == "ok"
    assert quick_record["flops"]["models"][0]["result"]["flops"] > 0
    assert quick_record["flops"]["gemm"]["status"] == "ok"
    ratios = quick_record["ratios"]
    assert ratios["egnn_flops_fraction_of_gemm"]["value"] > 0
    assert ratios["egnn_compiled_vs_eager"]["value"] > 0
    assert ratios["egnn_time_per_edge_300_vs_100"]["value"] > 0


def test_quick_run_writes_its_record_and_prints_ratio_lines(quick_record, capsys):
    record = json.loads(open(quick_record["path"]).read())
    for key in ("cpu", "cores", "torch", "commit", "threads"):
        assert key in record["machine"]
    assert record["config"]["quick"] and record["config"]["qm9_source"].startswith("random")


def test_ratio_lines_are_printed(quick_record, capsys):
    print_summary(quick_record)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RATIO ")]
    assert lines and all(re.fullmatch(r"RATIO \S+ \S+", line) for line in lines)
    assert any(line.startswith("RATIO egnn_flops_fraction_of_gemm ") for line in lines)
    assert "| egnn |" in out and quick_record["path"] in out


def test_missing_peers_are_reported_as_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "peer_available", lambda name: False)
    args = parse_args(
        [
            "--quick",
            "--random-molecules",
            "--no-isolate",
            "--only",
            "qm9",
            "--models",
            "SE3Transformer",
            "--results-dir",
            str(tmp_path),
        ]
    )
    fake = {"status": "ok", "steps": [{"s": 1.0}], "graphs_per_input": 8, "peak_bytes": 1, "parameters": 1}
    monkeypatch.setattr(run_module.Runner, "__call__", lambda self, *a, **k: fake)  # no gdl work
    record = run(args)
    peers = [r for r in record["qm9"] if r["spec"]["kind"] == "peer"]
    assert len(peers) == 2 and all(r["result"]["status"] == "missing" for r in peers)
    assert "pip install" in peers[0]["result"]["error"]
    assert "not installed" in record["ratios"]["se3t_vs_se3_transformer_pytorch"]["note"]


def test_qm9_sample_file_round_trip(tmp_path, capsys):
    path = tmp_path / "sample.pt"
    main(["--quick", "--random-molecules", "--save-qm9-sample", str(path)])
    assert f"wrote {path}" in capsys.readouterr().out
    assert len(load_qm9_sample(path)["num_atoms"]) == 32
    sample, source = run_module._sample(parse_args(["--qm9-sample", str(path)]), 1024)
    assert source.startswith(f"QM9 sample file {path}") and len(sample["num_atoms"]) == 32


def test_bad_arguments_are_rejected():
    with pytest.raises(SystemExit):
        parse_args(["--only", "qm9,nope"])
    with pytest.raises(SystemExit):
        parse_args(["--models", "EGNN,Nope"])


BLOCKED_RUN = """
import sys
BLOCKED = {"egnn_pytorch", "se3_transformer_pytorch", "torch_cluster", "hydra", "omegaconf", "lightning",
           "pytorch_lightning", "qm9pack", "einops"}
class Hide:  # every import finder, blind to the blocked packages (find_spec gives None, import fails)
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        return self.inner.find_spec(name, path, target)
    def __getattr__(self, attr):
        return getattr(self.inner, attr)
sys.meta_path[:] = [Hide(f) for f in sys.meta_path]
from benchmarks.run import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_runner_needs_only_torch_pyg_e3nn_scipy_numpy(tmp_path):
    """What the GPU machine has: no peers, torch_cluster, hydra or qm9pack (blocked here)."""
    import subprocess
    import sys

    sample = tmp_path / "sample.pt"
    main(["--quick", "--random-molecules", "--save-qm9-sample", str(sample)])
    argv = [
        "--quick",
        "--qm9-sample",
        str(sample),
        "--no-isolate",
        "--only",
        "qm9,scaling,flops",
        "--scaling-sizes",
        "100,200",
        "--models",
        "EGNN",
        "--results-dir",
        str(tmp_path),
    ]
    res = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, *argv],
        capture_output=True,
        text=True,
        cwd=run_module.RESULTS.parents[1],
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "| egnn_pytorch | " in res.stdout and "missing: egnn_pytorch is not installed" in res.stdout
    assert "RATIO egnn_flops_fraction_of_gemm " in res.stdout


def test_quick_pairs_are_interleaved_and_give_ratio_lines(tmp_path, capsys):
    args = parse_args(
        [
            "--quick",
            "--random-molecules",
            "--no-isolate",
            "--only",
            "pairs",
            "--models",
            "InvariantNet",
            "--results-dir",
            str(tmp_path),
        ]
    )
    record = run(args)
    rows = {r["id"]: r for r in record["pairs"]}
    assert set(rows) == {"invariant_vs_schnet", "invariant_vs_schnet_ftz"}
    for r in rows.values():
        assert r["result"]["status"] == "ok" and r["workload"]["radius"] == 5.0
        first, second = r["result"]["models"]
        assert len(first["steps"]) == len(second["steps"]) >= 2 and first["parameters"] > 0
    assert rows["invariant_vs_schnet_ftz"]["result"]["flush_denormal"]
    out = capsys.readouterr().out
    for name in ("invariant_vs_schnet", "invariant_vs_schnet_forward", "invariant_vs_schnet_ftz"):
        assert re.search(rf"^RATIO {name} \d", out, re.M), name


def test_versus_commit_puts_each_model_beside_its_old_code(tmp_path, capsys):
    args = parse_args(
        [
            "--quick",
            "--random-molecules",
            "--no-isolate",
            "--only",
            "pairs",
            "--models",
            "EGNN",
            "--versus-commit",
            "HEAD",
            "--results-dir",
            str(tmp_path),
        ]
    )
    record = run(args)
    (row,) = (r for r in record["pairs"] if r["id"] == "egnn_vs_HEAD")
    assert row["result"]["status"] == "ok" and row["workload"]["radius"] is None  # QM9 rows' full graphs
    new, old = row["specs"]
    assert old == {**new, "commit": "HEAD"}
    assert re.search(r"^RATIO egnn_vs_HEAD \d", capsys.readouterr().out, re.M)


def test_rows_select_rows_of_the_qm9_and_pairs_sections(tmp_path, monkeypatch):
    with pytest.raises(SystemExit):
        parse_args(["--rows", "tfn_vs_nequip_l2,nope"])
    args = parse_args(
        [
            "--quick",
            "--random-molecules",
            "--no-isolate",
            "--only",
            "qm9,pairs",
            "--rows",
            "tfn,tfn_vs_nequip_l2",
            "--results-dir",
            str(tmp_path),
        ]
    )
    fake = {"status": "ok", "steps": [{"s": 1.0}], "graphs_per_input": 8, "peak_bytes": 1, "parameters": 1}
    monkeypatch.setattr(run_module, "peer_available", lambda name: True)
    monkeypatch.setattr(run_module.Runner, "__call__", lambda self, *a, **k: fake)  # no model work
    record = run(args)
    assert [r["id"] for r in record["qm9"]] == ["tfn"] and [r["id"] for r in record["pairs"]] == [
        "tfn_vs_nequip_l2"
    ]
    # the skipped EGNN row still sets the width of the parameter-matched TFN row
    assert "hidden_channels" in record["qm9"][0]["spec"]["kwargs"]
