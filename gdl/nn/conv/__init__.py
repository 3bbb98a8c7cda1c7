"""One ``torch_geometric.nn.MessagePassing`` layer per file (the table of contents of gdl's layers)."""

from .egnn_conv import EGNNConv
from .group_conv import GroupConv
from .invariant_conv import InvariantConv
from .lifting_conv import LiftingConv
from .mace_conv import MACEConv
from .plain_conv import PlainConv
from .relaxed_group_conv import RelaxedGroupConv
from .relaxed_sphere_group_conv import RelaxedSphereGroupConv
from .se3_attention_conv import SE3AttentionConv
from .sphere_group_conv import SphereGroupConv
from .sphere_lifting_conv import SphereLiftingConv
from .tfn_conv import TFNConv

__all__: list[str] = [
    # scalarization route and the no-symmetry baseline
    "EGNNConv",
    "InvariantConv",
    "PlainConv",
    # irreps route
    "MACEConv",
    "SE3AttentionConv",
    "TFNConv",
    # regular representation: features over anchors (SO(3) rotations or sphere orientations)
    "GroupConv",
    "LiftingConv",
    "RelaxedGroupConv",
    "RelaxedSphereGroupConv",
    "SphereGroupConv",
    "SphereLiftingConv",
]
