"""Equivariance checks and reusable test helpers for gdl layers, models and strategies.

``equivariance_error``/``assert_equivariant`` test any function or module on PyG data or tensors
under rotations, reflections, translations and node permutations (float64 by default);
``default_dtype`` switches torch's default dtype for the duration of a block.
"""

from ..dtype import default_dtype
from ..groups.action import FieldType, edge, graph, node
from .equivariance import TRANSFORMS, EquivarianceErrors, assert_equivariant, equivariance_error

__all__ = [
    "TRANSFORMS",
    "EquivarianceErrors",
    "FieldType",
    "assert_equivariant",
    "default_dtype",
    "edge",
    "equivariance_error",
    "graph",
    "node",
]
