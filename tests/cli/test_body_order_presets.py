"""The body-order presets (issue 19), shrunk to a few one-epoch jobs, through gdl-train and gdl-ablate.

The full presets are sized for about two hours each on a 2-core machine (their headers); these
tests run the same files with a handful of combos, one seed, two small training sizes and one epoch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

import gdl
from gdl.training import compose

REPO = Path(gdl.__file__).resolve().parents[1]
PRESETS = {
    # preset: (combos for the shrunk sweep, training sizes)
    "nbody_body_order": ("tfn_l1,mace_l1_nu1,mace_l1_nu3,mace_f1_l2_nu3", "16,32"),
    "qm9_body_order": ("tfn_l0,mace_l0_nu2,mace_l2_nu3,mace_f1_l2_nu3", "32,64"),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_sweeps_every_configuration(preset, tmp_path):
    """The full grid: TFN, MACE with scalar features at every message order and correlation 1-3, MACE
    with l = 1 features; three seeds."""
    cfg = compose([f"ablation={preset}"], run_dir=tmp_path)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    combos = params["combo"].split(",")
    orders = (1, 2) if preset.startswith("nbody") else (0, 1, 2)
    assert {f"mace_l{l}_nu{nu}" for l in orders for nu in (1, 2, 3)} <= set(combos)
    assert {f"tfn_l{l}" for l in orders} | {"mace_f1_l2_nu3"} <= set(combos)
    assert params["seed"] == "0,1,2" and len(params["data.train_size"].split(",")) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shrunk_preset_end_to_end(preset, tmp_path):
    combos, sizes = PRESETS[preset]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GDL_LOG_DIR": str(tmp_path / "logs"),
        "HYDRA_FULL_ERROR": "1",
    }
    sweep = tmp_path / "sweep"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "gdl.cli.train",
            "-m",
            f"ablation={preset}",
            f"combo={combos}",
            f"data.train_size={sizes}",
            "seed=0",
            "trainer.max_epochs=1",
            "trainer.check_val_every_n_epoch=1",
            "data.val_size=16",
            "data.test_size=32",
            f"hydra.sweep.dir={sweep}",
            f"paths.data_dir.nbody={tmp_path / 'nbody'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    res = subprocess.run(
        [sys.executable, "-m", "gdl.cli.ablate", str(sweep)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = pd.read_csv(sweep / "ablation" / "summary.csv")
    # one row per combo: the combos of one model are told apart by the variant column
    assert len(summary) == len(combos.split(","))
    assert set(summary["model"]) == {"tfn", "mace"}
    assert {f"combo={c}" for c in combos.split(",") if c.startswith("mace")} <= set(summary["variant"])
    assert summary["slope"].notna().all()
    assert (sweep / "ablation" / "learning_curves.png").stat().st_size > 1000
