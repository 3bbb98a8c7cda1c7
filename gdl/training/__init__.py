"""Training: the Lightning module that wraps any gdl model and strategy, rotation-invariant losses
of typed targets, metrics in native units, the equivariance monitor, and ``train(cfg)``.

This package imports Lightning and Hydra (the ``train`` extra); the model, layer, group and
strategy packages never do.
"""

from .._extras import require

require("train", "gdl.training")

from .callbacks import EpochTimer, EquivarianceMonitor, measure_equivariance
from .config import CONFIG_DIR, compose
from .experiment import BASELINE_DEFINITION, resolve_ckpt_path, train
from .losses import LOSSES, typed_loss
from .metrics import METRICS, UNITS, TypedErrors, unit_of
from .module import GDLModule
from .resolvers import register_resolvers
from .rundir import METRICS_FILE, RunDirectoryError, check_run_dir, read_metrics, write_metrics
from .summary import format_summary

__all__ = [
    "BASELINE_DEFINITION",
    "CONFIG_DIR",
    "LOSSES",
    "METRICS",
    "METRICS_FILE",
    "UNITS",
    "EpochTimer",
    "EquivarianceMonitor",
    "GDLModule",
    "RunDirectoryError",
    "TypedErrors",
    "check_run_dir",
    "compose",
    "format_summary",
    "measure_equivariance",
    "read_metrics",
    "register_resolvers",
    "resolve_ckpt_path",
    "train",
    "typed_loss",
    "unit_of",
    "write_metrics",
]

register_resolvers()
