"""Datasets, transforms and graph construction for gdl.

Galaxy point clouds: :class:`GalaxyClouds` (synthetic, :mod:`gdl.data.galaxy_mocks`), the real
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
    ZeldovichGenerator,
    make_generator,
)
from .periodic import (
    PeriodicKNNGraph,
    PeriodicRadiusGraph,
    minimum_image,
    periodic_knn_graph,
    periodic_radius_graph,
)

__all__ = [
    "Cloud",
    "CloudNoise",
    "CloudParams",
    "Cosmology",
    "CosmoBench",
    "GalaxyClouds",
    "GalaxyConfig",
    "GalaxyGenerator",
    "LinearPower",
    "PeriodicKNNGraph",
    "PeriodicRadiusGraph",
    "PointCloudFile",
    "QuijoteTFRecord",
    "ZeldovichGenerator",
    "cloud_to_data",
    "growth_rate",
    "make_generator",
    "minimum_image",
    "periodic_knn_graph",
    "periodic_radius_graph",
]
