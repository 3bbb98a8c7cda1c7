"""Speed and memory of the irreps route: ``python -m benchmarks.irreps_route [cloud|peer|all] --out f.json``.

* ``cloud``: ``TFN`` (32 channels, 3 layers) and ``SE3Transformer`` (16 channels, 4 heads, 4 layers),
  ``l_max = 2`` with parity, on a 1,000-point cloud (uniform in a 10^3 box) with a 16-nearest-neighbour
  graph: one training step (forward, backward, Adam) and one inference pass;
* ``peer``: ``SE3Transformer`` against lucidrains' ``se3-transformer-pytorch`` at matched settings
  (degrees 0..2, 16 channels per degree, 4 heads of 4 channels, 4 layers, SO(3)) on a synthetic
  QM9-sized batch: 32 molecules of 10 to 26 atoms (mean about 18), full graphs, a graph-level scalar.
  The peer is optional (``pip install se3-transformer-pytorch``, or ``--peer-path DIR``); it needs
  about 20 GB of memory for this batch, so it runs only when asked (``peer`` or ``all``).

Each configuration runs in a fresh subprocess with one torch thread. Peak memory is the growth of
the process' peak resident set size (``VmHWM``, Linux, reset through ``/proc/self/clear_refs``)
above its resident size once the model and data are built: first over the inference passes, then
over inference and training together (training needs more). Times are medians after a warm-up
(wall and CPU). The JSON output records the machine, load average, commit and configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any


def _peak_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _cloud_batch(num_points: int = 1000, k: int = 16):
    import torch
    import torch_cluster
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(0)
    pos = torch.rand(num_points, 3, generator=g) * 10.0
    edge_index = torch_cluster.knn_graph(pos, k=k)
    z = torch.randint(0, 5, (num_points,), generator=g)
    return Batch.from_data_list([Data(pos=pos, z=z, edge_index=edge_index)])


def _molecule_batch(num_graphs: int = 32):
    import torch

    g = torch.Generator().manual_seed(0)
    sizes = torch.randint(10, 27, (num_graphs,), generator=g).tolist()
    pos = [torch.randn(n, 3, generator=g) * 1.5 for n in sizes]
    z = [torch.randint(0, 5, (n,), generator=g) for n in sizes]
    return sizes, pos, z


def _measure(step, repeat: int, base_kib: int) -> dict[str, float]:
    """Median times of ``step`` after one warm-up, and the process' peak RSS above ``base_kib``."""
    step()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "wall_s": statistics.median(wall),
        "cpu_s": statistics.median(cpu),
        "peak_growth_mib": (_peak_kib() - base_kib) / 1024,
    }


def run_one(name: str, repeat: int) -> dict[str, Any]:
    """One configuration, in this process (called in a subprocess by :func:`main`)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if name in ("tfn", "se3", "ours"):
        from torch_geometric.data import Batch, Data

        from gdl.models import TFN, SE3Transformer
        from gdl.testing.data import fully_connected_edge_index

        if name == "tfn":
            data = _cloud_batch()
            model = TFN(["U0", "velocity"], hidden_channels=32, num_layers=3, l_max=2)
        elif name == "se3":
            data = _cloud_batch()
            model = SE3Transformer(["U0", "velocity"], hidden_channels=16, num_layers=4, l_max=2, num_heads=4)
        else:
            sizes, pos, z = _molecule_batch()
            data = Batch.from_data_list(
                [Data(pos=p, z=t, edge_index=fully_connected_edge_index(n)) for n, p, t in zip(sizes, pos, z)]
            )
            model = SE3Transformer(
                ["U0"], hidden_channels=16, num_layers=4, l_max=2, parity=False, num_heads=4
            )

        def loss():
            return sum(v.pow(2).mean() for v in model(data).values())

        graph = {"nodes": int(data.num_nodes), "edges": int(data.edge_index.shape[1])}
    else:  # lucidrains' se3-transformer-pytorch at the settings of "ours"
        from se3_transformer_pytorch import SE3Transformer as Peer

        sizes, pos, z = _molecule_batch()
        n_max = max(sizes)
        coors = torch.zeros(len(sizes), n_max, 3)
        feats = torch.zeros(len(sizes), n_max, dtype=torch.long)
        mask = torch.zeros(len(sizes), n_max, dtype=torch.bool)
        for b, (n, p, t) in enumerate(zip(sizes, pos, z)):
            coors[b, :n], feats[b, :n], mask[b, :n] = p, t, True
        model = Peer(
            num_tokens=10,
            dim=16,
            heads=4,
            dim_head=4,
            depth=4,
            num_degrees=3,
            output_degrees=1,
            reduce_dim_out=True,
        )

        def loss():
            return (model(feats, coors, mask=mask) * mask).sum(-1).pow(2).mean()

        graph = {"nodes": sum(sizes), "edges": sum(n * (n - 1) for n in sizes)}
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step():
        opt.zero_grad()
        loss().backward()
        opt.step()

    def inference():
        with torch.no_grad():
            loss()

    out: dict[str, Any] = {"model": name, **graph, "parameters": sum(p.numel() for p in model.parameters())}
    # peaks above the state after construction; inference first, since training needs more
    _reset_peak()
    base = _rss_kib()
    if name != "peer":
        out["inference"] = _measure(inference, repeat, base)
    out["train_step"] = _measure(train_step, repeat, base)
    return out


def _subprocess(name: str, repeat: int, peer_path: str | None) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if peer_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), peer_path) if p)
    code = f"import json, benchmarks.irreps_route as b; print(json.dumps(b.run_one({name!r}, {repeat})))"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        return {"model": name, "error": res.stderr.strip().splitlines()[-1] if res.stderr else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def _context() -> dict[str, Any]:
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": commit,
        "threads": 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=["cloud", "peer", "all"], nargs="?", default="cloud")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-repeat", type=int, default=1)
    parser.add_argument("--peer-path", default=None, help="directory holding se3_transformer_pytorch")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results = []
    if args.section in ("cloud", "all"):
        results += [_subprocess(n, args.repeat, None) for n in ("tfn", "se3")]
    if args.section in ("peer", "all"):
        results += [
            _subprocess("ours", args.repeat, None),
            _subprocess("peer", args.peer_repeat, args.peer_path),
        ]
    report = {"context": _context(), "results": results}
    for r in results:
        if "error" in r:
            print(f"{r['model']:>5}: {r['error']}")
            continue
        line = f"{r['model']:>5}: {r['nodes']} nodes, {r['edges']} edges, {r['parameters']} parameters;"
        line += " train step"
        t = r["train_step"]
        line += f" {t['wall_s']:.2f} s wall / {t['cpu_s']:.2f} s CPU, peak +{t['peak_growth_mib']:.0f} MiB"
        if "inference" in r:
            i = r["inference"]
            line += f"; inference {i['wall_s']:.2f} s, peak +{i['peak_growth_mib']:.0f} MiB"
        print(line)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
