"""``gdl-eval``: evaluate a checkpoint of a ``gdl-train`` run on a split and write ``metrics.json``.

::

    gdl-eval logs/train/runs/<time>                    # best checkpoint, test split
    gdl-eval <run> --split val --ckpt last             # last weights on the validation split
    gdl-eval <run> --ckpt path/to.ckpt --out results/x data.test_size=5000   # extra overrides

The run's configuration is recomposed from the overrides Hydra saved with it
(``<run>/.hydra/overrides.yaml``, written by ``gdl-train``) plus any given here, with the configs of
this checkout. The record (:func:`gdl.training.evaluate.evaluate`) goes to
``<run>/eval/<split>-<ckpt>/metrics.json`` by default (the run's own ``metrics.json`` is never
touched); an existing finished evaluation there is not overwritten. Exit status 0 on success, 2
when the run directory, its overrides or the checkpoint are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main", "parser", "resolve_checkpoint"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gdl-eval", description="Evaluate a gdl-train checkpoint on a split.")
    p.add_argument(
        "run_dir", type=Path, help="the run directory of gdl-train (holds .hydra/ and checkpoints/)"
    )
    p.add_argument("--split", default="test", choices=["test", "val", "train"], help="default: test")
    p.add_argument(
        "--ckpt",
        default="best",
        help="best (the run's best_checkpoint, else checkpoints/best*.ckpt), last, or a path",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default <run>/eval/<split>-<ckpt>)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides (e.g. data.test_size=5000)")
    return p


def resolve_checkpoint(run_dir: Path, ckpt: str) -> Path:
    """``best``: the run's ``best_checkpoint`` (``metrics.json``), else the one ``best*.ckpt`` in
    ``checkpoints/``; ``last``: ``checkpoints/last.ckpt``; otherwise a path."""
    if ckpt == "last":
        path = run_dir / "checkpoints" / "last.ckpt"
    elif ckpt == "best":
        metrics = run_dir / "metrics.json"
        best = json.loads(metrics.read_text()).get("best_checkpoint") if metrics.is_file() else None
        candidates = sorted((run_dir / "checkpoints").glob("best*.ckpt")) if not best else [Path(best)]
        if len(candidates) != 1:
            raise FileNotFoundError(
                f"no single best checkpoint for {run_dir} (metrics.json has no best_checkpoint and "
                f"checkpoints/ holds {[c.name for c in candidates]}): pass --ckpt last or a path"
            )
        path = candidates[0]
    else:
        path = Path(ckpt)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (--ckpt {ckpt})")
    return path


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    args = parser().parse_args(argv)
    from .._extras import require

    require("train", "gdl-eval")
    import yaml

    from ..training import compose
    from ..training.evaluate import evaluate

    run_dir = args.run_dir
    saved = run_dir / ".hydra" / "overrides.yaml"
    try:
        if not saved.is_file():
            raise FileNotFoundError(
                f"{saved} not found: gdl-eval needs a run directory written by gdl-train (its "
                ".hydra/overrides.yaml recomposes the configuration)"
            )
        ckpt = resolve_checkpoint(run_dir, args.ckpt)
    except FileNotFoundError as e:
        print(f"gdl-eval: {e}", file=sys.stderr)
        return 2
    run_overrides = [o for o in (yaml.safe_load(saved.read_text()) or []) if not o.startswith("ckpt_path=")]
    name = args.ckpt if args.ckpt in ("best", "last") else ckpt.stem
    out = args.out if args.out is not None else run_dir / "eval" / f"{args.split}-{name}"
    cfg = compose([*run_overrides, *args.overrides], run_dir=out)
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.evaluated_run = str(run_dir.absolute())
    evaluate(cfg, ckpt, args.split)
    print(f"\nwrote {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
