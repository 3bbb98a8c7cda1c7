"""Datasets, splits and transforms: QM9 (offline, from qm9pack) and the charged N-body system."""

from .splits import SPLITS, SplitSpec, nested_subset, register_split, split_indices

__all__ = [
    "SPLITS",
    "SplitSpec",
    "nested_subset",
    "register_split",
    "split_indices",
]
