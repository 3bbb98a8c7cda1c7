"""Networks assembled from gdl layers, one per route, with typed outputs (:class:`GDLModel`)."""

from .base import GDLModel, check_batch
from .egnn import EGNN
from .group_conv_net import GroupConvNet
from .invariant_net import InvariantNet
from .plain_net import PlainNet

__all__ = [
    "GDLModel",
    "check_batch",
    # scalarization route and baselines
    "EGNN",
    "InvariantNet",
    "PlainNet",
    # regular representation
    "GroupConvNet",
]
