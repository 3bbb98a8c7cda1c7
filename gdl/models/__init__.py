"""Networks assembled from gdl layers, one per route, with typed outputs (:class:`GDLModel`)."""

from .base import GDLModel, check_batch
from .egnn import EGNN
from .group_conv_net import GroupConvNet
from .inputs import NodeInputs, check_model_core
from .invariant_net import InvariantNet
from .irreps_model import IrrepsModel
from .mace import MACE
from .plain_net import PlainNet
from .radial_field import LinearDynamics, RadialField
from .se3_transformer import SE3Transformer
from .tfn import TFN

__all__ = [
    "GDLModel",
    "NodeInputs",
    "check_batch",
    "check_model_core",
    # scalarization route and baselines
    "EGNN",
    "InvariantNet",
    "PlainNet",
    # N-body dynamics baselines (EGNN paper, Table 2)
    "LinearDynamics",
    "RadialField",
    # irreps route
    "IrrepsModel",
    "MACE",
    "SE3Transformer",
    "TFN",
    # regular representation
    "GroupConvNet",
]
