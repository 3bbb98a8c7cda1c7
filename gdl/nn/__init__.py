"""Layers and building blocks of gdl: one ``MessagePassing`` layer per file in :mod:`gdl.nn.conv`,
plus radial bases, cutoffs, embeddings and readouts shared by the routes."""

from .embedding import NodeEmbedding
from .radial import BesselBasis, CosineCutoff, GaussianBasis, PolynomialCutoff, RadialEmbedding

__all__ = [
    "BesselBasis",
    "CosineCutoff",
    "GaussianBasis",
    "NodeEmbedding",
    "PolynomialCutoff",
    "RadialEmbedding",
]

from .anchor_readout import AnchorReadout, QuadratureAnchorReadout, SphereAnchorReadout  # noqa: E402
from .conv import GroupConv, LiftingConv, SphereGroupConv, SphereLiftingConv  # noqa: E402

__all__ += [
    "AnchorReadout",
    "GroupConv",
    "LiftingConv",
    "QuadratureAnchorReadout",
    "SphereAnchorReadout",
    "SphereGroupConv",
    "SphereLiftingConv",
]
