"""Datasets, splits and transforms: QM9 (offline, from qm9pack) and the charged N-body system."""

from .nbody import NBODY_SPLIT_SIZES, NBODY_TRAIN_SIZES, NBodyCharged
from .nbody_sim import NBodyConfig, charged_energy, charged_forces, initial_conditions, simulate_charged
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
    "NBODY_SPLIT_SIZES",
    "NBODY_TRAIN_SIZES",
    "QM9",
    "SPLITS",
    "Center",
    "ChargeProducts",
    "FullyConnected",
    "KNNGraph",
    "NBodyCharged",
    "NBodyConfig",
    "RadiusGraph",
    "RandomRotation",
    "SelectTargets",
    "SplitSpec",
    "Standardize",
    "charged_energy",
    "charged_forces",
    "fully_connected_index",
    "gather_fields",
    "initial_conditions",
    "mulliken_multipoles",
    "nested_subset",
    "qm9_atomref",
    "qm9_target_index",
    "register_split",
    "simulate_charged",
    "split_indices",
]
