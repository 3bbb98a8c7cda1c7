r"""``evaluate(cfg, ckpt_path, split)``: score a trained checkpoint on one split, the way
:func:`~gdl.training.train` scores it at the end of training, and write ``metrics.json``.

``gdl-eval`` (:mod:`gdl.cli.eval`) wraps it: it recomposes a run's configuration from the
overrides Hydra saved (``<run>/.hydra/overrides.yaml``), picks the checkpoint (``best``, ``last``
or a path) and writes into ``<run>/eval/<split>/`` (or ``--out``), never into the run's own
``metrics.json``.

Keys of the record: those of ``gdl-train``'s ``metrics.json`` that describe the tested model —
``status``, ``split``, ``checkpoint``, ``evaluated_run``, ``dataset``, ``model_class``, ``strategy``,
``targets``, ``target_specs``, ``metrics``, ``num_<split>``, ``<split>/<t>/<m>``,
``baseline/<t>/<m>`` (the mean predictor on the same graphs), ``baseline_definition``,
``<split>/loss``, ``num_params``, ``equivariance/float64/<t>`` (and per transform),
``equivariance/train_dtype/<t>``, ``train_dtype``, ``symmetry/<key>``, ``eval_time_s``,
``gdl_version``, ``torch_version`` — so that with ``split="test"`` and the run's best checkpoint
the ``test/...`` numbers equal the run's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.pytorch import seed_everything
from omegaconf import DictConfig
from torch_geometric.data import Batch

from .callbacks import EquivarianceMonitor, measure_equivariance
from .experiment import BASELINE_DEFINITION, _build, _equivariance_record, _record_start
from .rundir import check_run_dir, write_metrics

__all__ = ["SPLITS", "evaluate"]

#: the splits a checkpoint can be evaluated on
SPLITS: tuple[str, ...] = ("test", "val", "train")


def evaluate(cfg: DictConfig, ckpt_path: str | Path, split: str = "test") -> dict[str, Any]:
    """Evaluate the checkpoint ``ckpt_path`` of the model that ``cfg`` describes on ``split`` and
    write ``<cfg.paths.output_dir>/metrics.json`` (module docstring); returns the record.

    Raises:
        ValueError: an unknown split.
        FileNotFoundError: no checkpoint at ``ckpt_path``.
        RunDirectoryError: the output directory already holds a finished evaluation.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    ckpt = Path(ckpt_path)
    if not ckpt.is_file():
        raise FileNotFoundError(f"no checkpoint at {ckpt}")
    t0 = time.perf_counter()
    out_dir = check_run_dir(Path(cfg.paths.output_dir))
    if cfg.get("num_threads"):
        torch.set_num_threads(int(cfg.num_threads))
    if cfg.get("seed") is not None:
        seed_everything(int(cfg.seed), workers=True)
    datamodule, model, module = _build(cfg)
    datamodule.setup("test")
    if split != "test":  # score another split with the test loop (metrics and the mean predictor)
        datamodule.test_dataloader = lambda: datamodule._loader(split)  # type: ignore[method-assign]
    trainer = instantiate(
        cfg.trainer, callbacks=[], logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    results = trainer.test(module, datamodule=datamodule, ckpt_path=str(ckpt), verbose=False)[0]

    monitor = EquivarianceMonitor()
    part = datamodule.splits[split]
    fixed = Batch.from_data_list([part[i] for i in range(min(monitor.num_graphs, len(part)))])
    errors = measure_equivariance(module.model, fixed, monitor.group, monitor.n_samples, monitor.seed)
    rename = (lambda k: split + k[len("test") :]) if split != "test" else (lambda k: k)
    # the keys that describe the model, data and versions, exactly as gdl-train writes them
    record: dict[str, Any] = _record_start(cfg, datamodule, model, module, out_dir)
    record.update(
        {
            "status": "finished",
            "split": split,
            "checkpoint": str(ckpt),
            "evaluated_run": cfg.get("evaluated_run"),
            f"num_{split}": len(part),
            **{
                rename(k): float(v)
                for k, v in sorted(results.items())
                if k.startswith(("test/", "baseline/"))
            },
            "baseline_definition": BASELINE_DEFINITION,
            "num_params": module.num_parameters(),
            **_equivariance_record(errors),
            **{f"symmetry/{k}": v for k, v in module.symmetry_report().items()},
            "eval_time_s": time.perf_counter() - t0,
        }
    )
    write_metrics(out_dir, record)
    print("\n" + _table(record), flush=True)
    return record


def _table(m: dict[str, Any]) -> str:
    split = m["split"]
    what = f"{m['dataset']} / {m['model_class']} / {m['strategy']}"
    lines = [f"gdl-eval: {what} on {split} ({m[f'num_{split}']} graphs)"]
    for t in m["targets"].split(","):
        for x in m["metrics"].split(","):
            got, base = m.get(f"{split}/{t}/{x}"), m.get(f"baseline/{t}/{x}")
            unit = m.get(f"unit/{t}", "")
            if got is not None:
                mean = f"   mean predictor {base:>12.6g}" if base is not None else ""
                lines.append(f"  {t:<14} {x:<5} {got:>12.6g}{mean}  {unit}")
    return "\n".join(lines)
