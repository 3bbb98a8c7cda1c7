"""Equivariance checks and reusable test helpers for gdl layers, models and strategies.

``equivariance_error``/``assert_equivariant`` test any function or module on PyG data or tensors
under rotations, reflections, translations and node permutations (float64 by default);
``default_dtype`` switches torch's default dtype for the duration of a block; ``float64_atol``
gives float64 tolerances from the conditioning of a computation (:mod:`gdl.testing.tolerance`);
``count_host_syncs`` counts device-to-host synchronisations (:mod:`gdl.testing.sync`).
"""

from ..action import FieldType, edge, graph, node
from ..dtype import default_dtype
from .equivariance import TRANSFORMS, EquivarianceErrors, assert_equivariant, equivariance_error
from .sync import HostSyncs, count_host_syncs
from .tolerance import EPS64, float64_atol

__all__ = [
    "EPS64",
    "TRANSFORMS",
    "HostSyncs",
    "EquivarianceErrors",
    "FieldType",
    "assert_equivariant",
    "count_host_syncs",
    "default_dtype",
    "edge",
    "equivariance_error",
    "float64_atol",
    "graph",
    "node",
]
