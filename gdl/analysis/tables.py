"""The ablation table for people: aggregated numbers → strings (``mean ± std``), and writers for
Markdown, LaTeX and CSV (Markdown and LaTeX are written here, without ``tabulate`` or ``jinja2``).

:func:`display_table` turns :func:`gdl.analysis.aggregate.aggregate`'s table (optionally joined
with the learning-curve fits) into the columns of the summary: dataset, target, model, strategy,
(variant, sweep when they vary), training size, seeds, the test metric in native units (mean ± std
and median), the mean predictor, parameters, time per epoch, throughput, the measured equivariance
error, the learning-curve slope and the strategy's symmetry report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["display_table", "format_number", "to_latex", "to_markdown"]


def format_number(value: Any, digits: int = 4) -> str:
    """``digits`` significant digits; scientific below 1e-3 or from 1e6; ``–`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) < 1e-3 or abs(v) >= 1e6:
        return f"{v:.{max(digits - 2, 1)}e}"
    return f"{v:.{digits}g}"


def _mean_std(row: pd.Series, column: str) -> str:
    mean, std = row.get(f"{column}:mean"), row.get(f"{column}:std")
    text = format_number(mean)
    if text != "–" and std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {format_number(std, 2)}"
    return text


def _symmetry(row: pd.Series) -> str:
    parts = [str(row["symmetry"])] if isinstance(row.get("symmetry"), str) and row["symmetry"] else []
    for key in row.index:
        if key.startswith("symmetry/") and key.endswith(":mean") and not pd.isna(row[key]):
            name = key.removeprefix("symmetry/").removesuffix(":mean")
            parts.append(f"{name}={format_number(row[key], 3)}")
    return ", ".join(parts) or "–"


def _slope(row: pd.Series) -> str:
    slope = row.get("slope")
    if slope is None or pd.isna(slope):
        return "–"
    if pd.isna(row.get("ci_low")):
        return f"{slope:.2f}"
    return f"{slope:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Strings for the summary (module docstring), one row per row of ``table``; ``variant`` and
    ``sweep`` columns only when they are not all equal, the slope only when ``table`` has one."""
    metrics = [c.removeprefix("test/").removesuffix(":mean") for c in table.columns
               if c.startswith("test/") and c.endswith(":mean") and c != "test/loss:mean"]
    rows = []
    for _, row in table.iterrows():
        unit = row.get("unit") or ""
        out: dict[str, str] = {}
        if table["sweep"].nunique() > 1:
            out["sweep"] = str(row["sweep"])
        out.update(dataset=str(row["dataset"]), target=str(row["target"]), model=str(row["model"]),
                   strategy=str(row["strategy"]))
        if (table["variant"] != "").any():
            out["variant"] = str(row["variant"]) or "–"
        out["train size"] = f"{int(row['train_size']):,}"
        out["seeds"] = str(int(row["num_seeds"]))
        out["unit"] = _metric_unit(str(row.get("metric") or ""), unit)
        for m in metrics:
            out[f"test {m}"] = _mean_std(row, f"test/{m}")
            out[f"median {m}"] = format_number(row.get(f"test/{m}:median"))
            out[f"mean predictor {m}"] = format_number(row.get(f"baseline/{m}:mean"))
        out["params"] = f"{int(row['num_params:mean']):,}" if not pd.isna(row.get("num_params:mean")) else "–"
        out["s/epoch"] = _mean_std(row, "time_per_epoch_s")
        out["graphs/s"] = format_number(row.get("throughput_graphs_per_s:mean"), 3)
        out["equiv. error"] = format_number(row.get("equivariance:mean"), 2)
        if "slope" in table.columns:
            out["slope [95% CI]"] = _slope(row)
        out["symmetry report"] = _symmetry(row)
        rows.append(out)
    return pd.DataFrame(rows)


def _metric_unit(metric: str, unit: str) -> str:
    """The unit of the summary's metric: ``unit`` for mae/rmse, its square for mse, none for r2."""
    if not unit or metric == "r2":
        return "–"
    return f"({unit})²" if metric == "mse" else unit


def _cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = [str(c) for c in df.columns]
    body = [["" if pd.isna(v) else str(v) for v in row] for row in df.itertuples(index=False)]
    return header, body


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of the strings in ``df`` (``|`` escaped)."""
    header, body = _cells(df)

    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join("---" for _ in header) + "|", *(line(r) for r in body)])


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    out = "".join(_LATEX.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace("²", r"$^2$").replace("–", "--")


def to_latex(df: pd.DataFrame, caption: str | None = None) -> str:
    """A ``tabular`` (booktabs rules) of the strings in ``df``, special characters escaped."""
    header, body = _cells(df)
    lines = [r"\begin{table}", r"\centering", r"\begin{tabular}{" + "l" * len(header) + "}", r"\toprule",
             " & ".join(_latex_escape(c) for c in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + _latex_escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
