import json
import math
import re

from benchmarks.record import compute_ratios, format_ratio, median_s, ratio_lines, throughput, write_record
from benchmarks.record_tables import markdown

MIB = 2**20


def _steps(*seconds, user=None):
    return [{"input": k, "s": s, "user_s": user or s, "sys_s": 0.0} for k, s in enumerate(seconds)]


def _train(seconds, peak_mib, graphs=32, edges=1000):
    return {
        "status": "ok",
        "steps": _steps(*seconds),
        "graphs_per_input": graphs,
        "edges_per_input": edges,
        "peak_bytes": peak_mib * MIB,
        "parameters": 10,
    }


def _row(rid, result, batch_size=32):
    return {
        "id": rid,
        "label": rid,
        "model": "EGNN",
        "workload": {"batch_size": batch_size},
        "result": result,
    }


def _record(**sections):
    machine = {
        "cpu": "test cpu",
        "cores": 2,
        "memory_gb": 24,
        "torch": "2",
        "threads": 1,
        "device": "cpu",
        "load_average": [1.0, 1.0, 1.0],
        "commit": "abc",
    }
    record = {"date": "today", "machine": machine, "config": {"quick": True}, **sections}
    record["ratios"] = compute_ratios(record)
    return record


def test_median_and_throughput():
    r = _train([0.3, 0.1, 0.2], 10)
    assert median_s(r) == 0.2 and throughput(r) == 32 / 0.2
    assert math.isnan(throughput({"status": "oom"})) and math.isnan(median_s(None))


def test_qm9_ratios_are_gdl_over_peer_throughput_and_peer_over_gdl_memory():
    record = _record(
        qm9=[_row("egnn", _train([0.1, 0.1], 100)), _row("egnn_pytorch", _train([0.5, 0.5], 300))]
    )
    ratios = record["ratios"]
    assert math.isclose(ratios["egnn_vs_egnn_pytorch"]["value"], 5.0)
    assert math.isclose(ratios["egnn_memory_vs_egnn_pytorch"]["value"], 3.0)
    assert "se3t_vs_se3_transformer_pytorch" not in ratios  # rows not measured: no ratio


def test_missing_or_oom_peer_gives_nan_or_a_lower_bound():
    oom = {
        "status": "oom",
        "limit_bytes": 1000 * MIB,
        "progress": {"baseline_bytes": 200 * MIB},
        "error": "out of memory at 1.0 GB",
    }
    missing = {"status": "missing", "error": "se3_transformer_pytorch is not installed"}
    record = _record(
        qm9=[
            _row("se3t", _train([1.0], 100)),
            _row("se3_transformer_pytorch", oom),
            _row("se3t_b8", _train([1.0], 100), 8),
            _row("se3_transformer_pytorch_b8", missing, 8),
        ]
    )
    r = record["ratios"]
    assert math.isnan(r["se3t_vs_se3_transformer_pytorch"]["value"])
    assert "out of memory" in r["se3t_vs_se3_transformer_pytorch"]["note"]
    bound = r["se3t_memory_vs_se3_transformer_pytorch"]
    assert bound["bound"] == ">" and math.isclose(bound["value"], 8.0)  # (1000 - 200) / 100
    assert math.isnan(r["se3t_memory_vs_se3_transformer_pytorch_b8"]["value"])
    assert "not installed" in r["se3t_vs_se3_transformer_pytorch_b8"]["note"]


def test_flops_compile_and_scaling_ratios():
    gemm = {"status": "ok", "flops": 100e9, "steps": _steps(1.0), "n": 2048}
    flops = {"gemm": gemm, "models": [{"model": "EGNN", "result": {**_train([2.0], 1), "flops": 20e9}}]}
    compiled = [
        {
            "model": "TFN",
            "result": {"status": "ok", "eager": _steps(3.0, user=2.0), "compiled": _steps(1.0, user=0.5)},
        }
    ]
    scaling = [
        {"model": "EGNN", "config": "c", "num_points": n, "result": _train([t], 1, graphs=1, edges=16 * n)}
        for n, t in ((1000, 1.0), (10_000, 1.0), (100_000, 12.0))
    ]
    r = _record(flops=flops, compile=compiled, scaling=scaling)["ratios"]
    assert math.isclose(r["egnn_flops_fraction_of_gemm"]["value"], 0.1)  # 10 GFLOP/s of 100
    assert math.isclose(r["tfn_compiled_vs_eager"]["value"], 3.0)
    assert math.isclose(r["tfn_compiled_vs_eager_cpu"]["value"], 4.0)  # CPU time 2.0 / 0.5
    assert math.isclose(r["egnn_time_per_edge_1e5_vs_1e4"]["value"], 1.2)  # the two largest clouds
    assert "egnn_time_per_edge_1e4_vs_1e3" not in r


def test_ratio_lines_have_the_issue_format():
    ratios = {
        "a_vs_b": {"value": 2.345678, "bound": "", "note": ""},
        "m": {"value": 7.0, "bound": ">", "note": "peer: oom"},
        "n": {"value": math.nan, "bound": "", "note": "peer: missing"},
    }
    lines = ratio_lines(ratios)
    assert lines[:3] == ["RATIO a_vs_b 2.35", "RATIO m >7", "RATIO n nan"]
    assert all(re.fullmatch(r"RATIO \S+ \S+", line) for line in lines[:3])
    assert lines[3:] == ["# m: peer: oom", "# n: peer: missing"]
    assert format_ratio(12345.6) == "1.235e+04"


def test_record_is_written_as_json_and_rendered(tmp_path):
    record = _record(
        qm9=[_row("egnn", _train([0.1], 100)), _row("egnn_pytorch", {"status": "missing", "error": "x"})]
    )
    path = write_record(record, tmp_path)
    assert path.name.endswith("-cpu-quick.json") and not list(tmp_path.glob("*.tmp"))
    assert json.loads(path.read_text())["qm9"][0]["id"] == "egnn"
    text = markdown(record)
    assert "| egnn | egnn |" in text and "missing: x" in text and "test cpu" in text
    assert "| egnn_vs_egnn_pytorch | nan |" in text


def test_pair_ratios_are_the_other_models_time_over_gdls():
    def model(fwd_bwd, fwd, params):
        return {
            "parameters": params,
            "steps": [
                {"input": k, "s": 2 * t, "fwd_bwd_s": t, "user_s": 4 * t, "sys_s": t / 2}
                for k, t in enumerate(fwd_bwd)
            ],
            "forward": [{"input": k, "s": t} for k, t in enumerate(fwd)],
        }

    ok = {"status": "ok", "models": [model([1.0, 2.0, 3.0], [0.5], 10), model([3.0, 6.0, 9.0], [0.6], 20)]}
    failed = {"status": "error", "error": "boom"}
    pairs = [
        {"id": "tfn_vs_nequip_l2", "ratio": "tfn_vs_nequip_l2", "label": "a", "result": ok},
        {"id": "invariant_vs_schnet", "ratio": "invariant_vs_schnet", "label": "b", "result": failed},
    ]
    record = _record(pairs=pairs)
    ratios = record["ratios"]
    assert ratios["tfn_vs_nequip_l2"]["value"] == 3.0  # median fwd+bwd 6 / 2, not the whole step
    assert math.isclose(ratios["tfn_vs_nequip_l2_forward"]["value"], 1.2)
    assert math.isclose(ratios["tfn_vs_nequip_l2_cpu"]["value"], 27.0 / 9.0)  # medians of user + sys
    assert math.isnan(ratios["invariant_vs_schnet_cpu"]["value"])
    assert (
        math.isnan(ratios["invariant_vs_schnet"]["value"]) and "boom" in ratios["invariant_vs_schnet"]["note"]
    )
    table = markdown(record)
    assert "| tfn_vs_nequip_l2 | a | 10 / 20 | 3 | 2e+03 / 6e+03 | 3 | 500 / 600 | 1.2 | ok |" in table
