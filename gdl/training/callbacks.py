r"""Lightning callbacks of gdl: the equivariance monitor and the epoch timer."""

from __future__ import annotations

import time
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch_geometric.data import Batch

from ..testing import equivariance_error

__all__ = ["EpochTimer", "EquivarianceMonitor", "measure_equivariance"]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def measure_equivariance(
    model: torch.nn.Module, batch: Any, group: str = "O3", n_samples: int = 1, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Equivariance errors of ``model`` on ``batch`` in float64 and in the model's own dtype.

    Returns ``{"float64": errors, "train_dtype": errors}`` where each ``errors`` is a
    :class:`gdl.testing.EquivarianceErrors` (``{target: max relative error}`` with ``.table``);
    the model is left untouched (float64: a cast deep copy; own dtype: the model itself in eval mode,
    restored to its previous mode afterwards)."""
    was_training = model.training
    model.eval()
    try:
        own_dtype = next(
            (p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype()
        )
        ref = batch.to(next((p.device for p in model.parameters()), torch.device("cpu")))
        kwargs = dict(group=group, n_samples=n_samples, seed=seed)
        exact = equivariance_error(model, ref, dtype=torch.float64, **kwargs)
        own_batch = ref.clone()
        for key in own_batch.keys():
            v = own_batch[key]
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                own_batch[key] = v.to(own_dtype)
        own = equivariance_error(model, own_batch, dtype=None, **kwargs)
    finally:
        model.train(was_training)
    return {"float64": exact, "train_dtype": own, "train_dtype_name": _dtype_name(own_dtype)}  # type: ignore[dict-item]


class EquivarianceMonitor(Callback):
    """Measures the model's equivariance error on a fixed validation batch at the end of every
    validation epoch, in float64 (a cast copy of the model: the error of the architecture) and in the
    training dtype (the model as it trains: adds rounding), with
    :func:`gdl.testing.equivariance_error` (rotations, reflections when ``group="O3"``,
    translations, permutations; ``n_samples`` draws of each).

    Logs ``equivariance/float64/<target>`` and ``equivariance/train_dtype/<target>``: the maximum
    relative error over the transformations tested. The batch is the first ``num_graphs`` graphs of
    the validation split, identical on every process and in every epoch.

    Args:
        num_graphs: graphs in the fixed batch. Default ``8``.
        n_samples: draws per kind of transformation. Default ``1``.
        group: ``"O3"`` or ``"SO3"``. Default ``"O3"``.
        seed: seed of the transformations. Default ``0``.
    """

    def __init__(self, num_graphs: int = 8, n_samples: int = 1, group: str = "O3", seed: int = 0) -> None:
        if num_graphs < 1 or n_samples < 1:
            raise ValueError(f"num_graphs and n_samples must be >= 1, got {num_graphs}, {n_samples}")
        self.num_graphs, self.n_samples, self.group, self.seed = (
            int(num_graphs),
            int(n_samples),
            group,
            int(seed),
        )
        self.batch: Batch | None = None
        self.last: dict[str, Any] = {}

    def fixed_batch(self, trainer: Trainer) -> Batch:
        if self.batch is None:
            dm = trainer.datamodule
            val = dm.splits["val"] if getattr(dm, "splits", None) else None
            if val is None:
                raise RuntimeError("EquivarianceMonitor needs a gdl data module with a validation split")
            n = min(self.num_graphs, len(val))
            self.batch = Batch.from_data_list([val[i] for i in range(n)])
        return self.batch

    def measure(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        model = getattr(pl_module, "model", pl_module)
        self.last = measure_equivariance(
            model, self.fixed_batch(trainer), self.group, self.n_samples, self.seed
        )
        return self.last

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        errors = self.measure(trainer, pl_module)
        for kind in ("float64", "train_dtype"):
            for name, value in errors[kind].items():
                pl_module.log(f"equivariance/{kind}/{name}", float(value), sync_dist=True)


class EpochTimer(Callback):
    """Wall time of each training epoch (validation excluded) and the graphs trained per second.

    Logs ``time/epoch_s`` and ``time/graphs_per_s``; the history lives in the checkpoint, so a
    resumed run reports the epochs of both parts.
    """

    def __init__(self) -> None:
        self.epoch_times: list[float] = []
        self.epoch_graphs: list[int] = []
        self._start = self._last = 0.0
        self._graphs = 0
        self._open = False

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = self._last = time.perf_counter()
        self._graphs, self._open = 0, True

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._graphs += int(getattr(batch, "num_graphs", 0))
        self._last = time.perf_counter()

    def _close(self, trainer: Trainer) -> None:
        """Record the epoch once its training batches are done (before the validation that ends it, so
        that the checkpoint written after validation holds it)."""
        if self._open:
            self.epoch_times.append(self._last - self._start)
            self.epoch_graphs.append(self._graphs * trainer.world_size)
            self._open = False

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._close(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._close(trainer)
        if self.epoch_times:
            elapsed = self.epoch_times[-1]
            pl_module.log("time/epoch_s", elapsed, sync_dist=True)
            pl_module.log("time/graphs_per_s", self.epoch_graphs[-1] / max(elapsed, 1e-9), sync_dist=True)

    @property
    def time_per_epoch(self) -> float:
        return sum(self.epoch_times) / len(self.epoch_times) if self.epoch_times else float("nan")

    @property
    def throughput(self) -> float:
        t = sum(self.epoch_times)
        return sum(self.epoch_graphs) / t if t > 0 else float("nan")

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_times": list(self.epoch_times), "epoch_graphs": list(self.epoch_graphs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch_times = list(state_dict.get("epoch_times", []))
        self.epoch_graphs = list(state_dict.get("epoch_graphs", []))
