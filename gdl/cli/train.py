"""``gdl-train``: run one training experiment (or a sweep with ``-m``) from the Hydra configs in
``conf/``. A thin shell around :func:`gdl.training.train`; see ``docs/training.md``::

    gdl-train                                   # the default experiment: QM9 HOMO with EGNN, CPU
    gdl-train experiment=nbody model=egnn       # the EGNN paper's N-body protocol
    gdl-train -m model=egnn,invariant seed=0,1  # four runs (hydra/launcher=joblib to parallelise)
    gdl-train hydra.run.dir=<run> ckpt_path=last   # resume an interrupted run
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

#: The Hydra config directory of a source checkout (``pip install -e .``); as gdl.training.CONFIG_DIR.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def _run(cfg: Any) -> dict[str, Any]:
    from ..training import train

    return train(cfg)


def main() -> None:
    """Console entry point (``gdl-train``); Hydra parses ``sys.argv``."""
    if not (CONFIG_DIR / "train.yaml").is_file():
        sys.exit(
            f"gdl-train: no Hydra configs at {CONFIG_DIR} (conf/train.yaml): gdl-train runs from a source "
            "checkout installed with `pip install -e .` (what `make install` does)"
        )
    from .._extras import require

    require("train", "gdl-train")
    import hydra

    hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")(_run)()


if __name__ == "__main__":
    main()
