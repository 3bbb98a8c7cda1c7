"""Synthetic run directories, as gdl-train writes them (metrics.json, .hydra/, multirun.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def metrics(
    model: str = "egnn",
    strategy: str = "exact",
    seed: int = 0,
    n: int = 100,
    mae: float = 1.0,
    status: str = "finished",
    **extra: Any,
) -> dict[str, Any]:
    m: dict[str, Any] = {
        "status": status,
        "dataset": "qm9",
        "experiment": "qm9_homo",
        "model": model,
        "model_class": model.upper(),
        "strategy": strategy,
        "targets": "homo",
        "target_specs": "homo:graph:0e",
        "metrics": "mae",
        "train_size": n,
        "seed": seed,
        "batch_size": 32,
        "unit/homo": "meV",
        "run_dir": "",
    }
    if status == "finished":
        m.update(
            {
                "num_train": n,
                "num_val": 10,
                "num_test": 20,
                "test/homo/mae": mae,
                "baseline/homo/mae": 400.0,
                "test/loss": 0.1,
                "num_params": 1000,
                "epochs": 2,
                "time_per_epoch_s": 1.5,
                "throughput_graphs_per_s": 100.0,
                "equivariance/float64/homo": 1e-15,
                "symmetry/strategy": strategy,
            }
        )
    m.update(extra)
    return m


def write_run(
    sweep: Path, job: int | str, record: dict[str, Any] | None, overrides: list[str] | None = None
) -> Path:
    """A job directory ``sweep/job`` of a multirun (``record=None``: no metrics.json)."""
    sweep.mkdir(parents=True, exist_ok=True)
    (sweep / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    run = sweep / str(job)
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    if overrides is None and record is not None:
        overrides = [f"model={record['model']}", f"symmetry={record['strategy']}", f"seed={record['seed']}",
                     f"data.train_size={record['train_size']}"]
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides or [])))
    (run / ".hydra" / "config.yaml").write_text("seed: 0\n")
    if record is not None:
        (run / "metrics.json").write_text(json.dumps({**record, "run_dir": str(run)}))
    return run
