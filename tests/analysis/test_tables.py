from __future__ import annotations

import pandas as pd

from gdl.analysis.aggregate import aggregate
from gdl.analysis.frame import runs_frame
from gdl.analysis.runs import load_runs
from gdl.analysis.tables import display_table, format_number, to_latex, to_markdown

from ._runs import metrics, write_run


def test_format_number():
    assert format_number(None) == "–" and format_number(float("nan")) == "–"
    assert format_number(0.0) == "0" and format_number(2.0 / 3.0) == "0.6667"
    assert format_number(1.2e-15) == "1.20e-15" and format_number(123456.0) == "1.235e+05"


def test_display_table(tmp_path):
    for seed, mae in ((0, 1.0), (1, 3.0)):
        write_run(tmp_path, seed, metrics(seed=seed, mae=mae, **{"symmetry/prior_ratio": 1000.0,
                                                                   "symmetry/group": "O3"}))
    shown = display_table(aggregate(runs_frame(load_runs([tmp_path]).runs)))
    r = shown.iloc[0]
    assert r["model"] == "egnn" and r["strategy"] == "exact" and r["seeds"] == "2"
    assert r["test mae"] == "2 ± 1.4" and r["median mae"] == "2" and r["unit"] == "meV"
    assert r["mean predictor mae"] == "400" and r["params"] == "1,000" and r["equiv. error"] == "1.0e-15"
    assert r["symmetry report"] == "group=O3, prior_ratio=1e+03"
    assert "variant" not in shown.columns and "sweep" not in shown.columns


def test_markdown_and_latex_escape():
    df = pd.DataFrame({"a_b": ["1 ± 2", "x|y"], "c": ["50%", "(m)²"]})
    md = to_markdown(df)
    assert md.splitlines() == ["| a_b | c |", "|---|---|", "| 1 ± 2 | 50% |", "| x\\|y | (m)² |"]
    tex = to_latex(df, caption="t")
    assert r"a\_b & c \\" in tex and r"1 $\pm$ 2 & 50\% \\" in tex and r"(m)$^2$" in tex
    assert tex.startswith(r"\begin{table}") and r"\caption{t}" in tex
