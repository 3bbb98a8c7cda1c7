"""One ``torch_geometric.nn.MessagePassing`` layer per file (the table of contents of gdl's layers)."""

from .egnn_conv import EGNNConv
from .invariant_conv import InvariantConv
from .plain_conv import PlainConv

__all__: list[str] = [
    "EGNNConv",
    "InvariantConv",
    "PlainConv",
]
