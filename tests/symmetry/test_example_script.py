"""examples/symmetry_strategies.py runs (on random clouds) and its table says what the strategies
claim: exact rows at rounding level, relaxed rows above it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "symmetry_strategies.py"


@pytest.mark.slow
def test_example_runs_and_its_table_is_consistent():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--random"], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line[:1].isalpha() and "e" in line]
    table = [(r[0], r[1], [float(x) for x in r[2:6]]) for r in rows if len(r) >= 6 and r[2][0].isdigit()]
    assert {s for s, _, _ in table} == {
        "exact", "augment", "frame_average", "rpp", "relaxed", "partial", "learned"
    }
    by = {}
    for strategy, model, errs in table:
        by.setdefault((strategy, model), []).append(errs)
    assert max(by[("exact", "EGNN")][0]) < 1e-9
    assert max(by[("frame_average", "PlainNet")][0]) < 1e-9  # O(3) frames
    assert by[("relaxed", "GroupConvNet")][0][0] < 1e-9 < by[("relaxed", "GroupConvNet")][1][0]
    assert by[("partial", "GroupConvNet")][0][0] < 1e-9 < by[("partial", "GroupConvNet")][1][0]
