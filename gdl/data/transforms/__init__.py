"""Transforms of PyG ``Data``/``Batch`` for gdl datasets, one concern per module:

* :mod:`~gdl.data.transforms.euclidean` — :class:`RandomRotation` (every typed field, by the field
  registry) and :class:`Center`;
* :mod:`~gdl.data.transforms.graphs` — :class:`RadiusGraph`, :class:`KNNGraph`,
  :class:`FullyConnected` (:func:`fully_connected_index`) and :class:`ChargeProducts`;
* :mod:`~gdl.data.transforms.periodic` — k-NN and radius graphs in a periodic box with
  minimum-image ``edge_vec``;
* :mod:`~gdl.data.transforms.targets` — :class:`SelectTargets`;
* :mod:`~gdl.data.transforms.standardize` — :class:`Standardize` of typed targets, fitted on the
  training split.
"""

from .euclidean import Center, RandomRotation
from .graphs import ChargeProducts, FullyConnected, KNNGraph, RadiusGraph, fully_connected_index
from .periodic import (
    PeriodicKNNGraph,
    PeriodicRadiusGraph,
    minimum_image,
    periodic_knn_graph,
    periodic_radius_graph,
)
from .standardize import Standardize, gather_fields
from .targets import SelectTargets

__all__ = [
    "Center",
    "ChargeProducts",
    "FullyConnected",
    "KNNGraph",
    "PeriodicKNNGraph",
    "PeriodicRadiusGraph",
    "RadiusGraph",
    "RandomRotation",
    "SelectTargets",
    "Standardize",
    "fully_connected_index",
    "gather_fields",
    "minimum_image",
    "periodic_knn_graph",
    "periodic_radius_graph",
]
