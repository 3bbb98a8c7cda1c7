"""Ablation analysis: run directories of ``gdl-train`` sweeps → tables, learning curves and figures
(``gdl-ablate``, :mod:`gdl.cli.ablate`). One concern per module:

=====================  =========================================================================
module                 what it does
=====================  =========================================================================
``runs``               find run directories, read ``metrics.json`` and Hydra's overrides, sort out
                       failed/unfinished/incomplete runs with the reason
``frame``              runs → one row per (run, target); variants from distinguishing overrides
``aggregate``          mean, standard deviation and median over seeds per setting and training size
``learning_curve``     log–log power-law fits of test error vs training size, with confidence intervals
``tables``             ``mean ± std`` strings; Markdown and LaTeX writers
``plots``              learning curves, accuracy vs equivariance error, accuracy vs parameters
``report``             all of the above, written atomically to an output folder
=====================  =========================================================================

Nothing here imports torch, Lightning or Hydra; it needs pandas and matplotlib (the ``analysis`` extra).
"""

from .._extras import require

require("analysis", "gdl.analysis (gdl-ablate)")

from .aggregate import GROUP, aggregate, largest_train_size, value_columns
from .frame import IDENTITY, runs_frame, variant_keys
from .learning_curve import PowerLawFit, fit_power_law, learning_curves
from .plots import plot_accuracy_vs_equivariance, plot_accuracy_vs_parameters, plot_learning_curves
from .report import AblationReport, NoFinishedRunsError, analyse, write_report
from .runs import METRICS_FILE, NoRunsError, Pending, Run, RunSet, find_run_dirs, load_runs, read_run
from .tables import display_table, format_number, to_latex, to_markdown

__all__ = [
    "GROUP",
    "IDENTITY",
    "METRICS_FILE",
    "AblationReport",
    "NoFinishedRunsError",
    "NoRunsError",
    "Pending",
    "PowerLawFit",
    "Run",
    "RunSet",
    "aggregate",
    "analyse",
    "display_table",
    "find_run_dirs",
    "fit_power_law",
    "format_number",
    "largest_train_size",
    "learning_curves",
    "load_runs",
    "plot_accuracy_vs_equivariance",
    "plot_accuracy_vs_parameters",
    "plot_learning_curves",
    "read_run",
    "runs_frame",
    "to_latex",
    "to_markdown",
    "value_columns",
    "variant_keys",
    "write_report",
]
