from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from gdl.analysis.aggregate import aggregate, largest_train_size
from gdl.analysis.frame import runs_frame
from gdl.analysis.learning_curve import learning_curves
from gdl.analysis.plots import (
    plot_accuracy_vs_equivariance,
    plot_accuracy_vs_parameters,
    plot_learning_curves,
)
from gdl.analysis.runs import load_runs

from ._runs import metrics, write_run


@pytest.fixture
def frame(tmp_path):
    job = 0
    for model, eq in (("egnn", 0.0), ("plain", 0.5)):
        for n in (100, 1000):
            for seed in (0, 1):
                write_run(tmp_path, job, metrics(model=model, seed=seed, n=n, mae=10 * n**-0.5 + seed,
                                                 **{"equivariance/float64/homo": eq}))
                job += 1
    return runs_frame(load_runs([tmp_path]).runs)


def test_learning_curves_figure(frame, tmp_path):
    table = aggregate(frame)
    fig = plot_learning_curves(table, learning_curves(frame))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "test mae [meV]" and ax.get_title() == "qm9 / homo"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("egnn / exact: slope ") and labels[1].startswith("plain / exact: slope ")
    fig.savefig(tmp_path / "lc.png")
    assert (tmp_path / "lc.png").stat().st_size > 1000


def test_scatter_figures(frame, tmp_path):
    top = largest_train_size(aggregate(frame))
    fig = plot_accuracy_vs_equivariance(top)
    ax = fig.axes[0]
    # exact equivariance (0) is drawn at the float64 floor on a log axis
    xs = sorted(float(line.get_xdata()[0]) for line in ax.get_lines() if len(line.get_xdata()))
    assert xs[0] == pytest.approx(1e-16) and xs[-1] == pytest.approx(0.5)
    fig2 = plot_accuracy_vs_parameters(top)
    assert fig2.axes[0].get_xlabel() == "parameters"
    for f, name in ((fig, "a.png"), (fig2, "b.png")):
        f.savefig(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


def test_empty_table_is_refused():
    with pytest.raises(ValueError, match="empty"):
        plot_accuracy_vs_parameters(pd.DataFrame())
