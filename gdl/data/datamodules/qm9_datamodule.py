"""The QM9 data module: a named split, a nested training subset, radius graphs, atom references."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...keys import QM9_TARGETS, TargetLike
from .._paths import data_root
from ..datasets.qm9 import QM9, qm9_atomref
from ..datasets.splits import nested_subset, split_indices
from ..transforms.graphs import RadiusGraph
from ..transforms.standardize import Standardize
from ..transforms.targets import SelectTargets
from .graph_datamodule import GraphDataModule, _positive_or_none, _typed

__all__ = ["QM9DataModule"]


@functools.lru_cache(maxsize=2)
def _load_qm9(root: str) -> QM9:
    """One loaded QM9 per root and process (splits are ``index_select`` views with their own transforms)."""
    return QM9(root)


class QM9DataModule(GraphDataModule):
    """QM9 (:class:`gdl.data.QM9`) with a named split, a nested training subset and radius graphs.

    Targets: PyG's 19 columns (graph ``0e``; energies in eV, reported in meV), ``charges`` (node
    ``0e``), ``dipole_vec`` (graph ``1o``, Debye), ``quadrupole`` (graph ``2e``), ``polarizability``
    (graph ``3x0e``). ``U0``, ``U``, ``H`` and ``G`` are standardised after subtracting the free-atom
    reference energies (:func:`gdl.data.qm9_atomref`).

    Args:
        targets: see :class:`GraphDataModule`.
        root: folder of the processed dataset. Default ``None`` (``$GDL_DATA_DIR/qm9`` or
            ``<repo>/data/qm9``).
        split: a name of :data:`gdl.data.SPLITS`. Default ``"cormorant"``.
        seed: seed of the split's permutation. Default ``0`` (the published Cormorant split).
        train_size: first ``train_size`` training molecules. Default ``None`` (all).
        val_size: first ``val_size`` validation molecules (cheaper validation). Default ``None`` (all).
        test_size: first ``test_size`` test molecules. Default ``None`` (all).
        graph: graph transform. Default ``None`` (``RadiusGraph(5.0)``).
        batch_size: graphs per batch. Default ``32``.
        num_workers: data-loader workers. Default ``0``.
    """

    dataset_name = "qm9"
    available = _typed([*QM9_TARGETS, "charges", "dipole_vec", "quadrupole", "polarizability"])

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        root: str | os.PathLike | None = None,
        split: str = "cormorant",
        seed: int = 0,
        train_size: int | None = None,
        val_size: int | None = None,
        test_size: int | None = None,
        graph: Callable | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            targets, graph if graph is not None else RadiusGraph(5.0), batch_size, num_workers, train_size
        )
        self.root = Path(root).expanduser() if root is not None else data_root("qm9")
        self.split, self.seed = split, int(seed)
        self.val_size = _positive_or_none(val_size, "val_size")
        self.test_size = _positive_or_none(test_size, "test_size")

    def prepare_data(self) -> None:
        _load_qm9(str(self.root))  # processes the CSV files once

    def build_splits(self) -> dict[str, Any]:
        qm9 = _load_qm9(str(self.root))
        idx = split_indices(len(qm9), self.split, self.seed, self.train_size)
        idx["val"] = nested_subset(idx["val"], self.val_size, "validation")
        idx["test"] = nested_subset(idx["test"], self.test_size, "test")
        return {k: qm9.index_select(v) for k, v in idx.items()}

    def item_transforms(self) -> list[Callable]:
        return [SelectTargets(self.target_names), *super().item_transforms()]

    def make_scaler(self) -> Standardize:
        refs = {t.name: qm9_atomref(t.name) for t in self.targets if t.name in QM9_TARGETS}
        return Standardize(self.targets, atomref={k: v for k, v in refs.items() if v is not None})
