"""Markdown tables of a benchmark record (the format of benchmarks/README.md)."""

from __future__ import annotations

import math
from typing import Any

from .record import _MIB, _div, _gemm_rate, _ok, cpu_s, format_ratio, median_s, peak_bytes, throughput

__all__ = ["markdown"]


def _f(x: float, fmt: str = ".3g") -> str:
    return "–" if x != x else format(x, fmt)


def _status(result: dict[str, Any]) -> str:
    if _ok(result):
        return "ok"
    return f"{result.get('status')}: {result.get('error', '')}".replace("|", "/")[:120]


def _pair_row(row: dict[str, Any]) -> list[str]:
    r = row["result"]
    models = r.get("models", []) if _ok(r) else []
    if len(models) != 2:
        return [row["ratio"], row["label"], "–", "–", "–", "–", "–", "–", _status(r)]
    fb = [median_s({"status": "ok", **m}, "fwd_bwd_s") for m in models]
    fw = [median_s({"status": "ok", **m}, "s", "forward") for m in models]
    return [
        row["ratio"],
        row["label"],
        " / ".join(f"{m['parameters']:,}" for m in models),
        str(len(models[0]["steps"])),
        " / ".join(_f(1e3 * t) for t in fb),
        _f(_div(fb[1], fb[0])),
        " / ".join(_f(1e3 * t) for t in fw),
        _f(_div(fw[1], fw[0])),
        _status(r),
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(record: dict[str, Any]) -> str:
    """The tables of a record (the format of benchmarks/README.md)."""
    m = record["machine"]
    out = [
        f"Machine: {record['date']} · {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB"
        + (f", {m['gpu']}" if m.get("gpu") else "")
        + f" · torch {m['torch']} ({m['threads']} threads) · device {m['device']} · load average "
        + " ".join(f"{x:.1f}" for x in m["load_average"])
        + f" · commit {m['commit']}",
        "",
    ]
    if record.get("qm9"):
        out += [
            "QM9 workload: training steps (forward, backward, Adam); batches of molecules with full graphs.",
            "",
        ]
        out += _table(
            [
                "row",
                "model",
                "parameters",
                "molecules / batch",
                "steps",
                "median step (s)",
                "molecules / s",
                "peak memory (MiB)",
                "status",
            ],
            [
                [
                    r["id"],
                    r["label"],
                    _params(r["result"]),
                    str(r["workload"]["batch_size"]),
                    str(len(r["result"].get("steps", []))),
                    _f(median_s(r["result"])),
                    _f(throughput(r["result"])),
                    _f(peak_bytes(r["result"]) / _MIB, ".0f"),
                    _status(r["result"]),
                ]
                for r in record["qm9"]
            ],
        )
        out.append("")
    if record.get("pairs"):
        out += [
            "Pairs: the same QM9 batches (radius-5 Å graphs), gdl and the other model interleaved step by "
            "step in one process; ratio = other's median time / gdl's.",
            "",
        ]
        out += _table(
            [
                "ratio",
                "pair",
                "parameters (gdl / other)",
                "steps",
                "fwd+bwd (ms, gdl / other)",
                "ratio fwd+bwd",
                "forward (ms, gdl / other)",
                "ratio forward",
                "status",
            ],
            [_pair_row(r) for r in record["pairs"]],
        )
        out.append("")
    if record.get("scaling"):
        out += ["Scaling: one training step on a galaxy cloud with a periodic k-nearest-neighbour graph.", ""]
        out += _table(
            [
                "model",
                "configuration",
                "points",
                "edges",
                "steps",
                "median step (s)",
                "ns / edge",
                "CPU ns / edge",
                "peak memory (MiB)",
                "bytes / edge",
                "status",
            ],
            [_scaling_row(r) for r in record["scaling"]],
        )
        out.append("")
    if record.get("compile"):
        out += [
            "torch.compile vs eager: training steps on the first QM9 batch, interleaved (grad. rel. "
            "diff.: max over parameters of max |g_compiled - g_eager| / max |g_eager|, initial weights).",
            "",
        ]
        out += _table(
            [
                "model",
                "backend",
                "eager step (ms)",
                "compiled step (ms)",
                "speedup",
                "speedup (CPU time)",
                "first compiled step (s)",
                "grad. rel. diff.",
                "status",
            ],
            [
                [
                    r["model"],
                    r["result"].get("backend", "–"),
                    _f(1e3 * median_s(r["result"], steps="eager")),
                    _f(1e3 * median_s(r["result"], steps="compiled")),
                    _f(_div(median_s(r["result"], steps="eager"), median_s(r["result"], steps="compiled"))),
                    _f(_div(cpu_s(r["result"], steps="eager"), cpu_s(r["result"], steps="compiled"))),
                    _f(r["result"].get("first_compiled_step_s", math.nan), ".1f"),
                    _f(r["result"].get("grad_rel_diff", math.nan), ".1e"),
                    _status(r["result"]),
                ]
                for r in record["compile"]
            ],
        )
        out.append("")
    if record.get("flops"):
        out += _flops_table(record["flops"]) + [""]
    if record.get("ratios"):
        out += _table(
            ["ratio", "value", "note"],
            [
                [k, format_ratio(v["value"], v["bound"]), v["note"].replace("|", "/")[:120]]
                for k, v in record["ratios"].items()
            ],
        )
    return "\n".join(out)


def _params(result: dict[str, Any]) -> str:
    return f"{result['parameters']:,}" if "parameters" in result else "–"


def _scaling_row(r: dict[str, Any]) -> list[str]:
    res, t = r["result"], median_s(r["result"])
    edges = res.get("edges_per_input", math.nan)
    return [
        r["model"],
        r["config"],
        f"{r['num_points']:,}",
        _f(edges, ",.0f"),
        str(len(res.get("steps", []))),
        _f(t),
        _f(_div(1e9 * t, edges), ".0f"),
        _f(_div(1e9 * cpu_s(res), edges), ".0f"),
        _f(peak_bytes(res) / _MIB, ".0f"),
        _f(_div(peak_bytes(res), edges), ".0f"),
        _status(res),
    ]


def _flops_table(section: dict[str, Any]) -> list[str]:
    gemm = section.get("gemm")
    gemm_rate = _gemm_rate(gemm)
    rows = []
    if gemm:
        rows.append(
            [
                f"GEMM {gemm.get('n', '?')}³ float32",
                _f(gemm.get("flops", math.nan) / 1e9),
                _f(1e3 * median_s(gemm)),
                _f(gemm_rate / 1e9),
                "1",
                _status(gemm),
            ]
        )
    for row in section.get("models", []):
        r = row["result"]
        rate = _div(r.get("flops", math.nan), median_s(r))
        rows.append(
            [
                row["model"],
                _f(r.get("flops", math.nan) / 1e9),
                _f(1e3 * median_s(r)),
                _f(rate / 1e9),
                _f(_div(rate, gemm_rate)),
                _status(r),
            ]
        )
    head = [
        "FLOPs (FlopCounterMode: matrix products and convolutions only) of one forward+backward "
        "on the first QM9 batch, divided by its median time.",
        "",
    ]
    return head + _table(["model", "GFLOP", "fwd+bwd (ms)", "GFLOP/s", "fraction of GEMM", "status"], rows)
