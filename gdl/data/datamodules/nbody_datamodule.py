"""The data module of the charged N-body system: separately seeded train, validation and test
simulations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...keys import TargetLike
from ..datasets.nbody import NBODY_SPLIT_SIZES, NBodyCharged
from .graph_datamodule import GraphDataModule, _positive_or_none, _typed

__all__ = ["NBodyDataModule"]


class NBodyDataModule(GraphDataModule):
    """The charged N-body system (:class:`gdl.data.NBodyCharged`): separately seeded train,
    validation and test simulations, fully connected graphs with ``edge_attr = q_i q_j``.

    Target: ``displacement`` (node ``1o``): the position 1,000 steps ahead minus the input position,
    so the MSE on it is the MSE on positions of the EGNN paper.

    Args:
        targets: see :class:`GraphDataModule`. Default ``("displacement",)``.
        root: cache folder. Default ``None`` (``$GDL_DATA_DIR/nbody_charged`` or ``<repo>/data/...``).
        train_size: training trajectories. Default ``3000`` (the paper's).
        val_size: validation trajectories. Default ``2000``.
        test_size: test trajectories. Default ``2000``.
        field_strength: external field ε along z (0 keeps E(3) symmetry). Default ``0.0``.
        seed: base seed of the simulations. Default ``0``.
        graph: graph transform; ``None`` keeps the stored fully connected graph. Default ``None``.
        batch_size: systems per batch. Default ``100`` (the paper's).
        num_workers: data-loader workers. Default ``0``.
    """

    dataset_name = "nbody"
    available = _typed(["displacement"])

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike] = ("displacement",),
        root: str | os.PathLike | None = None,
        train_size: int | None = NBODY_SPLIT_SIZES["train"],
        val_size: int | None = NBODY_SPLIT_SIZES["val"],
        test_size: int | None = NBODY_SPLIT_SIZES["test"],
        field_strength: float = 0.0,
        seed: int = 0,
        graph: Callable | None = None,
        batch_size: int = 100,
        num_workers: int = 0,
    ) -> None:
        super().__init__(targets, graph, batch_size, num_workers, train_size)
        self.root = Path(root).expanduser() if root is not None else None
        self.sizes_requested = {
            "train": self.train_size or NBODY_SPLIT_SIZES["train"],
            "val": _positive_or_none(val_size, "val_size") or NBODY_SPLIT_SIZES["val"],
            "test": _positive_or_none(test_size, "test_size") or NBODY_SPLIT_SIZES["test"],
        }
        self.field_strength, self.seed = float(field_strength), int(seed)

    def _dataset(self, part: str) -> NBodyCharged:
        return NBodyCharged(
            self.root, part, self.sizes_requested[part], self.field_strength, self.seed, log=False
        )

    def prepare_data(self) -> None:
        for part in ("train", "val", "test"):
            self._dataset(part)

    def build_splits(self) -> dict[str, Any]:
        return {part: self._dataset(part) for part in ("train", "val", "test")}
