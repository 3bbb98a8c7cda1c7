r"""The Lightning module that trains any gdl model (bare or wrapped by a symmetry strategy).

Training minimises, on targets standardised by the data module (:class:`gdl.data.Standardize`),

.. math::
    \mathcal L = \sum_t w_t\, \mathcal L_t(\hat y_t, y_t) + \mathcal R(\text{model})

with the rotation-invariant losses of :mod:`gdl.training.losses` and the strategy's
``regularizer()`` :math:`\mathcal R` (zero for bare models). Validation and test map predictions and
targets back to the dataset's units (``scaler.inverse``) and accumulate :class:`TypedErrors` in
native units (meV for QM9 energies, Debye for dipoles). The test pass also scores the *mean
predictor* on the same batches: the prediction that is zero in standardised units, i.e. the training
mean of each ``0e`` component (after the atom reference, where one is used) and the zero vector /
tensor for ``1o``/``2e`` targets (which are scaled, never centred).

Logged keys: ``train/loss``, ``train/regularizer``, ``val/loss``, ``val/<target>/<metric>``,
``symmetry/<key>`` (the numeric entries of the strategy's ``symmetry_report()``, every validation
epoch), ``test/loss``, ``test/<target>/<metric>``, ``baseline/<target>/<metric>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn

from ..keys import Target
from ..symmetry import symmetry_report
from .compile import CompiledForward, compile_options
from .losses import LOSSES, irreps_blocks, typed_loss
from .metrics import TypedErrors, unit_of

__all__ = ["GDLModule"]


class GDLModule(LightningModule):
    """Wraps a gdl model for training (module docstring).

    Args:
        model: a :class:`~gdl.models.GDLModel` or a :class:`~gdl.symmetry.SymmetryStrategy`; its
            ``targets`` are what is trained.
        optimizer: a callable ``params -> Optimizer`` (a Hydra ``_partial_`` of ``torch.optim.AdamW``).
            Default ``None`` (AdamW, lr 1e-3, weight decay 0).
        scheduler: a callable ``optimizer -> LRScheduler`` or ``None``. Default ``None``.
        scheduler_interval: ``"epoch"`` or ``"step"``. Default ``"epoch"``.
        loss: ``"mse"`` or ``"l1"`` (:mod:`gdl.training.losses`), or ``{target: loss}``. Default ``"mse"``.
        loss_weights: ``{target: weight}``; missing targets weigh 1. Default ``None``.
        metrics: metric names (:data:`gdl.training.metrics.METRICS`) computed for every target.
            Default ``("mae",)``.
        units: ``{target: (unit, factor)}`` overriding :data:`gdl.training.metrics.UNITS`. Default ``None``.
        compile: run the model's forward passes through ``torch.compile`` (``True``, or a mapping of
            its arguments such as ``{backend: inductor, dynamic: true}``;
            :mod:`gdl.training.compile`). A model that cannot compile raises at the first step,
            naming the submodule that fails. Default ``False``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        loss: str | Mapping[str, str] = "mse",
        loss_weights: Mapping[str, float] | None = None,
        metrics: Sequence[str] = ("mae",),
        units: Mapping[str, Sequence] | None = None,
        compile: bool | Mapping[str, Any] = False,
    ) -> None:
        super().__init__()
        targets: tuple[Target, ...] | None = getattr(model, "targets", None)
        if not targets:
            raise TypeError(f"GDLModule needs a gdl model with typed `targets`, got {type(model).__name__}")
        self.model = model
        self.targets = tuple(targets)
        names = [t.name for t in self.targets]
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        self.scheduler_interval = scheduler_interval
        losses = dict(loss) if isinstance(loss, Mapping) else {n: loss for n in names}
        weights = dict(loss_weights or {})
        for what, keys in (("loss", losses), ("loss_weights", weights)):
            unknown = sorted(set(keys) - set(names))
            if unknown:
                raise ValueError(f"{what} names unknown target(s) {unknown}; the targets are {names}")
        for n in names:
            losses.setdefault(n, "mse")
            if losses[n] not in LOSSES:
                raise ValueError(
                    f"unknown loss {losses[n]!r} for target {n!r}; valid losses: {', '.join(LOSSES)}"
                )
        self.losses = losses
        self.loss_weights = {n: float(weights.get(n, 1.0)) for n in names}
        self.blocks = {t.name: irreps_blocks(t.irreps) for t in self.targets}
        self.metric_names = tuple(metrics)
        self.units = {n: unit_of(n, units) for n in names}
        self.metrics = nn.ModuleDict(
            {
                stage: nn.ModuleDict(
                    {t.name: TypedErrors(t, self.metric_names, self.units[t.name][1]) for t in self.targets}
                )
                for stage in ("val", "test", "baseline")
            }
        )
        self.scaler: Any = None  # the data module's Standardize, attached in setup()
        self.compile_options = compile_options(compile)
        # a plain attribute (not a submodule): the state dict keeps the model's own keys
        self._compiled_forward: CompiledForward | None = (
            CompiledForward(model, self.compile_options) if self.compile_options is not None else None
        )

    # -- plumbing ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        scaler = getattr(dm, "scaler", None)
        if scaler is not None:
            self.scaler = scaler
        if self.scaler is None:
            raise RuntimeError(
                "GDLModule needs the fitted Standardize of the data module (datamodule.scaler) or "
                "module.scaler set by hand"
            )

    def _cast(self, batch: Any) -> Any:
        """Floating fields in the module's dtype (``precision=64-true`` trains in float64)."""
        dtype = self.dtype
        for key in batch.keys():
            v = batch[key]
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.dtype != dtype:
                batch[key] = v.to(dtype)
        return batch

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        return self.model(batch) if self._compiled_forward is None else self._compiled_forward(batch)

    def regularizer(self) -> torch.Tensor:
        reg = getattr(self.model, "regularizer", None)
        return reg() if callable(reg) else torch.zeros((), device=self.device)

    def symmetry_report(self) -> dict[str, Any]:
        return symmetry_report(self.model)

    def _loss(self, out: Mapping[str, torch.Tensor], batch: Any) -> torch.Tensor:
        total = 0.0
        for t in self.targets:
            if t.name not in out:
                raise KeyError(f"the model returned {sorted(out)}, without target {t.name!r}")
            total = total + self.loss_weights[t.name] * typed_loss(
                out[t.name],
                batch[t.name],
                self.blocks[t.name],
                self.losses[t.name],  # type: ignore[arg-type]
            )
        return total  # type: ignore[return-value]

    # -- steps -----------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        batch = self._cast(batch)
        out = self(batch)
        data_loss = self._loss(out, batch)
        reg = self.regularizer()
        loss = data_loss + reg
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss {float(loss)} at epoch {self.current_epoch}, batch {batch_idx} "
                "(lower the learning rate or check the data)"
            )
        n = int(batch.num_graphs)
        self.log("train/loss", data_loss, prog_bar=True, batch_size=n)
        self.log("train/regularizer", reg, batch_size=n)
        return loss

    def _evaluate(self, batch: Any, stage: str) -> None:
        batch = self._cast(batch)
        out = self(batch)
        n = int(batch.num_graphs)
        self.log(
            f"{stage}/loss", self._loss(out, batch), prog_bar=stage == "val", batch_size=n, sync_dist=True
        )
        names = [t.name for t in self.targets]
        pred = self.scaler.inverse({k: out[k] for k in names}, batch)
        true = self.scaler.inverse({k: batch[k] for k in names}, batch)
        for k in names:
            self.metrics[stage][k].update(pred[k], true[k])
        if stage == "test":
            zeros = self.scaler.inverse({k: torch.zeros_like(batch[k]) for k in names}, batch)
            for k in names:
                self.metrics["baseline"][k].update(zeros[k], true[k])

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _log_metrics(self, stages: Iterable[str]) -> None:
        for stage in stages:
            for name, metric in self.metrics[stage].items():
                for m, value in metric.compute().items():
                    self.log(f"{stage}/{name}/{m}", value.float(), sync_dist=True)  # already global
                metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(["val"])
        for key, value in self.symmetry_report().items():  # numbers only (learned angle, prior ratio, ...)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.log(f"symmetry/{key}", float(value), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self._log_metrics(["test", "baseline"])

    # -- optimisation ----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        opt = self.optimizer_factory(params) if self.optimizer_factory else torch.optim.AdamW(params, lr=1e-3)
        if self.scheduler_factory is None:
            return opt
        sched = self.scheduler_factory(opt)
        config = {"scheduler": sched, "interval": self.scheduler_interval}
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = "val/loss"
        return {"optimizer": opt, "lr_scheduler": config}

    # -- checkpoints -----------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gdl"] = {
            "targets": [str(t) for t in self.targets],
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "symmetry_report": self.symmetry_report(),
        }

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())
