r"""Lightning data modules for QM9, the galaxy clouds and the charged N-body system.

This module imports Lightning; ``import gdl.data`` does not import it (use
``from gdl.data.datamodules import QM9DataModule``).

Every data module

* checks at construction — before any data is read — that the requested targets exist in the
  dataset with the declared type (level and irreps), with an error that lists the valid targets;
* cuts train/validation/test splits (:mod:`gdl.data.splits` for QM9 and the galaxy clouds,
  separately seeded simulations for N-body) with a nested ``train_size`` subset;
* builds graphs with an injected transform (``graph``: :class:`~gdl.data.RadiusGraph`,
  :class:`~gdl.data.PeriodicKNNGraph`, ...), applied to each item when it is read (so data-loader
  workers share the work);
* fits :class:`~gdl.data.Standardize` on the training split only (``scaler``) and applies it to
  whole batches once they are on the device (``on_after_batch_transfer``; vectorised, about 200x
  cheaper than per item for N-body batches), so training steps see standardised targets;
  ``scaler.inverse`` maps predictions back;
* shuffles the training set with a permutation drawn from ``(seed, epoch)`` — torch's
  ``DistributedSampler`` with one replica in a single process, Lightning's ``DistributedSampler``
  over all processes under DDP, both seeded by ``lightning.seed_everything`` (``PL_GLOBAL_SEED``) —
  so an epoch's order does not depend on what ran before it and a resumed run replays it exactly.

Under DDP with ``W`` processes each process sees :math:`\lceil N/W \rceil` training graphs per
epoch (the sampler pads by repeating a few), so an epoch has
:math:`\lceil \lceil N/W \rceil / \mathrm{batch\_size} \rceil` optimizer steps instead of
:math:`\lceil N / \mathrm{batch\_size} \rceil` in one process, and the effective batch is
``W * batch_size``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

try:
    from lightning.pytorch import LightningDataModule
except ModuleNotFoundError as e:  # Lightning comes with the `train` extra
    from .._extras import missing_extra

    raise missing_extra("train", "gdl.data.datamodules (Lightning data modules)", ("lightning",)) from e
from torch.utils.data import DistributedSampler
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import Compose

from ..keys import FIELDS, QM9_TARGETS, Target, TargetLike, as_targets
from ._paths import data_root
from .galaxy import GalaxyClouds
from .galaxy_config import GalaxyConfig
from .nbody import NBODY_SPLIT_SIZES, NBodyCharged
from .periodic import PeriodicKNNGraph
from .qm9 import QM9, qm9_atomref
from .splits import SplitSpec, nested_subset, split_indices
from .standardize import Standardize
from .transforms import RadiusGraph, SelectTargets

__all__ = ["GalaxyDataModule", "GraphDataModule", "NBodyDataModule", "QM9DataModule"]


def _typed(names: Iterable[str]) -> dict[str, Target]:
    out = {}
    for n in names:
        info = FIELDS[n]
        out[n] = Target(n, info.rep, info.level)  # type: ignore[arg-type]
    return out


def _positive_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


class GraphDataModule(LightningDataModule):
    """Shared machinery of the gdl data modules (module docstring). Subclasses set
    ``dataset_name`` and ``available`` and implement :meth:`prepare_data` and :meth:`build_splits`.

    Args:
        targets: what the model predicts (:func:`gdl.keys.as_targets`); checked against ``available``.
        graph: transform that builds ``edge_index`` (and ``edge_vec``) per item; ``None`` keeps the
            dataset's own edges. Default ``None``.
        batch_size: graphs per batch. Default ``32``.
        num_workers: data-loader worker processes. Default ``0``.
        train_size: keep the first ``train_size`` training items (nested subsets). Default ``None`` (all).
    """

    #: short name written into metrics.json
    dataset_name: ClassVar[str] = "dataset"
    #: targets this dataset provides, with their types
    available: ClassVar[dict[str, Target]] = {}

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        graph: Callable | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        train_size: int | None = None,
    ) -> None:
        super().__init__()
        self.targets = self.check_targets(targets)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if int(num_workers) != num_workers or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        self.graph = graph
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.train_size = _positive_or_none(train_size, "train_size")
        self.scaler: Standardize | None = None
        self.splits: dict[str, Any] = {}

    # -- targets ---------------------------------------------------------------------------
    @classmethod
    def check_targets(cls, targets: TargetLike | Iterable[TargetLike]) -> tuple[Target, ...]:
        """The targets as :class:`Target` objects; raises naming the valid targets when one is not
        provided by the dataset or is declared with another type."""
        parsed = as_targets(targets)
        valid = ", ".join(f"{t.name} ({t.level} {t.irreps})" for t in cls.available.values())
        for t in parsed:
            have = cls.available.get(t.name)
            if have is None:
                raise ValueError(f"{cls.dataset_name} has no target {t.name!r}; valid targets: {valid}")
            if have.irreps != t.irreps or have.level != t.level:
                raise ValueError(
                    f"{cls.dataset_name} target {t.name!r} is {have.level} {have.irreps}, "
                    f"but it was declared as {t.level} {t.irreps}"
                )
        return parsed

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    # -- splits ----------------------------------------------------------------------------
    def build_splits(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """``{"train", "val", "test"}`` datasets without transforms."""
        raise NotImplementedError

    def item_transforms(self) -> list[Callable]:
        """Per-item transforms before standardisation (target selection, graph)."""
        return [self.graph] if self.graph is not None else []

    def make_scaler(self) -> Standardize:
        return Standardize(self.targets)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = self.build_splits()
        for part, ds in splits.items():
            if len(ds) == 0:
                raise ValueError(f"{self.dataset_name}: the {part} split is empty")
        self.scaler = self.make_scaler().fit(splits["train"])
        transforms = self.item_transforms()
        transform = Compose(transforms) if len(transforms) > 1 else (transforms[0] if transforms else None)
        for ds in splits.values():
            ds.transform = transform
        self.splits = splits

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Standardise the targets of a whole batch (:class:`~gdl.data.Standardize`)."""
        if self.scaler is None:
            raise RuntimeError(f"{type(self).__name__}: setup() has not fitted the scaler")
        return self.scaler(batch)

    @property
    def sizes(self) -> dict[str, int]:
        """Number of graphs per split (after :meth:`setup`)."""
        return {k: len(v) for k, v in self.splits.items()}

    # -- loaders ---------------------------------------------------------------------------
    def _loader(self, part: str, **kwargs: Any) -> DataLoader:
        if not self.splits:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for data loaders")
        return DataLoader(
            self.splits[part],
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            return self._loader("train", shuffle=True)  # Lightning injects a DistributedSampler
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        sampler = DistributedSampler(self.splits["train"], num_replicas=1, rank=0, shuffle=True, seed=seed)
        return self._loader("train", sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """The statistics are refitted from the same training split in :meth:`setup`; a checkpoint
        whose scaler differs from the refitted one means the data changed, and is refused."""
        saved = state_dict.get("scaler")
        if saved is None or self.scaler is None:
            return
        for name, std in saved["std"].items():
            now = self.scaler.std.get(name)
            if (
                now is None
                or not torch.allclose(now, std)
                or not torch.allclose(self.scaler.mean[name], saved["mean"][name])
            ):
                raise ValueError(
                    f"{self.dataset_name}: the checkpoint's standardisation of {name!r} differs from the one "
                    "fitted on this training split: the data or the split changed since the checkpoint"
                )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(targets={[str(t) for t in self.targets]}, train_size={self.train_size}, "
            f"batch_size={self.batch_size}, graph={self.graph!r})"
        )


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
