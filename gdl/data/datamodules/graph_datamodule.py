r"""The shared machinery of the Lightning data modules (:class:`GraphDataModule`).

The data modules import Lightning; ``import gdl.data`` does not import it (use
``from gdl.data.datamodules import QM9DataModule``).

Every data module

* checks at construction — before any data is read — that the requested targets exist in the
  dataset with the declared type (level and irreps), with an error that lists the valid targets;
* cuts train/validation/test splits (:mod:`gdl.data.datasets.splits` for QM9 and the galaxy clouds,
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

import os
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch

try:
    from lightning.pytorch import LightningDataModule
except ModuleNotFoundError as e:  # Lightning comes with the `train` extra
    from ..._extras import missing_extra

    raise missing_extra("train", "gdl.data.datamodules (Lightning data modules)", ("lightning",)) from e
from torch.utils.data import DistributedSampler
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import Compose

from ...keys import FIELDS, Target, TargetLike, as_targets
from ..transforms.standardize import Standardize

__all__ = ["GraphDataModule"]


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
