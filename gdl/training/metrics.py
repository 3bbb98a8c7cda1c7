r"""Metrics of typed targets in native units, accumulated over an epoch (and across processes).

:class:`TypedErrors` is a :class:`torchmetrics.Metric` (so DDP synchronisation is torchmetrics'),
fed with predictions and targets already mapped back to the dataset's units
(:meth:`gdl.data.Standardize.inverse`) and multiplied by a display factor from :data:`UNITS`
(QM9 stores energies in eV; they are reported in meV). With ``R`` rows (graphs or nodes), ``D``
components per row and ``C`` irreducible copies per row (:mod:`gdl.training.losses`):

==========  ===================================================================================
metric      definition
==========  ===================================================================================
``mae``     :math:`\frac1{RC}\sum_{r,c}\lVert e_{rc}\rVert`: the mean absolute error for scalars,
            the mean Euclidean norm of the error vector/tensor for ``1o``/``2e`` (rotation-invariant)
``mse``     :math:`\frac1{RD}\sum_{r,d} e_{rd}^2`: mean over all components (as ``nn.MSELoss``;
            the N-body MSE of the EGNN paper)
``rmse``    :math:`\sqrt{\mathrm{mse}}`
``r2``      :math:`1 - \sum_{r,d} e_{rd}^2 / \sum_{r,d} (y_{rd} - \bar y_d)^2` with the mean
            :math:`\bar y_d` of the evaluated set (variance-weighted over components)
==========  ===================================================================================

All four are invariant under rotations of the targets (``r2`` because the mean transforms with
them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torchmetrics import Metric

from ..keys import Target
from .losses import copy_norms, irreps_blocks

__all__ = ["METRICS", "UNITS", "TypedErrors", "unit_of"]

#: Names of the metrics :class:`TypedErrors` computes.
METRICS: tuple[str, ...] = ("mae", "mse", "rmse", "r2")

_QM9_ENERGIES = ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G", "U0_atom", "U_atom", "H_atom", "G_atom")

#: Reported unit and the factor from the dataset's stored unit, by target name. Targets that are
#: not listed are reported in their stored units (factor 1, unit ``""``).
UNITS: dict[str, tuple[str, float]] = {
    **{name: ("meV", 1000.0) for name in _QM9_ENERGIES},  # QM9 stores eV (as PyG)
    "mu": ("D", 1.0),
    "dipole_vec": ("D", 1.0),
    "alpha": ("bohr^3", 1.0),
    "polarizability": ("bohr^3", 1.0),
    "r2": ("bohr^2", 1.0),
    "cv": ("cal/mol/K", 1.0),
    "A": ("GHz", 1.0),
    "B": ("GHz", 1.0),
    "C": ("GHz", 1.0),
    "charges": ("e", 1.0),
    "quadrupole": ("e*A^2", 1.0),
    "velocity": ("km/s", 1.0),
    "omega_m": ("1", 1.0),
    "sigma_8": ("1", 1.0),
    "bias": ("1", 1.0),
    "shape": ("1", 1.0),
    "displacement": ("sim. length", 1.0),  # N-body simulation units
}


def unit_of(name: str, overrides: Mapping[str, Sequence] | None = None) -> tuple[str, float]:
    """``(unit, factor)`` of a target (``overrides`` first, then :data:`UNITS`, else ``("", 1.0)``)."""
    if overrides and name in overrides:
        unit, factor = overrides[name]
        return str(unit), float(factor)
    return UNITS.get(name, ("", 1.0))


class TypedErrors(Metric):
    """Accumulates the errors of one typed target (module docstring for the definitions).

    Args:
        target: the :class:`~gdl.keys.Target`.
        metrics: names among :data:`METRICS` returned by :meth:`compute`. Default ``("mae",)``.
        factor: multiply predictions and targets by this before measuring (unit change). Default ``1.0``.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self, target: Target, metrics: Iterable[str] = ("mae",), factor: float = 1.0):
        super().__init__()
        self.metric_names = tuple(metrics)
        bad = [m for m in self.metric_names if m not in METRICS]
        if bad or not self.metric_names:
            raise ValueError(
                f"unknown metric(s) {bad or '[]'} for {target.name!r}; valid: {', '.join(METRICS)}"
            )
        self.blocks = irreps_blocks(target.irreps)
        self.dim = target.dim
        self.copies = sum(m for _, m, _ in self.blocks)
        self.factor = float(factor)
        f64 = torch.float64
        self.add_state("sum_norm", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("sum_sq", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("sum_y", torch.zeros(self.dim, dtype=f64), dist_reduce_fx="sum")
        self.add_state("sum_y2", torch.zeros(self.dim, dtype=f64), dist_reduce_fx="sum")
        self.add_state("rows", torch.zeros((), dtype=f64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred = pred.detach().to(torch.float64) * self.factor
        target = target.detach().to(torch.float64) * self.factor
        if pred.shape != target.shape or pred.dim() != 2 or pred.shape[1] != self.dim:
            raise ValueError(
                f"TypedErrors: prediction {tuple(pred.shape)} and target {tuple(target.shape)} "
                f"must be [R, {self.dim}]"
            )
        err = pred - target
        self.sum_norm += copy_norms(err, self.blocks, squared=False).sum()
        self.sum_sq += err.pow(2).sum()
        self.sum_y += target.sum(0)
        self.sum_y2 += target.pow(2).sum(0)
        self.rows += target.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        rows = self.rows.clamp_min(1)
        mse = self.sum_sq / (rows * self.dim)
        spread = (self.sum_y2 - self.sum_y.pow(2) / rows).sum()
        values = {
            "mae": self.sum_norm / (rows * self.copies),
            "mse": mse,
            "rmse": mse.sqrt(),
            "r2": 1.0 - self.sum_sq / spread
            if spread > 0
            else torch.tensor(float("nan"), dtype=torch.float64),
        }
        return {m: values[m] for m in self.metric_names}
