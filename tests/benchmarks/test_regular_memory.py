"""benchmarks.regular_memory on a tiny model, this checkout standing in for the old copy (in
process: no children)."""

from pathlib import Path

import pytest

from benchmarks import regular_memory

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--widths", "4", "--layers", "1", "--anchors", "tetrahedral", "--batch-size", "2", "--steps", "1"]


def test_memory_and_interleaved_on_a_tiny_model():
    args = regular_memory.parse_args(["--old-src", str(ROOT), *TINY, "--interleaved-steps", "2"])
    mem = regular_memory.measure_memory(args, "old", 4)
    assert mem["version"] == "old" and mem["peak_mib"] >= 0 and len(mem["fwd_bwd_s"]) == 1
    inter = regular_memory.measure_interleaved(args, 4)
    assert inter["max_output_diff"] == 0.0  # the same code and weights
    assert len(inter["fwd_bwd_s"]["old"]) == len(inter["fwd_bwd_s"]["new"]) == 2
    assert inter["old_over_new"] > 0 and inter["old_over_new_cpu"] > 0


def test_old_src_must_hold_a_gdl_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no gdl/__init__.py"):
        regular_memory.import_old(tmp_path, name="gdl_missing")
