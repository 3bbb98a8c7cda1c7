"""Datasets, splits, transforms and graph construction for gdl.

* QM9 (offline, from qm9pack) and the charged N-body system, with the split registry, target
  selection, standardisation and graph transforms.
* Galaxy point clouds: :class:`GalaxyClouds` (synthetic, :mod:`gdl.data.galaxy_mocks`), the real
  catalogue loaders :class:`CosmoBench`, :class:`QuijoteTFRecord`, :class:`PointCloudFile`, and
  periodic graphs :class:`PeriodicKNNGraph`, :class:`PeriodicRadiusGraph`.
"""

from .catalogues import CosmoBench, PointCloudFile, QuijoteTFRecord
from .cosmology import Cosmology, LinearPower, growth_rate
from .galaxy import GalaxyClouds, cloud_to_data
from .galaxy_config import GalaxyConfig
from .galaxy_mocks import (
    Cloud,
    CloudNoise,
    CloudParams,
    GalaxyGenerator,
    SecondOrderGenerator,
    ZeldovichGenerator,
    make_generator,
)
from .nbody import NBODY_SPLIT_SIZES, NBODY_TRAIN_SIZES, NBodyCharged
from .nbody_sim import NBodyConfig, charged_energy, charged_forces, initial_conditions, simulate_charged
from .periodic import (
    PeriodicKNNGraph,
    PeriodicRadiusGraph,
    minimum_image,
    periodic_knn_graph,
    periodic_radius_graph,
)
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
    "Cloud",
    "CloudNoise",
    "CloudParams",
    "CosmoBench",
    "Cosmology",
    "FullyConnected",
    "GalaxyClouds",
    "GalaxyConfig",
    "GalaxyGenerator",
    "KNNGraph",
    "LinearPower",
    "NBodyCharged",
    "NBodyConfig",
    "PeriodicKNNGraph",
    "PeriodicRadiusGraph",
    "PointCloudFile",
    "QuijoteTFRecord",
    "RadiusGraph",
    "RandomRotation",
    "SelectTargets",
    "SplitSpec",
    "Standardize",
    "SecondOrderGenerator",
    "ZeldovichGenerator",
    "charged_energy",
    "charged_forces",
    "cloud_to_data",
    "fully_connected_index",
    "gather_fields",
    "growth_rate",
    "initial_conditions",
    "make_generator",
    "minimum_image",
    "mulliken_multipoles",
    "nested_subset",
    "periodic_knn_graph",
    "periodic_radius_graph",
    "qm9_atomref",
    "qm9_target_index",
    "register_split",
    "simulate_charged",
    "split_indices",
]
