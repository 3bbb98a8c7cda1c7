"""The operations of an EGNN training step on their own (issue 16): matrix-product rates of the
per-edge shapes against a large GEMM, and alternatives to a few of the step's operations.

    python -m benchmarks.egnn_ops                  # E = 10,020 edges, F = 128 (the QM9 batches)
    python -m benchmarks.egnn_ops --edges 2000 --repeats 5

Every figure is the median thread CPU time (``time.thread_time``) of ``--repeats`` calls after
three warm-up calls; the variants of one group alternate call by call, so that a change of the
machine's load falls on all of them alike. Run it with one thread (``--threads``, default 1).
The alternatives compute the same values; the script prints their largest difference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

__all__ = ["main", "time_group"]


def time_group(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median thread CPU seconds of each function, the functions alternating call by call."""
    for f in fns.values():
        for _ in range(3):
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    items = list(fns.items())
    for r in range(repeats):
        for name, f in items if r % 2 == 0 else items[::-1]:
            t0 = time.thread_time()
            f()
            times[name].append(time.thread_time() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


class _SiluSavedSigmoid(torch.autograd.Function):
    """SiLU whose backward reads the saved sigmoid ``s`` and output ``y`` (no exp):
    ``silu'(z) = s + y (1 - s) = y + s (1 - y)``."""

    @staticmethod
    def forward(ctx, z):
        s = torch.sigmoid(z)
        y = z * s
        ctx.save_for_backward(s, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        s, y = ctx.saved_tensors
        return grad * torch.addcmul(y, s, 1 - y)


def _products(e: int, f: int, repeats: int) -> list[str]:
    g = torch.Generator().manual_seed(0)
    x, gy = torch.randn(e, f, generator=g), torch.randn(e, f, generator=g)
    w, b = torch.randn(f, f, generator=g) / f**0.5, torch.randn(f, generator=g)
    n = 1024 if e >= 1024 else 256
    big = torch.randn(n, n, generator=g)
    out, big_out = torch.empty(e, f), torch.empty(n, n)
    fns: dict[str, Callable[[], object]] = {
        f"GEMM {n}^3 (reference)": lambda: torch.mm(big, big, out=big_out),
        "x W^T + b (addmm, F.linear's layout)": lambda: torch.addmm(b, x, w.t(), out=out),
        "x W (contiguous weight)": lambda: torch.mm(x, w, out=out),
        "g W (input gradient)": lambda: torch.mm(gy, w, out=out),
        "g^T x (weight gradient)": lambda: torch.mm(gy.t(), x),
        "g^T x, g^T made contiguous first": lambda: torch.mm(gy.t().contiguous(), x),
    }
    try:  # oneDNN on dense tensors (what inductor's CPU freezing path calls), no autograd
        lp = torch.ops.mkldnn._linear_pointwise
        lp(x[:2], w, b, "none", [], "")
        fns["x W^T + b (oneDNN linear)"] = lambda: lp(x, w, b, "none", [], "")
        fns["silu(x W^T + b) (oneDNN, fused)"] = lambda: lp(x, w, b, "swish", [], "")
        fns["silu(x W^T + b) (addmm, silu)"] = lambda: F.silu(torch.addmm(b, x, w.t()))
    except (RuntimeError, AttributeError):
        pass
    times = time_group(fns, repeats)
    lines = [f"matrix products, [{e}, {f}] x [{f}, {f}] (thread CPU time, GFLOP/s):"]
    for name, t in times.items():
        flops = 2 * n**3 if name.startswith("GEMM") else 2 * e * f * f
        lines.append(f"  {name:42s} {1e3 * t:8.3f} ms  {flops / t / 1e9:7.1f} GFLOP/s")
    return lines


def _alternatives(e: int, f: int, repeats: int) -> list[str]:
    g = torch.Generator().manual_seed(1)
    u0, z0 = torch.randn(e, f, generator=g), torch.randn(e, f, generator=g)
    w0, g1 = torch.randn(1, f, generator=g) * 0.01, torch.randn(e, 1, generator=g)

    def projection(kind: str):
        u, w = u0.clone().requires_grad_(), w0.clone().requires_grad_()
        out = F.linear(u, w) if kind == "linear" else torch.mv(u, w[0]).unsqueeze(1)
        out.backward(g1)
        return out, u.grad, w.grad

    def silu(kind: str):
        z = z0.clone().requires_grad_()
        out = F.silu(z) if kind == "F.silu" else _SiluSavedSigmoid.apply(z)
        out.backward(u0)
        return out, z.grad

    lines = []
    for title, fn, kinds in (
        ("phi_x's last layer [E, F] -> [E, 1], forward + backward", projection, ("linear", "mv")),
        ("SiLU on [E, F], forward + backward", silu, ("F.silu", "saved sigmoid")),
    ):
        times = time_group({k: (lambda k=k, fn=fn: fn(k)) for k in kinds}, repeats)
        ref, alt = fn(kinds[0]), fn(kinds[1])
        diff = max(float((a - r).detach().abs().max()) for a, r in zip(alt, ref, strict=True))
        lines.append(f"{title} (thread CPU time; max |difference| {diff:.1e}):")
        lines += [f"  {k:42s} {1e3 * t:8.3f} ms" for k, t in times.items()]
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.egnn_ops", description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=int, default=10_020, help="rows of the per-edge tensors. Default 10020")
    p.add_argument("--channels", type=int, default=128, help="EGNN's width. Default 128")
    p.add_argument("--repeats", type=int, default=30, help="timed calls per variant. Default 30")
    p.add_argument("--threads", type=int, default=1, help="torch threads. Default 1")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = _products(args.edges, args.channels, args.repeats)
    lines += _alternatives(args.edges, args.channels, args.repeats)
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
