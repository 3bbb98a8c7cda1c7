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
