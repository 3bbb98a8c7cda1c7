"""The data module of the synthetic galaxy clouds: split by cloud, periodic k-NN graphs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ...keys import TargetLike
from .._paths import data_root
from ..datasets.galaxy import GalaxyClouds
from ..datasets.splits import SplitSpec, split_indices
from ..sim.galaxy_config import GalaxyConfig
from ..transforms.periodic import PeriodicKNNGraph
from .graph_datamodule import GraphDataModule, _typed

__all__ = ["GalaxyDataModule"]


class GalaxyDataModule(GraphDataModule):
    """Synthetic galaxy clouds (:class:`gdl.data.GalaxyClouds`) in a periodic box, split by cloud
    into train/validation/test with a seeded permutation, graphs with minimum-image ``edge_vec``.

    Targets: ``omega_m``, ``sigma_8``, ``bias`` (graph ``0e``), ``velocity`` (node ``1o``, km/s),
    ``shape`` (node ``2e``).

    Args:
        targets: see :class:`GraphDataModule`.
        num_clouds: clouds in all splits together. Default ``1000``.
        config: :class:`~gdl.data.GalaxyConfig` or a mapping of its fields. Default ``None`` (defaults).
        seed: seed of the clouds and of the split. Default ``0``.
        root: cache folder; ``None`` uses ``$GDL_DATA_DIR/galaxy`` or ``<repo>/data/galaxy``.
            Default ``None``.
        val_size: validation clouds. Default ``100``.
        test_size: test clouds. Default ``100``.
        train_size: first ``train_size`` of the remaining training clouds. Default ``None`` (all).
        graph: graph transform. Default ``None`` (``PeriodicKNNGraph(10)``).
        batch_size: clouds per batch. Default ``4``.
        num_workers: data-loader workers (and processes filling the cache). Default ``0``.
    """

    dataset_name = "galaxy"
    available = _typed(["omega_m", "sigma_8", "bias", "velocity", "shape"])

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        num_clouds: int = 1000,
        config: GalaxyConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        root: str | os.PathLike | None = None,
        val_size: int = 100,
        test_size: int = 100,
        train_size: int | None = None,
        graph: Callable | None = None,
        batch_size: int = 4,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            targets, graph if graph is not None else PeriodicKNNGraph(10), batch_size, num_workers, train_size
        )
        self.config = GalaxyConfig.from_any(config)
        self.num_clouds, self.seed = int(num_clouds), int(seed)
        self.root = Path(root).expanduser() if root is not None else data_root("galaxy")
        self.spec = SplitSpec(
            "galaxy", self.num_clouds - int(val_size) - int(test_size), int(val_size), int(test_size)
        )
        if self.spec.train < 1:
            raise ValueError(
                f"GalaxyDataModule: {num_clouds} clouds leave no training cloud after val_size={val_size} "
                f"and test_size={test_size}"
            )

    def _dataset(self) -> GalaxyClouds:
        return GalaxyClouds(
            self.num_clouds, self.config, seed=self.seed, root=self.root, num_workers=self.num_workers
        )

    def prepare_data(self) -> None:
        self._dataset()  # fills the cache once

    def build_splits(self) -> dict[str, Any]:
        clouds = self._dataset()
        idx = split_indices(len(clouds), self.spec, self.seed, self.train_size)
        return {k: clouds.index_select(v) for k, v in idx.items()}
