"""The example scripts in examples/ run with their defaults and print what their docstrings say.

(``examples/symmetry_strategies.py`` has its own test: tests/symmetry/test_example_script.py.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def numbers(pattern: str, text: str) -> list[float]:
    m = re.search(pattern, text)
    assert m, f"no line matching {pattern!r} in:\n{text}"
    return [float(g) for g in m.groups()]


@pytest.mark.slow
def test_egnn_in_pyg_model_beats_the_mean_predictor():
    out = run_example("egnn_in_pyg_model.py")
    mae, mean = numbers(r"test MAE HOMO on \d+ molecules: ([\d.]+) meV \(mean predictor ([\d.]+) meV\)", out)
    assert mae < mean


@pytest.mark.slow
def test_tfn_dipole_beats_the_zero_vector_and_is_equivariant():
    out = run_example("tfn_dipole.py")
    err, zero = numbers(r"dipole on \d+ molecules: ([\d.]+) D \(zero: ([\d.]+) D\)", out)
    assert err < zero
    (eq,) = numbers(r"equivariance error \(float64.*\): ([\d.e+-]+)", out)
    assert eq < 1e-7


@pytest.mark.slow
def test_own_dataset_checks_types_and_the_trained_model():
    out = run_example("own_dataset_typed_targets.py")
    assert "declaring `polar` as 1e fails the check, as it should" in out
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in out.splitlines()
            if line.split() and line.split()[0] in ("gyration", "polar", "inertia", "offset")}  # fmt: skip
    assert set(rows) == {"gyration", "polar", "inertia", "offset"}
    assert all(len(v) == 4 and max(v) < 1e-9 for v in rows.values()), rows


@pytest.mark.slow
def test_strategy_around_own_model_frame_average_is_exact():
    out = run_example("strategy_around_own_model.py")
    (alone,) = numbers(r"MyModel alone: equivariance error ([\d.]+)", out)
    row = r": test \|dipole error\| ([\d.]+), equivariance error ([\d.e+-]+)"
    fa_err, fa_eq = numbers("frame_average" + row, out)
    _, aug_eq = numbers("augment" + row, out)
    (zero,) = numbers(r"test \|dipole\| \(the zero vector's error\) ([\d.]+)", out)
    assert alone > 0.1 and fa_eq < 1e-9  # the backbone is not equivariant; its frame average is
    assert aug_eq > 1e-6  # augmentation only encourages the symmetry
    assert fa_err < zero
