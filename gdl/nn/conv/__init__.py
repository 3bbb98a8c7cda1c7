"""One ``torch_geometric.nn.MessagePassing`` layer per file (the table of contents of gdl's layers)."""

# scalarization route and the no-symmetry baseline
from .egnn_conv import EGNNConv

# regular representation: features over anchors (SO(3) rotations or sphere orientations)
from .group_conv import GroupConv
from .invariant_conv import InvariantConv
from .lifting_conv import LiftingConv
from .plain_conv import PlainConv
from .sphere_group_conv import SphereGroupConv
from .sphere_lifting_conv import SphereLiftingConv

__all__: list[str] = [
    "EGNNConv",
    "InvariantConv",
    "PlainConv",
    "GroupConv",
    "LiftingConv",
    "SphereGroupConv",
    "SphereLiftingConv",
]
