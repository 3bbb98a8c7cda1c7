"""One ``torch_geometric.nn.MessagePassing`` layer per file (the table of contents of gdl's layers)."""

__all__: list[str] = []
