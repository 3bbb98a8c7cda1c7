import math

import pandas as pd
import pytest

from gdl.analysis.curves import convergence, plot_validation_curves, validation_curves


def run(tmp_path, name, values, seed=0, strategy="exact"):
    d = tmp_path / name
    (d / "csv").mkdir(parents=True)
    rows = []
    for epoch, v in enumerate(values):
        rows.append({"epoch": epoch, "step": epoch, "train/loss": 1.0})  # a training row without val
        rows.append({"epoch": epoch, "step": epoch, "val/displacement/mse": v})
    pd.DataFrame(rows).to_csv(d / "csv" / "metrics.csv", index=False)
    return {"sweep": "s", "dataset": "nbody", "target": "displacement", "model": "egnn", "strategy": strategy,
            "variant": "", "seed": seed, "run_dir": str(d), "metric": "mse"}


def test_curves_and_how_much_they_still_improved_at_the_end(tmp_path):
    flat = [1.0, 0.5, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    falling = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1]
    frame = pd.DataFrame([run(tmp_path, "a", flat), run(tmp_path, "b", falling, seed=1, strategy="rpp"),
                          {**run(tmp_path, "c", flat), "run_dir": str(tmp_path / "missing")}])
    curves = validation_curves(frame)
    assert len(curves) == 22 and set(curves["run_dir"]) == {str(tmp_path / "a"), str(tmp_path / "b")}
    conv = convergence(curves).set_index("strategy")
    assert conv.loc["exact", "late_improvement"] == 0 and conv.loc["exact", "best_epoch"] == 3
    # best before the last 20% of 10 epochs (epochs <= 8): 0.2; best overall 0.1
    assert math.isclose(conv.loc["rpp", "late_improvement"], 1.0) and conv.loc["rpp", "epochs"] == 10
    assert plot_validation_curves(curves).axes
    with pytest.raises(ValueError, match="tail must be in"):
        convergence(curves, tail=1.5)
