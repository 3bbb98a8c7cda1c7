"""One ``torch_geometric.nn.MessagePassing`` layer per file (the table of contents of gdl's layers)."""

from .se3_attention_conv import SE3AttentionConv
from .tfn_conv import TFNConv

__all__: list[str] = [
    "SE3AttentionConv",
    "TFNConv",
]
