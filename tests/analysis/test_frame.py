from __future__ import annotations

import math

from gdl.analysis.frame import runs_frame, variant_keys
from gdl.analysis.runs import load_runs

from ._runs import metrics, write_run


def test_one_row_per_run_and_target(tmp_path):
    two = metrics(
        targets="omega_m,sigma_8",
        metrics="r2,mae",
        **{
            "unit/omega_m": "",
            "unit/sigma_8": "",
            "test/omega_m/r2": 0.9,
            "test/omega_m/mae": 0.01,
            "test/sigma_8/r2": 0.8,
            "test/sigma_8/mae": 0.02,
            "equivariance/float64/omega_m": 1e-14,
            "symmetry/group": "O3",
            "symmetry/num_frames": 8,
        },
    )
    write_run(tmp_path, 0, two)
    frame = runs_frame(load_runs([tmp_path]).runs)
    assert list(frame["target"]) == ["omega_m", "sigma_8"]
    assert list(frame["test/r2"]) == [0.9, 0.8] and list(frame["test/mae"]) == [0.01, 0.02]
    assert list(frame["metric"]) == ["mae", "mae"]  # the first error metric, not r2
    assert frame["equivariance"].iloc[0] == 1e-14 and math.isnan(frame["equivariance"].iloc[1])
    assert list(frame["symmetry/num_frames"]) == [8.0, 8.0] and frame["symmetry"].iloc[0] == "group=O3"
    assert frame["variant"].iloc[0] == "" and frame["train_size"].iloc[0] == 100


def test_variants_are_the_overrides_that_tell_runs_apart(tmp_path):
    base = ["model=tfn", "symmetry=exact", "seed=0", "data.train_size=100", "trainer.max_epochs=3"]
    write_run(tmp_path, 0, metrics(model="tfn"), [*base, "l_max=0"])
    write_run(tmp_path, 1, metrics(model="tfn"), [*base, "l_max=1"])
    # an override that changes with the model only is not a variant
    egnn = ["model=egnn", "symmetry=exact", "seed=0", "model.attention=true"]
    write_run(tmp_path, 2, metrics(model="egnn"), egnn)
    # neither are seeds and training sizes
    seed1 = [*base[:2], "seed=1", "data.train_size=100", "l_max=0"]
    write_run(tmp_path, 3, metrics(model="tfn", seed=1), seed1)
    runs = load_runs([tmp_path]).runs
    assert variant_keys(runs) == ["l_max"]
    frame = runs_frame(runs)
    assert list(frame["variant"]) == ["l_max=0", "l_max=1", "", "l_max=0"]


def test_only_models_with_siblings_get_a_variant(tmp_path):
    """A sweep over combos: tfn_l0 and tfn_l1 share model and strategy, egnn_exact does not."""
    job = 0
    for combo, model in (("egnn_exact", "egnn"), ("tfn_l0", "tfn"), ("tfn_l1", "tfn")):
        for n in (100, 1000):
            write_run(tmp_path, job, metrics(model=model, n=n), [f"combo={combo}", f"data.train_size={n}"])
            job += 1
    # one tfn_l1 run is missing at n=1000: its other run keeps its variant
    (tmp_path / "5" / "metrics.json").unlink()
    frame = runs_frame(load_runs([tmp_path]).runs)
    assert list(frame["variant"]) == ["", "", "combo=tfn_l0", "combo=tfn_l0", "combo=tfn_l1"]
