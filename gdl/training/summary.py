"""The end-of-run summary: a flat ``metrics.json`` record and the table ``gdl-train`` prints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["format_summary"]


def _num(v: Any, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        text = f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    else:
        text = f"{v:,}" if isinstance(v, int) else str(v)
    return f"{text} {unit}".rstrip()


def format_summary(m: Mapping[str, Any]) -> str:
    """A plain-text table of the record written to ``metrics.json`` (see :func:`gdl.training.train`)."""
    targets = [t for t in str(m.get("targets", "")).split(",") if t]
    metrics = [x for x in str(m.get("metrics", "")).split(",") if x]
    title = (
        f"gdl-train summary: {m.get('dataset')} / {m.get('model')} / symmetry {m.get('strategy')} — "
        f"targets {', '.join(targets)} — train_size {m.get('num_train')} — seed {m.get('seed')}"
    )
    rows = [("target", "metric", "test", "mean predictor", "unit", "test / mean")]
    for t in targets:
        unit = str(m.get(f"unit/{t}", ""))
        for x in metrics:
            test, base = m.get(f"test/{t}/{x}"), m.get(f"baseline/{t}/{x}")
            ratio = test / base if isinstance(test, float) and isinstance(base, float) and base else None
            rows.append(
                (
                    t,
                    x,
                    _num(test),
                    _num(base),
                    unit if x in ("mae", "rmse") else ("" if x == "r2" else f"({unit})^2"),
                    _num(ratio),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title, "-" * len(title)]
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    info = [
        ("parameters", _num(m.get("num_params"))),
        (
            "epochs",
            f"{_num(m.get('epochs'))} ({_num(m.get('optimizer_steps'))} optimizer steps, "
            f"{_num(m.get('steps_per_epoch'))} per epoch, world size {m.get('world_size')})",
        ),
        (
            "time per epoch",
            f"{_num(m.get('time_per_epoch_s'), 's')} (training only; "
            f"{_num(m.get('throughput_graphs_per_s'))} graphs/s)",
        ),
        ("total time", _num(m.get("total_time_s"), "s")),
    ]
    dt = m.get("train_dtype", "")
    for t in targets:
        info.append(
            (
                f"equivariance {t}",
                f"{_num(m.get(f'equivariance/float64/{t}'))} (float64), "
                f"{_num(m.get(f'equivariance/train_dtype/{t}'))} ({dt}); max relative error",
            )
        )
    report = {k.removeprefix("symmetry/"): v for k, v in m.items() if k.startswith("symmetry/")}
    info.append(("symmetry report", ", ".join(f"{k}={_num(v)}" for k, v in report.items()) or "n/a"))
    info.append(("run directory", str(m.get("run_dir"))))
    w = max(len(k) for k, _ in info)
    lines += [f"{k.ljust(w)}  {v}" for k, v in info]
    return "\n".join(lines)
