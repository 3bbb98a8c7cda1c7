r"""The domain baselines as rows of a ``gdl-ablate`` table: ``python -m gdl.baselines.ablation SWEEP``.

For a galaxy sweep of ``gdl-train`` (e.g. ``ablation=galaxy_cosmology_scaling``), every job
directory's saved config (``.hydra/config.yaml``) gives its data module; for each distinct data
configuration (one per training size) this module rebuilds the
:class:`~gdl.data.datamodules.GalaxyDataModule` — the same clouds and the same seeded split as
the networks' — fits each baseline that predicts the sweep's targets on that job's training
clouds, scores it on the job's test clouds with the networks' own metric code
(:class:`gdl.training.metrics.TypedErrors`: the same ``r2``, ``mae``, ... definitions, velocity
errors pooled over all test galaxies), and writes a run directory next to the jobs::

    <SWEEP>/baseline_<method>_n<train>/metrics.json     (and .hydra/overrides.yaml)

with the keys ``gdl-ablate`` reads (``status: finished``, ``dataset``, ``experiment``, ``model`` =
the method, ``strategy: none``, ``targets``, ``metrics``, ``num_train``, ``test/<t>/<m>``,
``num_params``, ``seed``), so ``gdl-ablate SWEEP`` lists the baselines as rows of the same tables
and learning curves. The baselines are deterministic given the clouds: one run per training size,
recorded with ``seed`` = the data seed (their seed spread is therefore absent, not zero).

========================  =====================  ==================================================
``model`` (method)        targets                what it is (:mod:`gdl.baselines`)
========================  =====================  ==================================================
``two_point_lstsq``       ``omega_m, sigma_8``   24-bin two-point function + least squares
``pair_distance_lstsq``   ``omega_m, sigma_8``   CosmoBench pair-distance features + least squares
``linear_theory``         ``velocity``           linear-theory velocity, β and R fitted on training
========================  =====================  ==================================================

A baseline is run only when it predicts every target of the sweep; a sweep none of them covers is
an error naming the targets. Existing finished baseline runs are kept (the command resumes), unless
``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ["METHODS", "BaselineMethod", "main", "run_baselines"]


@dataclass(frozen=True)
class BaselineMethod:
    """A domain baseline: the targets it predicts and how it is fitted and applied.

    ``fit_predict(train, test, grid)`` takes lists of ``(pos [n, 3], box, {target: array})`` and
    returns ``({target: prediction [rows, dim]}, num_parameters, description)`` for the test clouds.
    """

    name: str
    targets: frozenset[str]
    fit_predict: Callable[..., tuple[dict[str, np.ndarray], int, str]]


def _least_squares(features: Callable[[np.ndarray, float], np.ndarray]):
    def fit_predict(train, test, grid, targets):
        from .regression import LeastSquares

        X_train = np.stack([features(pos, box) for pos, box, _ in train])
        X_test = np.stack([features(pos, box) for pos, box, _ in test])
        Y = np.concatenate([np.concatenate([y[t].reshape(1, -1) for t in targets], 1) for _, _, y in train])
        model = LeastSquares().fit(X_train, Y)
        pred = model.predict(X_test).reshape(len(test), len(targets))
        return {t: pred[:, [j]] for j, t in enumerate(targets)}, model.num_parameters, repr(features)

    return fit_predict


def _linear_theory(train, test, grid, targets):
    from .velocity import LinearTheoryVelocity

    ltv = LinearTheoryVelocity(grid=grid).fit((pos, y["velocity"], box) for pos, box, y in train)
    pred = np.concatenate([ltv.predict(pos, box) for pos, box, _ in test])
    return {"velocity": pred}, 2, f"LinearTheoryVelocity(grid={grid}, R={ltv.smoothing_:.4g} Mpc/h)"


def _methods() -> dict[str, BaselineMethod]:
    from .two_point import PairDistanceFeatures, TwoPointFeatures

    cosmo = frozenset({"omega_m", "sigma_8"})
    return {
        "two_point_lstsq": BaselineMethod("two_point_lstsq", cosmo, _least_squares(TwoPointFeatures())),
        "pair_distance_lstsq": BaselineMethod(
            "pair_distance_lstsq", cosmo, _least_squares(PairDistanceFeatures())
        ),
        "linear_theory": BaselineMethod("linear_theory", frozenset({"velocity"}), _linear_theory),
    }


#: The baselines by ``model`` name (module docstring).
METHODS: dict[str, BaselineMethod] = _methods()


def _job_configs(sweep: Path) -> list[tuple[Path, Any]]:
    from omegaconf import OmegaConf

    jobs = []
    for cfg_path in sorted((sweep).glob("*/.hydra/config.yaml")):
        job = cfg_path.parent.parent
        if job.name.startswith("baseline_"):
            continue
        jobs.append((job, OmegaConf.load(cfg_path)))
    if not jobs:
        raise FileNotFoundError(
            f"no job directories with .hydra/config.yaml under {str(sweep)!r} (expected the sweep "
            "directory of gdl-train -m, e.g. logs/ablation_galaxy_cosmology_scaling/multiruns/<time>)"
        )
    return jobs


def _experiment(job: Path) -> str:
    m = job / "metrics.json"
    if m.is_file():
        try:
            exp = json.loads(m.read_text()).get("experiment")
            if exp:
                return str(exp)
        except ValueError:
            pass
    h = job / ".hydra" / "hydra.yaml"
    if h.is_file():
        choices = ((yaml.safe_load(h.read_text()) or {}).get("hydra", {}).get("runtime", {}) or {}).get(
            "choices", {}
        )
        return str(choices.get("experiment") or "")
    return ""


def _clouds(split) -> list[tuple[np.ndarray, float, dict[str, np.ndarray]]]:
    out = []
    for data in split:
        fields = {k: data[k].double().numpy() for k in ("omega_m", "sigma_8", "velocity", "bias")}
        out.append((data.pos.double().numpy(), float(data.box[0, 0]), fields))
    return out


def run_baselines(
    sweep: str | Path, methods: Sequence[str] | None = None, force: bool = False, log=print
) -> list[Path]:
    """Write one baseline run directory per (method, distinct data configuration) of the jobs under
    ``sweep`` (module docstring). Returns the run directories (written or kept).

    Args:
        sweep: the sweep directory of a galaxy ``gdl-train -m`` run.
        methods: names in :data:`METHODS`; ``None`` runs every baseline that predicts all of the
            sweep's targets. Default ``None``.
        force: rewrite finished baseline runs. Default ``False``.
        log: called with a line of progress. Default ``print``.

    Raises ``FileNotFoundError`` when ``sweep`` holds no job, ``ValueError`` for an unknown method, a
    sweep that is not on galaxy clouds, or targets no baseline predicts.
    """
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from ..data.datamodules import GalaxyDataModule
    from ..training.metrics import TypedErrors, unit_of

    sweep = Path(sweep)
    if not sweep.is_dir():
        raise FileNotFoundError(f"{str(sweep)!r} is not a directory (expected a gdl-train sweep directory)")
    if methods is not None:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown baseline(s) {unknown}; valid: {sorted(METHODS)}")
    groups: dict[str, tuple[Path, Any]] = {}
    for job, cfg in _job_configs(sweep):
        data = OmegaConf.to_container(cfg.data, resolve=True)
        if data.get("_target_") != "gdl.data.datamodules.GalaxyDataModule":
            raise ValueError(
                f"{job}: data is {data.get('_target_')!r}; the domain baselines need galaxy clouds "
                "(gdl.data.datamodules.GalaxyDataModule)"
            )
        groups.setdefault(json.dumps(data, sort_keys=True), (job, cfg))
    written = []
    for job, cfg in groups.values():
        dm = instantiate(cfg.data, _convert_="all")
        assert isinstance(dm, GalaxyDataModule)
        targets = [t.name for t in dm.targets]
        chosen = [
            METHODS[m] for m in (methods or METHODS) if set(targets) <= METHODS[m].targets
        ]
        if not chosen:
            raise ValueError(
                f"no baseline predicts the targets {targets} of {job}; "
                + ", ".join(f"{m.name}: {sorted(m.targets)}" for m in METHODS.values())
            )
        metric_names = list(OmegaConf.to_container(cfg.module.metrics, resolve=True))
        units = OmegaConf.to_container(cfg.module.units, resolve=True) if cfg.module.get("units") else None
        splits = None
        for method in chosen:
            n = int(dm.train_size) if dm.train_size is not None else None
            out = sweep / f"baseline_{method.name}_n{n if n is not None else 'all'}"
            if (out / "metrics.json").is_file() and not force:
                try:
                    if json.loads((out / "metrics.json").read_text()).get("status") == "finished":
                        log(f"kept {out.name} (finished; --force rewrites it)")
                        written.append(out)
                        continue
                except ValueError:
                    pass
            if splits is None:
                splits = {k: _clouds(v) for k, v in dm.build_splits().items() if k in ("train", "test")}
            t0 = time.perf_counter()
            pred, num_params, description = method.fit_predict(
                splits["train"], splits["test"], dm.config.grid, targets
            )
            fit_time = time.perf_counter() - t0
            record: dict[str, Any] = {
                "status": "finished",
                "dataset": dm.dataset_name,
                "experiment": _experiment(job),
                "model": method.name,
                "model_class": description,
                "strategy": "none",
                "targets": ",".join(targets),
                "target_specs": ",".join(f"{t.name}:{t.level}:{t.irreps}" for t in dm.targets),
                "metrics": ",".join(metric_names),
                "train_size": dm.train_size,
                "num_train": len(splits["train"]),
                "num_val": 0,
                "num_test": len(splits["test"]),
                "seed": int(cfg.data.seed),
                "num_params": int(num_params),
                "fit_time_s": fit_time,
                "baseline_of": str(job),
                "baseline_definition": (
                    "domain baseline (gdl.baselines.ablation): fitted on the job's training clouds, "
                    "scored on its test clouds with gdl.training.metrics.TypedErrors"
                ),
            }
            for t in dm.targets:
                unit, factor = unit_of(t.name, units)
                truth = np.concatenate([y[t.name].reshape(-1, t.dim) for _, _, y in splits["test"]])
                metric = TypedErrors(t, metric_names, factor)
                metric.update(torch.from_numpy(pred[t.name].reshape(-1, t.dim)), torch.from_numpy(truth))
                record[f"unit/{t.name}"] = unit
                record.update({f"test/{t.name}/{k}": float(v) for k, v in metric.compute().items()})
            (out / ".hydra").mkdir(parents=True, exist_ok=True)
            overrides = [f"baseline={method.name}"] + ([f"data.train_size={n}"] if n is not None else [])
            (out / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
            tmp = out / "metrics.json.tmp"
            tmp.write_text(json.dumps({**record, "run_dir": str(out)}, indent=1))
            tmp.replace(out / "metrics.json")
            scores = ", ".join(
                f"{t}/{k} {record[f'test/{t}/{k}']:.4g}" for t in targets for k in metric_names
            )
            log(f"wrote {out.name}: {scores} ({fit_time:.1f} s)")
            written.append(out)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m gdl.baselines.ablation",
        description="Domain baselines on the clouds of a galaxy sweep, as run directories gdl-ablate reads.",
    )
    p.add_argument("sweep", type=Path, help="the sweep directory of gdl-train -m (holding the job folders)")
    p.add_argument("--method", action="append", default=None, choices=sorted(METHODS),
                   help="a baseline to run (repeatable; default: every one that predicts the targets)")
    p.add_argument("--force", action="store_true", help="rewrite finished baseline runs")
    args = p.parse_args(argv)
    try:
        run_baselines(args.sweep, args.method, args.force)
    except (FileNotFoundError, ValueError) as e:
        print(f"gdl.baselines.ablation: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
