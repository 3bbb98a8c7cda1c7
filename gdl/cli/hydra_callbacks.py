"""Hydra callbacks of ``gdl-train`` (configured in ``conf/hydra/default.yaml``).

:class:`RefuseFinishedRuns` stops a run before Hydra writes anything into a directory that already
holds a finished run (Hydra saves ``.hydra/config.yaml`` before the task starts, so the check in
:func:`gdl.training.train` alone would come too late for those files). Under gdl's resumable
sweeper (:mod:`gdl.cli.sweep`, the default) a sweep directory with finished jobs is resumed, the
finished jobs skipped; under any other sweeper it is refused as a whole. A sweep whose launcher or
sweeper plugin is not installed stops with a message that says how to install it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..training.rundir import METRICS_FILE, RunDirectoryError, check_run_dir

__all__ = ["LAUNCHER_EXTRAS", "RESUMABLE_SWEEPER", "RefuseFinishedRuns", "check_launcher"]

#: Launcher plugins that gdl supports but does not install by default: module -> how to install it.
LAUNCHER_EXTRAS: dict[str, str] = {
    "hydra_plugins.hydra_submitit_launcher": (
        "the SLURM launcher needs the hydra-submitit-launcher plugin: install gdl's `slurm` extra "
        "(pip install -e '.[slurm]', or pip install hydra-submitit-launcher)"
    ),
    "hydra_plugins.gdl_sweeper": (
        "the resumable sweeper is gdl's own plugin (hydra_plugins/gdl_sweeper in the source checkout): "
        "reinstall gdl (pip install -e ., i.e. make install) so that the package is importable, or give "
        "hydra/sweeper=basic"
    ),
}
#: The sweeper that resumes sweep directories (gdl.cli.sweep); other sweepers refuse finished jobs.
RESUMABLE_SWEEPER = "hydra_plugins.gdl_sweeper.ResumableSweeper"


def check_launcher(config: DictConfig) -> None:
    """Raise ``ModuleNotFoundError`` with install instructions when ``hydra.launcher`` or
    ``hydra.sweeper`` names a plugin that is not installed."""
    for group in ("launcher", "sweeper"):
        target = str(config.hydra[group].get("_target_", ""))
        for module, hint in LAUNCHER_EXTRAS.items():
            if target.startswith(module + ".") and importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(f"hydra/{group}: {hint}")


class RefuseFinishedRuns(Callback):
    """Refuse run directories that hold a finished run (and sweep directories holding one, unless
    the resumable sweeper runs the sweep), and sweeps whose launcher or sweeper plugin is missing,
    before Hydra creates or writes anything."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_run_dir(Path(str(config.hydra.run.dir)))
        except RunDirectoryError as e:
            raise SystemExit(f"gdl-train: {e}") from None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_launcher(config)
            sweep = Path(str(config.hydra.sweep.dir))
            if str(config.hydra.sweeper.get("_target_", "")) == RESUMABLE_SWEEPER:
                return  # finished jobs are skipped, never rewritten (gdl.cli.sweep)
            if sweep.is_dir():
                for metrics in sorted(sweep.glob(f"*/{METRICS_FILE}")):
                    check_run_dir(metrics.parent)
        except (RunDirectoryError, ModuleNotFoundError) as e:
            raise SystemExit(f"gdl-train: {e}") from None
