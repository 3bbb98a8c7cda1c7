"""The domain baselines on synthetic galaxy clouds: ``python -m gdl.baselines.galaxy_scores``.

Generates ``--train`` + ``--test`` clouds with :class:`gdl.data.sim.galaxy_mocks.GalaxyGenerator`
(training clouds are indices ``0 .. train-1``, test clouds the next ``test`` indices, one seed),
and reports the test R² (with a bootstrap standard deviation over test clouds, or over test
points for velocities) of

* the two-point function (24 bins, 0.0005–0.15 L) + least squares → (Ωm, σ8);
* the CosmoBench pair-distance features (4 statistics × 12 cutoffs) + least squares → (Ωm, σ8);
* linear-theory velocities (amplitude and smoothing fitted on the training clouds) → velocity.

All fits use the training clouds only. ``--json PATH`` also writes the numbers with the machine,
the commit and the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.sim.galaxy_config import GalaxyConfig
from ..data.sim.galaxy_mocks import make_generator
from .regression import LeastSquares, bootstrap_r2, r2_score
from .two_point import PairDistanceFeatures, TwoPointFeatures
from .velocity import LinearTheoryVelocity

__all__ = ["main", "run"]


def run(
    num_train: int = 400,
    num_test: int = 100,
    config: GalaxyConfig | dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the three baselines; returns ``{"rows": [...], "timing": {...}, "config": {...}}``."""
    if num_train < 3 or num_test < 2:
        raise ValueError(f"need at least 3 training and 2 test clouds, got {num_train} and {num_test}")
    cfg = GalaxyConfig.from_any(config)
    gen = make_generator(cfg, seed)
    box = cfg.box_size
    feats = {
        "two-point function + least squares": TwoPointFeatures(),
        "pair distances + least squares": PairDistanceFeatures(),
    }
    X: dict[str, list[np.ndarray]] = {k: [] for k in feats}
    Y, clouds = [], []
    timing = {"generation": 0.0, **{k: 0.0 for k in feats}}
    from tqdm.auto import tqdm

    for i in tqdm(range(num_train + num_test), desc="clouds", disable=not progress, file=sys.stderr):
        t0 = time.perf_counter()
        c = gen(i)
        timing["generation"] += time.perf_counter() - t0
        for name, f in feats.items():
            t0 = time.perf_counter()
            X[name].append(f(c.pos, box))
            timing[name] += time.perf_counter() - t0
        Y.append([c.params.omega_m, c.params.sigma_8])
        clouds.append((c.pos, c.velocity))
    Y_arr = np.asarray(Y)
    tr, te = slice(0, num_train), slice(num_train, num_train + num_test)
    rows = []
    for name in feats:
        Xa = np.asarray(X[name])
        model = LeastSquares().fit(Xa[tr], Y_arr[tr])
        pred = model.predict(Xa[te])
        r2 = r2_score(Y_arr[te], pred)
        _, std = bootstrap_r2(Y_arr[te], pred)
        for j, target in enumerate(("omega_m", "sigma_8")):
            rows.append(_row(name, model.num_parameters // 2, target, r2[j], std[j]))
    t0 = time.perf_counter()
    ltv = LinearTheoryVelocity(grid=cfg.grid).fit((p, v, box) for p, v in clouds[tr])
    pv = [(ltv.predict(p, box), v) for p, v in clouds[te]]
    timing["linear-theory velocity"] = time.perf_counter() - t0
    pred_v = np.concatenate([p for p, _ in pv])
    true_v = np.concatenate([v for _, v in pv])
    _, std_v = bootstrap_r2(true_v, pred_v, num=200, pooled=True)
    rows.append(
        _row(
            f"linear-theory velocity (R={ltv.smoothing_:.3g} Mpc/h)",
            2,
            "velocity",
            r2_score(true_v, pred_v, pooled=True),
            std_v,
        )
    )
    n = num_train + num_test
    timing_per_cloud = {
        "generation_s_per_cloud": timing["generation"] / n,
        "two_point_s_per_cloud": timing["two-point function + least squares"] / n,
        "pair_distance_s_per_cloud": timing["pair distances + least squares"] / n,
        "velocity_fit_and_predict_s": timing["linear-theory velocity"],
    }
    return {
        "rows": rows,
        "timing": timing_per_cloud,
        "config": cfg.as_dict(),
        "seed": seed,
        "num_train": num_train,
        "num_test": num_test,
    }


def _row(method: str, params: int, target: str, r2: float, std: float) -> dict[str, Any]:
    return {
        "method": method,
        "parameters": int(params),
        "target": target,
        "r2": float(r2),
        "bootstrap_std": float(std),
    }


def format_report(result: dict[str, Any]) -> str:
    cfg, t = result["config"], result["timing"]
    lines = [
        f"synthetic galaxy clouds: {result['num_train']} train / {result['num_test']} test, "
        f"{cfg['num_points']} points, box {cfg['box_size']:g} Mpc/h, grid {cfg['grid']}, {cfg['mode']}, "
        f"bias {cfg['bias']}, seed {result['seed']}",
        "",
        f"{'baseline':<50} {'params':>6}  {'target':<9} {'R2 (test)':>9}  {'bootstrap std':>13}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['method']:<50} {r['parameters']:>6}  {r['target']:<9} {r['r2']:>9.3f}  "
            f"{r['bootstrap_std']:>13.3f}"
        )
    lines += [
        "",
        f"time per cloud: generation {t['generation_s_per_cloud']:.3f} s, "
        f"two-point function {t['two_point_s_per_cloud']:.3f} s, "
        f"pair-distance features {t['pair_distance_s_per_cloud']:.3f} s; "
        f"velocity fit + predict {t['velocity_fit_and_predict_s']:.1f} s",
    ]
    return "\n".join(lines)


def _provenance(argv: Sequence[str]) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "command": "python -m gdl.baselines.galaxy_scores " + " ".join(argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "commit": commit,
        "numpy": np.__version__,
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="python -m gdl.baselines.galaxy_scores", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--train", type=int, default=400, help="training clouds (default 400)")
    p.add_argument("--test", type=int, default=100, help="test clouds (default 100)")
    p.add_argument("--points", type=int, default=5000, help="points per cloud (default 5000)")
    p.add_argument("--grid", type=int, default=64, help="Fourier grid N (default 64)")
    p.add_argument("--box", type=float, default=1000.0, help="box side in Mpc/h (default 1000)")
    p.add_argument(
        "--bias",
        default=None,
        help="a fixed bias, 'halo' (abundance matching) or 'selection' (2lpt); default: the mode's default",
    )
    p.add_argument("--mode", default="lognormal", choices=["lognormal", "zeldovich", "2lpt"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.bias is not None and args.bias not in ("halo", "selection"):
        args.bias = float(args.bias)
    cfg = GalaxyConfig(
        box_size=args.box, num_points=args.points, grid=args.grid, bias=args.bias, mode=args.mode
    )
    result = run(args.train, args.test, cfg, args.seed, progress=not args.quiet)
    print(format_report(result))
    if args.json:
        result["provenance"] = _provenance(argv)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
