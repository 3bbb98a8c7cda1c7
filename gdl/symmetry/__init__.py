"""Symmetry strategies: objects that make any model exactly, approximately, partially or not at all
equivariant (one per file), all following :class:`SymmetryStrategy`.

=====================  ============================  ==================================================
strategy (``name``)    wraps                         what it imposes or learns
=====================  ============================  ==================================================
:class:`Exact`         any model                     nothing (the model as built)
:class:`Augment`       any model                     random rotations of inputs/outputs in training
:class:`FrameAverage`  any model                     exact equivariance by PCA-frame averaging
:class:`RPP`           any model (+ residual path)   soft equivariance: a prior on a residual path
:class:`Relaxed`       ``GroupConvNet``              per-anchor kernel weights, penalised
:class:`Partial`       ``GroupConvNet``              anchors within a learned angle per layer
:class:`Augerino`      any model                     a learned distribution of rotations, averaged
=====================  ============================  ==================================================
"""

from .augment import Augment
from .frame_average import FrameAverage, pca_frames
from .learned import Augerino, LearnedAugmentation, shrunk_haar
from .partial import Partial, PartialAnchors
from .relaxed import Relaxed
from .rpp import RPP, ResidualPathwayPrior, default_residual
from .strategy import Exact, SymmetryStrategy, symmetry_report

__all__ = [
    "Augerino",
    "Augment",
    "Exact",
    "FrameAverage",
    "LearnedAugmentation",
    "Partial",
    "PartialAnchors",
    "RPP",
    "Relaxed",
    "ResidualPathwayPrior",
    "SymmetryStrategy",
    "default_residual",
    "pca_frames",
    "shrunk_haar",
    "symmetry_report",
]
