"""Datasets, splits and transforms: QM9 (offline, from qm9pack) and the charged N-body system."""

from .qm9 import QM9, mulliken_multipoles, qm9_atomref, qm9_target_index
from .splits import SPLITS, SplitSpec, nested_subset, register_split, split_indices
from .standardize import Standardize, gather_fields
from .transforms import (
    Center,
    ChargeProducts,
    FullyConnected,
    KNNGraph,
    RadiusGraph,
    RandomRotation,
    SelectTargets,
    fully_connected_index,
)

__all__ = [
    "QM9",
    "SPLITS",
    "Center",
    "ChargeProducts",
    "FullyConnected",
    "KNNGraph",
    "RadiusGraph",
    "RandomRotation",
    "SelectTargets",
    "SplitSpec",
    "Standardize",
    "fully_connected_index",
    "gather_fields",
    "mulliken_multipoles",
    "nested_subset",
    "qm9_atomref",
    "qm9_target_index",
    "register_split",
    "split_indices",
]
