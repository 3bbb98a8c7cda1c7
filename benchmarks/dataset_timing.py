"""Time the first build and the reload of the datasets (the figures quoted in their docstrings).

::

    python -m benchmarks.dataset_timing qm9 --root /tmp/qm9-timing --force-reload
    python -m benchmarks.dataset_timing nbody --root /tmp/nbody-timing --field-strength 0.5
    python -m benchmarks.dataset_timing nbody --train-size 50000

Each prints the machine's core count, the time of the first construction (processing the QM9 CSV
files, or generating the N-body trajectories, unless a valid cache exists) and of a second
construction from the cache.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from gdl.data._paths import data_root, file_is_valid

__all__ = ["main", "time_nbody", "time_qm9"]


def _machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores, torch {torch.__version__}"


def time_qm9(root: str | os.PathLike | None = None, force_reload: bool = False) -> dict:
    """Build (or validate) QM9 under ``root`` and reload it; print and return the times."""
    from gdl.data import QM9

    root = Path(root).expanduser() if root else data_root("qm9")
    fresh = force_reload or not file_is_valid(root / "processed" / "qm9_v1.pt", QM9.VERSION)[0]
    t0 = time.perf_counter()
    QM9(root, force_reload=force_reload)
    t1 = time.perf_counter()
    ds = QM9(root, log=False)
    t2 = time.perf_counter()
    what = "processing the CSV files" if fresh else "loading (a valid processed file existed)"
    print(f"QM9 at {root}: {len(ds)} molecules; {_machine()}")
    print(f"first load, {what}: {t1 - t0:.1f} s")
    print(f"reload: {t2 - t1:.2f} s")
    return {"first": t1 - t0, "reload": t2 - t1, "molecules": len(ds), "processed": fresh}


def time_nbody(
    root: str | os.PathLike | None = None, field_strength: float = 0.0, train_size: int | None = None
) -> dict:
    """Generate (or load) the three N-body splits and reload them; print and return the times."""
    from gdl.data.datasets.nbody import NBODY_SPLIT_SIZES, NBodyCharged

    sizes = dict(NBODY_SPLIT_SIZES, train=train_size or NBODY_SPLIT_SIZES["train"])
    t0 = time.perf_counter()
    sets = {s: NBodyCharged(root, s, n, field_strength) for s, n in sizes.items()}
    t1 = time.perf_counter()
    for s, n in sizes.items():
        NBodyCharged(root, s, n, field_strength, log=False)
    t2 = time.perf_counter()
    clipped = float(torch.cat([d.clipped for d in sets.values()]).float().mean())
    print(f"N-body at {sets['train'].cache_dir}: {sizes}, field_strength={field_strength:g}; {_machine()}")
    print(f"first load (generating what is not cached): {t1 - t0:.1f} s")
    print(f"reload: {t2 - t1:.2f} s")
    print(f"systems with a force component clipped between input and target frame: {100 * clipped:.1f}%")
    return {"first": t1 - t0, "reload": t2 - t1, "clipped": clipped}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dataset_timing", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="dataset", required=True)
    q = sub.add_parser("qm9", help="process and reload QM9")
    q.add_argument(
        "--root", default=None, help="dataset folder (default: $GDL_DATA_DIR/qm9 or <repo>/data/qm9)"
    )
    q.add_argument("--force-reload", action="store_true", help="re-process even if a valid file exists")
    n = sub.add_parser("nbody", help="generate and reload the charged N-body splits")
    n.add_argument("--root", default=None, help="cache folder (default: $GDL_DATA_DIR/nbody_charged)")
    n.add_argument("--field-strength", type=float, default=0.0)
    n.add_argument("--train-size", type=int, default=None)
    args = parser.parse_args(argv)
    if args.dataset == "qm9":
        return time_qm9(args.root, args.force_reload)
    return time_nbody(args.root, args.field_strength, args.train_size)


if __name__ == "__main__":
    main()
