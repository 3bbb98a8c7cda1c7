r"""Named train/validation/test splits and nested training subsets for learning curves.

A split is a seeded random permutation of the items cut into consecutive blocks
``train | val | test``. The registry :data:`SPLITS` holds the splits of the published QM9 tables
(the papers in the last column):

======================  =========  ========  ==========  =============================================
name                    train      val       test        used by
======================  =========  ========  ==========  =============================================
``cormorant``           100,000    17,748    13,083      Cormorant, EGNN, LieConv, SEGNN ("C")
``dimenet``             110,000    10,000    the rest    SchNet, DimeNet++, PaiNN ("D")
======================  =========  ========  ==========  =============================================

The permutation is ``numpy.random.RandomState(seed).permutation(num_items)``. With ``seed=0`` over
the 130,831 QM9 molecules in index order this is exactly the permutation of Cormorant's
``gen_splits_gdb9`` (``np.random.seed(0); np.random.permutation(Nmols)``, cut as above), which EGNN
reuses. Cormorant permutes the 133,885 − 3,054 molecules left after removing the uncharacterised
ones, in index order; qm9pack ships exactly 130,831 molecules in index order (its list of the
3,054 could not be compared offline), so the ``cormorant`` split reproduces the published one
molecule for molecule if the two sets agree, as their counts do. The ``dimenet`` split
reproduces the sizes; DimeNet drew its permutation over its own data file, which could not be
checked offline, so its exact membership is not claimed.

``train_size=n`` keeps the first ``n`` training items in permutation order, so for a fixed seed the
subsets are nested (the 1,000-item subset lies inside the 2,000-item one) and validation and test
sets do not change with ``n``.

Example::

    idx = split_indices(len(dataset), "cormorant", seed=0, train_size=1000)
    train, val, test = (dataset.index_select(idx[k]) for k in ("train", "val", "test"))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SPLITS", "SplitSpec", "nested_subset", "register_split", "split_indices"]

#: Names of the parts of a split, in order.
PARTS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class SplitSpec:
    """Sizes of a named split.

    Args:
        name: registry key.
        train: number of training items.
        val: number of validation items.
        test: number of test items, or ``None`` for all remaining items. Default ``None``.
        doc: where the split comes from. Default ``""``.
    """

    name: str
    train: int
    val: int
    test: int | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        for part in PARTS:
            n = getattr(self, part)
            if n is not None and (not isinstance(n, int) or n < 0):
                raise ValueError(
                    f"split {self.name!r}: size of {part!r} must be a non-negative int, got {n!r}"
                )

    def sizes(self, num_items: int) -> tuple[int, int, int]:
        """``(train, val, test)`` for ``num_items`` items, with a clear error if they do not fit."""
        fixed = self.train + self.val + (self.test or 0)
        if fixed > num_items:
            raise ValueError(
                f"split {self.name!r} needs {fixed} items ({self.train} / {self.val} / "
                f"{self.test if self.test is not None else 'rest'}) but the dataset has {num_items}"
            )
        test = self.test if self.test is not None else num_items - self.train - self.val
        return self.train, self.val, test


#: The registry of named splits (module docstring).
SPLITS: dict[str, SplitSpec] = {
    "cormorant": SplitSpec(
        "cormorant", 100_000, 17_748, 13_083, "Cormorant / EGNN / LieConv / SEGNN (split C)"
    ),
    "dimenet": SplitSpec("dimenet", 110_000, 10_000, None, "SchNet / DimeNet++ / PaiNN sizes (split D)"),
}


def register_split(spec: SplitSpec) -> None:
    """Add a split to :data:`SPLITS` (an existing name raises)."""
    if spec.name in SPLITS:
        raise ValueError(f"a split named {spec.name!r} is already registered")
    SPLITS[spec.name] = spec


def _spec(split: str | SplitSpec) -> SplitSpec:
    if isinstance(split, SplitSpec):
        return split
    try:
        return SPLITS[split]
    except (KeyError, TypeError):
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(sorted(SPLITS))}") from None


def nested_subset(train: torch.Tensor, train_size: int | None, split_name: str = "training") -> torch.Tensor:
    """The first ``train_size`` items of ``train`` (all of them for ``None``); nested in ``train_size``."""
    if train_size is None:
        return train
    n = int(train.numel())
    if (
        isinstance(train_size, bool)
        or not isinstance(train_size, (int, np.integer))
        or not 1 <= train_size <= n
    ):
        raise ValueError(
            f"train_size={train_size!r} is not available: the {split_name} split has {n} items; "
            f"valid train_size values are 1..{n} (or None for all)"
        )
    return train[: int(train_size)]


def split_indices(
    num_items: int,
    split: str | SplitSpec = "cormorant",
    seed: int = 0,
    train_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Indices ``{"train", "val", "test"}`` (int64 tensors, permutation order) of a named split.

    Args:
        num_items: number of items in the dataset.
        split: a name in :data:`SPLITS` or a :class:`SplitSpec`. Default ``"cormorant"``.
        seed: seed of the permutation (``numpy.random.RandomState``). Default ``0`` (Cormorant's).
        train_size: keep only the first ``train_size`` training items (nested subsets). Default ``None``.
    """
    spec = _spec(split)
    n_train, n_val, n_test = spec.sizes(int(num_items))
    perm = torch.from_numpy(np.random.RandomState(seed).permutation(int(num_items))).long()
    out = {
        "train": perm[:n_train],
        "val": perm[n_train : n_train + n_val],
        "test": perm[n_train + n_val : n_train + n_val + n_test],
    }
    out["train"] = nested_subset(out["train"], train_size, f"{spec.name!r} training")
    return out
