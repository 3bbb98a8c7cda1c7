"""Networks assembled from gdl layers, one per route, with typed outputs (:class:`GDLModel`)."""

from .base import GDLModel, check_batch

__all__ = ["GDLModel", "check_batch"]

from .group_conv_net import GroupConvNet  # noqa: E402

__all__ += ["GroupConvNet"]
