"""Networks assembled from gdl layers, one per route, with typed outputs (:class:`GDLModel`)."""

from .base import GDLModel, check_batch
from .irreps_model import IrrepsModel
from .se3_transformer import SE3Transformer
from .tfn import TFN

__all__ = ["GDLModel", "IrrepsModel", "SE3Transformer", "TFN", "check_batch"]
