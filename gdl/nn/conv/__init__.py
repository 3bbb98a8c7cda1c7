"""One ``torch_geometric.nn.MessagePassing`` layer per file (the table of contents of gdl's layers)."""

__all__: list[str] = []

# regular representation: features over anchors (SO(3) rotations or sphere orientations)
from .group_conv import GroupConv  # noqa: E402
from .lifting_conv import LiftingConv  # noqa: E402
from .sphere_group_conv import SphereGroupConv  # noqa: E402
from .sphere_lifting_conv import SphereLiftingConv  # noqa: E402

__all__ += ["GroupConv", "LiftingConv", "SphereGroupConv", "SphereLiftingConv"]
