r"""How much of a galaxy velocity field lies within a network's reach (numpy and the data module).

A message-passing network with ``L`` layers on a k-NN graph hears, at each point, only the points
within ``L`` hops; peculiar velocities come from the matter field on all scales (linear theory:
:math:`\mathbf v \propto \nabla \nabla^{-2} \delta`, weighted to large scales). This module puts
the two side by side on the clouds of one galaxy job:

* :func:`truncation_curve` — the test R² of linear theory fitted on the job's training clouds when
  only the matter within :math:`R_t` of each point is used
  (:class:`~gdl.baselines.velocity.LinearTheoryVelocity` with ``truncation``), for several radii;
* :func:`hop_reach` — the distances at which the job's graph (its ``data.graph`` transform, the
  direction messages flow) reaches after 1, 2, … hops, on test clouds.

A network whose receptive field is a ball of radius :math:`R_t` cannot use what lies beyond it; the
truncated linear theory at its reach is the linear part of what it could use::

    python -m gdl.baselines.velocity_reach results/galaxy_velocity_scaling/sweep/2 --train-size 200
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["hop_reach", "main", "truncation_curve"]

#: Default truncation radii, in units of the clouds' mean spacing (``None``: the whole box).
DEFAULT_RADII = (None, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0)


def _datamodule(job: Path, train_size: int | None):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf, open_dict

    path = Path(job) / ".hydra" / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} not found (expected a job directory of a galaxy sweep)")
    cfg = OmegaConf.load(path)
    if OmegaConf.select(cfg, "data._target_") != "gdl.data.datamodules.GalaxyDataModule":
        raise ValueError(f"{job}: not a galaxy job (data is {OmegaConf.select(cfg, 'data._target_')!r})")
    if train_size is not None:
        with open_dict(cfg):
            cfg.data.train_size = int(train_size)
    dm = instantiate(cfg.data, _convert_="all")
    if "velocity" not in [t.name for t in dm.targets]:
        raise ValueError(f"{job}: the job does not predict velocity (targets {[t.name for t in dm.targets]})")
    return dm


def truncation_curve(
    train: Sequence[tuple[np.ndarray, float, np.ndarray]],
    test: Sequence[tuple[np.ndarray, float, np.ndarray]],
    grid: int,
    radii: Sequence[float | None],
) -> list[dict[str, Any]]:
    """``[{truncation, smoothing, beta, r2}]`` per radius (Mpc/h, ``None``: the whole box): linear
    theory fitted on ``train`` ``(pos, box, velocity)`` triples, pooled R² on ``test``."""
    from .regression import r2_score
    from .velocity import LinearTheoryVelocity

    truth = np.concatenate([v for _, _, v in test])
    rows = []
    for r in radii:
        model = LinearTheoryVelocity(grid=grid, truncation=r).fit((p, v, b) for p, b, v in train)
        pred = np.concatenate([model.predict(p, b) for p, b, _ in test])
        rows.append({"truncation": r, "smoothing": model.smoothing_, "beta": model.beta_,
                     "r2": float(r2_score(truth, pred, pooled=True))})
    return rows


def hop_reach(clouds: Sequence[Any], graph: Any, hops: int = 4) -> list[dict[str, float]]:
    """Per number of hops ``1..hops``: the median number of points a point hears from and the
    median, 90th percentile and largest minimum-image distance to them, over ``clouds`` (PyG
    ``Data`` with ``pos`` and ``box``), through ``graph`` (the job's graph transform; messages
    flow from ``edge_index[0]`` to ``edge_index[1]``). Dense ``[N, N]`` per cloud: meant for
    clouds of up to a few thousand points."""
    import torch

    per_hop: list[dict[str, list]] = [{"count": [], "dist": []} for _ in range(hops)]
    for data in clouds:
        data = graph(data.clone())
        n = data.pos.shape[0]
        box = data.box.reshape(-1)[:3].double()
        src, dst = data.edge_index
        adj = torch.zeros(n, n, dtype=torch.float64)
        adj[dst, src] = 1.0  # row i: the points i hears from
        adj += torch.eye(n, dtype=torch.float64)
        pos = data.pos.double()
        diff = pos[:, None, :] - pos[None, :, :]
        diff -= box * torch.round(diff / box)
        dist = diff.norm(dim=-1)
        heard = adj > 0
        for h in range(hops):
            if h:
                heard = (heard.double() @ adj) > 0
            per_hop[h]["count"].append(heard.sum(1).double())
            per_hop[h]["dist"].append(dist[heard & ~torch.eye(n, dtype=torch.bool)])
    out = []
    for h, d in enumerate(per_hop, start=1):
        dist = torch.cat(d["dist"])
        out.append({"hops": h, "points_median": float(torch.cat(d["count"]).median()),
                    "distance_median": float(dist.median()), "distance_p90": float(dist.quantile(0.9)),
                    "distance_max": float(dist.max())})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m gdl.baselines.velocity_reach",
        description="Linear-theory velocity R^2 against the truncation radius, and the graph's reach "
        "per hop, on the clouds of one galaxy velocity job.",
    )
    p.add_argument("job", type=Path, help="a job directory of a galaxy velocity sweep (.hydra/config.yaml)")
    p.add_argument("--train-size", type=int, default=None, help="training clouds (default: the job's)")
    p.add_argument("--radii", type=str, default=None,
                   help="comma-separated truncation radii in mean spacings, 'inf' for the whole box "
                   "(default: inf,6,4,3,2,1.5,1)")
    p.add_argument("--hops", type=int, default=4, help="hops of the reach table (default 4)")
    p.add_argument("--reach-clouds", type=int, default=5, help="test clouds for the reach table (default 5)")
    args = p.parse_args(argv)
    try:
        radii = DEFAULT_RADII if args.radii is None else tuple(
            None if s.strip() in ("inf", "none") else float(s) for s in args.radii.split(",")
        )
        if any(r is not None and not r > 0 for r in radii) or args.hops < 1 or args.reach_clouds < 1:
            raise ValueError("radii must be > 0 (or inf), --hops and --reach-clouds >= 1")
        dm = _datamodule(args.job, args.train_size)
    except (FileNotFoundError, ValueError) as e:
        print(f"gdl.baselines.velocity_reach: {e}", file=sys.stderr)
        return 2
    splits = dm.build_splits()
    box = float(splits["test"][0].box.reshape(-1)[0])
    spacing = box / float(splits["test"][0].pos.shape[0]) ** (1 / 3)

    from .ablation import _clouds

    train, test = ([(p, b, y["velocity"]) for p, b, y in _clouds(splits[k])] for k in ("train", "test"))
    print(f"{len(train)} training and {len(test)} test clouds, box {box:g} Mpc/h, "
          f"mean spacing {spacing:.4g} Mpc/h")
    print("truncation (spacings) | truncation (Mpc/h) | smoothing R (Mpc/h) | test R2")
    for row, r in zip(truncation_curve(train, test, dm.config.grid, [None if r is None else r * spacing
                                                                    for r in radii]), radii):
        t = "inf" if r is None else f"{r:g}"
        tm = "inf" if row["truncation"] is None else f"{row['truncation']:.1f}"
        print(f"{t} | {tm} | {row['smoothing']:.1f} | {row['r2']:.3f}")
    print(f"reach of {dm.graph!r} on {min(args.reach_clouds, len(splits['test']))} test clouds:")
    print("hops | points heard (median) | distance median | p90 | max (Mpc/h)")
    for row in hop_reach(list(splits["test"])[: args.reach_clouds], dm.graph, args.hops):
        print(f"{row['hops']} | {row['points_median']:.0f} | {row['distance_median']:.1f} | "
              f"{row['distance_p90']:.1f} | {row['distance_max']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
