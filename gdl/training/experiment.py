r"""``train(cfg)``: one training run from a composed Hydra config — a plain function that tests call
and that ``gdl-train`` (:mod:`gdl.cli.train`) wraps.

Order of work (everything that can be wrong in the config fails before any data is read or any
epoch runs):

1. refuse a run directory that holds a finished run (:mod:`gdl.training.rundir`); a sweep job
   (``-m``) whose directory holds an interrupted or failed run with ``checkpoints/last.ckpt``
   resumes from it (relaunched sweeps, :mod:`gdl.cli.sweep`); a failed attempt's ``metrics.json``
   is kept as ``failed_attempt_<k>.json``;
2. seed everything (``lightning.seed_everything(seed, workers=True)``);
3. build the data module (checks the targets against the dataset), the model (checks that its
   readout can produce the targets' types), the symmetry strategy around it (checks that it can
   wrap that model), the Lightning module, callbacks, loggers and trainer;
4. ``trainer.fit`` (resuming from ``ckpt_path``: ``last`` = ``<run>/checkpoints/last.ckpt``);
5. ``trainer.test`` with the best checkpoint (lowest ``val/loss``; ``test_ckpt: last`` for the
   final weights), which also scores the mean predictor on the same test batches;
6. the equivariance error of the tested model on a fixed test batch (float64 and training dtype);
7. a flat record printed as a table and written to ``<run>/metrics.json`` with ``"status":
   "finished"`` (process 0 only under DDP).

Keys of ``metrics.json`` (``<t>`` a target, ``<m>`` a metric such as ``mae``)::

    status, dataset, experiment, model, model_class, strategy, targets, target_specs, metrics,
    train_size, num_train, num_val, num_test, seed, unit/<t>, test/<t>/<m>, baseline/<t>/<m>,
    baseline_definition, test/loss, num_params, epochs, optimizer_steps, steps_per_epoch, batch_size,
    world_size, time_per_epoch_s, throughput_graphs_per_s, train_time_s, total_time_s, train_dtype,
    equivariance/float64/<t>, equivariance/train_dtype/<t>, equivariance/float64/<t>/<transform>,
    symmetry/<key> (the strategy's symmetry_report), best_checkpoint, run_dir, gdl_version,
    torch_version, resumed_from, earlier_attempt, error, traceback

The last four only when they apply: ``resumed_from`` (the checkpoint a run resumed from),
``earlier_attempt`` (the kept ``failed_attempt_<k>.json`` of a retried job); a failed record has
``error`` and ``traceback``.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch import Callback, seed_everything
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig
from torch_geometric.data import Batch

from .. import __version__ as gdl_version
from ..keys import Target
from ..symmetry import symmetry_report
from .callbacks import EpochTimer, EquivarianceMonitor, measure_equivariance
from .module import GDLModule
from .rundir import RunLock, archive_failed_attempt, check_run_dir, resumable_checkpoint, write_metrics
from .summary import format_summary

__all__ = ["BASELINE_DEFINITION", "resolve_ckpt_path", "train"]

BASELINE_DEFINITION = (
    "mean predictor: the training mean of each 0e target (after the atom reference where used) and the zero "
    "vector/tensor for 1o/2e targets; scored on the same test set"
)


def _choices() -> dict[str, str]:
    """Hydra's group choices (``{"model": "egnn", ...}``) when running under Hydra, else ``{}``."""
    if not HydraConfig.initialized():
        return {}
    return {k: str(v) for k, v in HydraConfig.get().runtime.choices.items() if v is not None}


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path) -> str | None:
    """``None``; ``"last"`` → ``<run_dir>/checkpoints/last.ckpt``; or a path. Raises if it does not exist."""
    if ckpt_path is None:
        return None
    path = run_dir / "checkpoints" / "last.ckpt" if str(ckpt_path) == "last" else Path(str(ckpt_path))
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path!r}: no checkpoint at {path}; to resume, run again with the interrupted "
            "run's directory (hydra.run.dir=<that directory>) or give a checkpoint file"
        )
    return str(path)


def _sweep_resume(run_dir: Path) -> str | None:
    """``"last"`` for a sweep job whose directory holds an interrupted/failed run with ``last.ckpt``."""
    in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    return "last" if in_sweep and resumable_checkpoint(run_dir) is not None else None


def _instantiate_all(group: Any) -> list[Any]:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def _check_same_targets(model: Any, targets: tuple[Target, ...]) -> None:
    have = [str(t) for t in model.targets]
    want = [str(t) for t in targets]
    if have != want:
        raise ValueError(
            f"the model predicts {have} but the data module provides {want}: declare targets once"
        )


def _check_ddp_sweep(trainer: Any) -> None:
    """Lightning's DDP launcher re-runs the whole command line in each new process, which under a
    local Hydra sweep (``-m``) would start the sweep again; SLURM (one task per device) is fine."""
    if (
        trainer.world_size > 1
        and HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and "SLURM_NTASKS" not in os.environ
    ):
        raise ValueError(
            "multi-process DDP inside a local sweep (-m) is not supported (Lightning relaunches the whole "
            "command in each process): run each DDP job on its own without -m, or sweep with "
            "hydra/launcher=slurm, where SLURM starts one task per device"
        )


def _build(cfg: DictConfig) -> tuple[Any, Any, GDLModule]:
    datamodule = instantiate(cfg.data, _convert_="all")
    model = instantiate(cfg.model, _convert_="all")
    _check_same_targets(model, datamodule.targets)
    if cfg.get("symmetry") is not None:
        model = instantiate(cfg.symmetry)(model)
    module = instantiate(cfg.module, model=model, _convert_="all")
    return datamodule, model, module


def _record_start(
    cfg: DictConfig, datamodule: Any, model: Any, module: GDLModule, run_dir: Path
) -> dict[str, Any]:
    choices = _choices()
    inner = getattr(model, "model", model)
    report = symmetry_report(model)
    return {
        "status": "running",
        "dataset": datamodule.dataset_name,
        "experiment": choices.get("experiment"),
        "model": choices.get("model", type(inner).__name__.lower()),
        "model_class": type(inner).__name__,
        "strategy": choices.get("symmetry", report.get("strategy")),
        "targets": ",".join(t.name for t in module.targets),
        "target_specs": ";".join(str(t) for t in module.targets),
        "metrics": ",".join(module.metric_names),
        "train_size": datamodule.train_size,
        "seed": cfg.get("seed"),
        "batch_size": datamodule.batch_size,
        **{f"unit/{name}": unit for name, (unit, _) in module.units.items()},
        "run_dir": str(run_dir),
        "gdl_version": gdl_version,
        "torch_version": torch.__version__,
    }


def _equivariance_record(errors: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"train_dtype": errors["train_dtype_name"]}
    for kind in ("float64", "train_dtype"):
        for name, value in errors[kind].items():
            out[f"equivariance/{kind}/{name}"] = float(value)
    for name, row in errors["float64"].table.items():
        for transform, value in row.items():
            out[f"equivariance/float64/{name}/{transform}"] = float(value)
    return out


def _keep_csv_history(loggers: list[Any], ckpt_path: str) -> None:
    """Keep what a resumed run's CSV loggers wrote before the interruption.

    Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts, so a run resumed
    from ``last.ckpt`` would lose the training and validation curve of its first attempt. The rows
    logged before the checkpoint (``step`` below its ``global_step``; later ones are logged again
    by the resumed run) are read first and written back as the new file's first rows.
    """
    import csv

    from lightning.pytorch.loggers import CSVLogger

    csv_loggers = [lg for lg in loggers if isinstance(lg, CSVLogger)]
    if not csv_loggers:
        return
    resumed_step = int(torch.load(ckpt_path, map_location="cpu", weights_only=False)["global_step"])
    for logger in csv_loggers:
        path = Path(logger.log_dir) / "metrics.csv"
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            keys = list(reader.fieldnames or [])
            rows = [r for r in reader if r.get("step", "") == "" or int(float(r["step"])) < resumed_step]
        writer = logger.experiment  # the writer removes the old file here
        writer.metrics_keys = sorted(set(writer.metrics_keys) | set(keys))
        writer.metrics = rows + writer.metrics
        writer.save()


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, test and summarise one run (module docstring); returns the ``metrics.json`` record."""
    t_start = time.perf_counter()
    run_dir = check_run_dir(Path(cfg.paths.output_dir))
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path") or _sweep_resume(run_dir), run_dir)
    if cfg.get("test_ckpt", "best") not in ("best", "last"):
        raise ValueError(f"test_ckpt must be 'best' or 'last', got {cfg.get('test_ckpt')!r}")
    if cfg.get("num_threads"):
        torch.set_num_threads(int(cfg.num_threads))
    if cfg.get("seed") is not None:
        seed_everything(int(cfg.seed), workers=True)

    datamodule, model, module = _build(cfg)
    callbacks: list[Callback] = _instantiate_all(cfg.get("callbacks"))
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not any(isinstance(c, EpochTimer) for c in callbacks):
        callbacks.append(EpochTimer())
    loggers = _instantiate_all(cfg.get("logger"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    _check_ddp_sweep(trainer)
    if ckpt_path and trainer.is_global_zero:
        _keep_csv_history(loggers, ckpt_path)

    record = _record_start(cfg, datamodule, model, module, run_dir)
    if ckpt_path:
        record["resumed_from"] = ckpt_path
    lock = RunLock(run_dir) if trainer.is_global_zero else None
    if trainer.is_global_zero:
        earlier = archive_failed_attempt(run_dir)
        if earlier is not None:
            record["earlier_attempt"] = earlier.name
        write_metrics(run_dir, record)
    try:
        t_fit = time.perf_counter()
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        train_time = time.perf_counter() - t_fit
        ckpt_cb = trainer.checkpoint_callback
        best = getattr(ckpt_cb, "best_model_path", "") if ckpt_cb is not None else ""
        test_ckpt = best if (cfg.get("test_ckpt", "best") == "best" and best) else None
        results = trainer.test(module, datamodule=datamodule, ckpt_path=test_ckpt)[0]

        monitor = next((c for c in callbacks if isinstance(c, EquivarianceMonitor)), EquivarianceMonitor())
        test_split = datamodule.splits["test"]
        fixed = Batch.from_data_list([test_split[i] for i in range(min(monitor.num_graphs, len(test_split)))])
        errors = measure_equivariance(module.model, fixed, monitor.group, monitor.n_samples, monitor.seed)
        timer = next(c for c in callbacks if isinstance(c, EpochTimer))
        epochs = int(trainer.current_epoch)
        steps = int(trainer.global_step)
        sizes = datamodule.sizes
        record.update(
            {
                "status": "finished",
                "num_train": sizes["train"],
                "num_val": sizes["val"],
                "num_test": sizes["test"],
                **{k: float(v) for k, v in sorted(results.items()) if k.startswith(("test/", "baseline/"))},
                "baseline_definition": BASELINE_DEFINITION,
                "num_params": module.num_parameters(),
                "epochs": epochs,
                "optimizer_steps": steps,
                "steps_per_epoch": steps / epochs if epochs else None,
                "world_size": trainer.world_size,
                "time_per_epoch_s": timer.time_per_epoch,
                "throughput_graphs_per_s": timer.throughput,
                "train_time_s": train_time,
                **_equivariance_record(errors),
                **{f"symmetry/{k}": v for k, v in module.symmetry_report().items()},
                "best_checkpoint": test_ckpt,
                "total_time_s": time.perf_counter() - t_start,
            }
        )
    except BaseException as e:
        if trainer.is_global_zero:
            write_metrics(run_dir, {**record, "status": "failed", "error": f"{type(e).__name__}: {e}",
                                    "traceback": traceback.format_exc()[-8000:]})
        if lock is not None:
            lock.release()
        raise
    if trainer.is_global_zero:
        write_metrics(run_dir, record)
    if lock is not None:
        lock.release()
        print("\n" + format_summary(record), flush=True)
    return record
