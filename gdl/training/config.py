"""Composing the ``gdl-train`` configs from Python (tests, notebooks) the way the command line does.

Example::

    from gdl.training import compose, train

    cfg = compose(["experiment=nbody", "data.train_size=100", "trainer.max_epochs=2"], run_dir="runs/a")
    metrics = train(cfg)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

__all__ = ["CONFIG_DIR", "compose"]

#: The Hydra config directory of a source checkout (``conf/`` beside ``gdl/``).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose(
    overrides: Sequence[str] = (),
    run_dir: str | os.PathLike | None = None,
    config_name: str = "train",
) -> DictConfig:
    """The composed config with Hydra's own node, registered as the current Hydra config, so that
    ``${hydra:...}`` interpolations (the run directory) resolve as under ``gdl-train``.

    Args:
        overrides: command-line style overrides (``"model=invariant"``, ``"data.train_size=100"``).
        run_dir: the run directory (``paths.output_dir``). Default ``None`` (Hydra's ``hydra.run.dir``).
        config_name: the primary config. Default ``"train"``.
    """
    if not (CONFIG_DIR / f"{config_name}.yaml").is_file():
        raise FileNotFoundError(f"no config {config_name}.yaml in {CONFIG_DIR}")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(Path(run_dir).absolute()) if run_dir else cfg.hydra.run.dir
        cfg.hydra.job.num = cfg.hydra.job.get("num") or 0
    HydraConfig.instance().set_config(cfg)
    return cfg
