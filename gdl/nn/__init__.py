"""Layers and building blocks of gdl: one ``MessagePassing`` layer per file in :mod:`gdl.nn.conv`,
plus radial bases, cutoffs, embeddings and readouts shared by the routes."""

from .conv import EGNNConv, InvariantConv, PlainConv  # noqa: E402  (after the building blocks they use)
from .embedding import NodeEmbedding
from .radial import BesselBasis, CosineCutoff, GaussianBasis, PolynomialCutoff, RadialEmbedding
from .scalar_readout import (
    InvariantReadout,
    PlainReadout,
    Readout,
    ReadoutFactory,
    ScalarizationReadout,
    safe_norm,
    traceless_outer,
)

__all__ = [
    "BesselBasis",
    "CosineCutoff",
    "GaussianBasis",
    "NodeEmbedding",
    "PolynomialCutoff",
    "RadialEmbedding",
    # scalarization route (readouts and layers)
    "EGNNConv",
    "InvariantConv",
    "InvariantReadout",
    "PlainConv",
    "PlainReadout",
    "Readout",
    "ReadoutFactory",
    "ScalarizationReadout",
    "safe_norm",
    "traceless_outer",
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
