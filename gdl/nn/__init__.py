"""Layers and building blocks of gdl: one ``MessagePassing`` layer per file in :mod:`gdl.nn.conv`,
plus radial bases, cutoffs, embeddings and readouts shared by the routes."""

from .anchor_readout import AnchorReadout, QuadratureAnchorReadout, SphereAnchorReadout
from .conv import (
    EGNNConv,
    GroupConv,
    InvariantConv,
    LiftingConv,
    MACEConv,
    PlainConv,
    RelaxedGroupConv,
    RelaxedSphereGroupConv,
    SE3AttentionConv,
    SphereGroupConv,
    SphereLiftingConv,
    TFNConv,
)
from .embedding import NodeEmbedding
from .equivariant_norm import EquivariantNorm
from .irreps_readout import IrrepsReadout
from .pointwise_group_conv import PointwiseGroupConv
from .radial import BesselBasis, CosineCutoff, GaussianBasis, PolynomialCutoff, RadialEmbedding
from .radial_mlp import RadialMLP
from .scalar_readout import (
    InvariantReadout,
    PlainReadout,
    Readout,
    ReadoutFactory,
    ScalarizationReadout,
    safe_norm,
    traceless_outer,
)
from .spherical_edge_embedding import SphericalEdgeEmbedding

__all__ = [
    # shared building blocks
    "BesselBasis",
    "CosineCutoff",
    "GaussianBasis",
    "NodeEmbedding",
    "PolynomialCutoff",
    "RadialEmbedding",
    # scalarization route and the no-symmetry baseline
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
    # irreps route
    "EquivariantNorm",
    "IrrepsReadout",
    "MACEConv",
    "RadialMLP",
    "SE3AttentionConv",
    "SphericalEdgeEmbedding",
    "TFNConv",
    # regular representation
    "AnchorReadout",
    "GroupConv",
    "LiftingConv",
    "PointwiseGroupConv",
    "QuadratureAnchorReadout",
    "RelaxedGroupConv",
    "RelaxedSphereGroupConv",
    "SphereAnchorReadout",
    "SphereGroupConv",
    "SphereLiftingConv",
]
