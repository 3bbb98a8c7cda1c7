"""Networks assembled from gdl layers, one per route, with typed outputs (:class:`GDLModel`)."""

from .base import GDLModel, check_batch

__all__ = ["GDLModel", "check_batch"]
