"""gdl — geometric deep learning on PyTorch Geometric.

Three routes to rotation equivariance side by side as PyG ``MessagePassing`` layers
(scalarization, irreducible representations, the regular representation), symmetry strategies
that switch equivariance partly off, shared datasets, Hydra experiments and ablation tables.

Subpackages are imported lazily by the user (``import gdl.nn``); importing ``gdl`` itself is cheap.
"""

__version__ = "0.1.0"

from .debug import debug, is_debug_enabled, set_debug  # noqa: E402  (cheap: no torch import)

__all__ = ["__version__", "debug", "is_debug_enabled", "set_debug"]
