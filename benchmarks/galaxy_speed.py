"""Galaxy generator and baseline speed: ``python -m benchmarks.galaxy_speed [fft|generate|tpcf|all]``.

* ``fft``: one forward + one inverse real 3D FFT of a 64³ float64 grid with ``numpy.fft``,
  ``scipy.fft`` (1 worker) and ``torch.fft`` (1 thread), and the batched inverse of the 8 derived
  fields the generator transforms per cloud — the choice recorded in ``gdl.data.sim.grid``;
* ``generate``: ``GalaxyClouds(1000)`` of 5000 points on a 64³ grid (``--mode``, default
  lognormal with its default halo bias), cached into a temporary
  directory with ``--workers`` processes (target: <= 3 minutes on 2 cores), plus the
  single-process time per cloud;
* ``tpcf``: the periodic two-point function (24 bins, 0.5–150 Mpc/h) of 5000-point clouds
  (target: <= 0.2 s per cloud).

Every measurement is given as wall time and as CPU time (of this process and its children): on
a shared machine the wall time depends on the load, the CPU time much less. Every run prints a
table and writes ``--out`` (JSON) with the machine, load average, commit and configuration, so
the numbers in benchmarks/README.md can be reproduced and compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its reaped children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _median_ms(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median wall and CPU milliseconds of ``fn``."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall_ms": 1e3 * statistics.median(wall), "cpu_ms": 1e3 * statistics.median(cpu)}


def bench_fft(repeat: int = 30, n: int = 64) -> dict[str, dict[str, float]]:
    import scipy.fft as sfft
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n, n))
    x8 = rng.standard_normal((n, n, n // 2 + 1, 8)) + 1j * rng.standard_normal((n, n, n // 2 + 1, 8))
    xt, x8t = torch.from_numpy(x), torch.from_numpy(x8)
    s = (n, n, n)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {
            "numpy.fft": _median_ms(lambda: np.fft.irfftn(np.fft.rfftn(x), s=s, axes=(0, 1, 2)), repeat),
            "scipy.fft (1 worker)": _median_ms(
                lambda: sfft.irfftn(sfft.rfftn(x, workers=1), s=s, workers=1), repeat
            ),
            "torch.fft (1 thread)": _median_ms(lambda: torch.fft.irfftn(torch.fft.rfftn(xt), s=s), repeat),
            "numpy.fft, 8-field inverse": _median_ms(
                lambda: np.fft.irfftn(x8, s=s, axes=(0, 1, 2)), repeat // 3
            ),
            "scipy.fft, 8-field inverse": _median_ms(
                lambda: sfft.irfftn(x8, s=s, axes=(0, 1, 2), workers=1), repeat // 3
            ),
            "torch.fft, 8-field inverse": _median_ms(
                lambda: torch.fft.irfftn(x8t, s=s, dim=(0, 1, 2)), repeat // 3
            ),
        }
    finally:
        torch.set_num_threads(threads)


def bench_generate(
    num_clouds: int = 1000, workers: int = 2, sample: int = 20, mode: str = "lognormal"
) -> dict[str, float]:
    from gdl.data import GalaxyClouds, make_generator

    config = dict(num_points=5000, grid=64, mode=mode)
    gen = make_generator(config, seed=123)
    gen(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, sample + 1):
        gen(i)
    wall1, cpu1 = (time.perf_counter() - t0) / sample, (time.process_time() - c0) / sample
    with tempfile.TemporaryDirectory() as root:
        t0, c0 = time.perf_counter(), _cpu_seconds()
        ds = GalaxyClouds(num_clouds, config, root=root, num_workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        assert len(ds) == num_clouds
    return {
        "clouds": num_clouds,
        "mode": mode,
        "workers": workers,
        "total_wall_s": wall,
        "total_cpu_s": cpu,
        "single_process_wall_s_per_cloud": wall1,
        "single_process_cpu_s_per_cloud": cpu1,
    }


def bench_tpcf(num_clouds: int = 20) -> dict[str, float]:
    from gdl.baselines.two_point import default_tpcf_edges, tpcf
    from gdl.data import make_generator

    gen = make_generator(dict(num_points=5000, grid=64), seed=321)
    clouds = [gen(i).pos for i in range(num_clouds)]
    edges = default_tpcf_edges(1000.0)
    tpcf(clouds[0], 1000.0, edges)
    wall, cpu = [], []
    for pos in clouds:
        t0, c0 = time.perf_counter(), time.process_time()
        tpcf(pos, 1000.0, edges)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "clouds": num_clouds,
        "median_wall_s_per_cloud": statistics.median(wall),
        "max_wall_s_per_cloud": max(wall),
        "median_cpu_s_per_cloud": statistics.median(cpu),
    }


def provenance() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "load_average_before": os.getloadavg(),
        "commit": commit.stdout.strip(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.galaxy_speed", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("what", nargs="?", default="all", choices=["fft", "generate", "tpcf", "all"])
    p.add_argument("--clouds", type=int, default=1000, help="clouds generated by 'generate' (default 1000)")
    p.add_argument("--workers", type=int, default=2, help="processes used by 'generate' (default 2)")
    p.add_argument("--mode", default="lognormal", help="generator mode for 'generate' (default lognormal)")
    p.add_argument("--out", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    result: dict[str, Any] = {"provenance": provenance()}
    if args.what in ("fft", "all"):
        result["fft_64cubed"] = r = bench_fft()
        print("| FFT (64³, float64) | median wall ms | median CPU ms |\n|---|---|---|")
        for k, v in r.items():
            print(f"| {k} | {v['wall_ms']:.2f} | {v['cpu_ms']:.2f} |")
    if args.what in ("tpcf", "all"):
        result["tpcf"] = r = bench_tpcf()
        print(
            "\ntwo-point function, 5000 points, 24 bins: "
            f"median {r['median_wall_s_per_cloud']:.3f} s/cloud wall "
            f"(max {r['max_wall_s_per_cloud']:.3f} s), "
            f"{r['median_cpu_s_per_cloud']:.3f} s CPU (target <= 0.2 s)"
        )
    if args.what in ("generate", "all"):
        result["generate"] = r = bench_generate(args.clouds, args.workers, mode=args.mode)
        print(
            f"\ngenerate + cache {r['clouds']} {r['mode']} clouds (5000 points, 64³, default bias) with "
            f"{r['workers']} workers: "
            f"{r['total_wall_s']:.1f} s wall, {r['total_cpu_s']:.1f} CPU-s (target <= 180 s on 2 cores); "
            f"single process {r['single_process_wall_s_per_cloud']:.3f} s/cloud wall, "
            f"{r['single_process_cpu_s_per_cloud']:.3f} s CPU"
        )
    result["provenance"]["load_average_after"] = os.getloadavg()
    print(f"\n{result['provenance']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
