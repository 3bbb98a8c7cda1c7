"""Layers and building blocks of gdl: one ``MessagePassing`` layer per file in :mod:`gdl.nn.conv`,
plus radial bases, cutoffs, embeddings and readouts shared by the routes."""

from .conv import SE3AttentionConv, TFNConv
from .embedding import NodeEmbedding
from .equivariant_norm import EquivariantNorm
from .irreps_readout import IrrepsReadout
from .radial import BesselBasis, CosineCutoff, GaussianBasis, PolynomialCutoff, RadialEmbedding
from .radial_mlp import RadialMLP
from .spherical_edge_embedding import SphericalEdgeEmbedding

__all__ = [
    "BesselBasis",
    "CosineCutoff",
    "GaussianBasis",
    "NodeEmbedding",
    "PolynomialCutoff",
    "RadialEmbedding",
    # irreps route
    "EquivariantNorm",
    "IrrepsReadout",
    "RadialMLP",
    "SE3AttentionConv",
    "SphericalEdgeEmbedding",
    "TFNConv",
]
