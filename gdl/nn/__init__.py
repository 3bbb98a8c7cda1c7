"""Layers and building blocks of gdl: one ``MessagePassing`` layer per file in :mod:`gdl.nn.conv`,
plus radial bases, cutoffs, embeddings and readouts shared by the routes.

The layer convention
--------------------
Every geometric layer in :mod:`gdl.nn.conv` is a ``torch_geometric.nn.MessagePassing`` with

* **one forward signature**, PyG style::

      out = conv(x, pos, edge_index, *, edge_vec=None, **extras)

  ``x`` the node features (``[N, C]``; ``[N, irreps.dim]`` for the irreps layers; ``[N, A, C]``
  over ``A`` anchors for the regular-representation layers), ``pos [N, 3]``, ``edge_index [2, E]``
  with ``edge_index[0]`` the source ``j`` and ``edge_index[1]`` the target ``i``, and
  ``edge_vec [E, 3]`` the edge vectors ``pos[j] - pos[i]`` (pass minimum-image vectors in a
  periodic box). Everything after ``edge_index`` is keyword-only: ``anchors=`` (regular layers),
  ``vec=`` (vector inputs), ``edge_attr=``, and the precomputed per-edge quantities a model shares
  between its layers (``edge_radial=``, ``edge_sh=``), so that a model computes them once per
  forward pass.
* **one injected radial part**: ``radial=`` takes a :class:`RadialEmbedding` (a basis from
  :class:`GaussianBasis` / :class:`BesselBasis` times a cutoff envelope from :class:`CosineCutoff` /
  :class:`PolynomialCutoff`), mapping edge lengths ``[E]`` to ``[E, num_basis]``. Each layer
  documents its default (``None`` builds it); the network that turns the basis into weights is the
  layer's own, sized by ``radial_hidden``.
* **MessagePassing arguments honoured or refused**: ``aggr`` must be one of the layer's
  ``supported_aggr`` (the first is the default) and ``flow`` must be ``"source_to_target"``; any
  other value stops with an error naming the argument.
* **shape checks only**: layers check shapes and dtypes (free); value checks (NaN/inf positions,
  ``edge_index`` bounds) need a device-to-host synchronisation, so gdl makes them once per forward
  at the model boundary (:func:`gdl.models.check_batch`) and, for bare layers, only under
  :func:`gdl.debug`. ``tests/nn/conv/test_convention.py`` checks all of this on every layer.
"""

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
from .geometry import edge_vectors, safe_norm
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
    "edge_vectors",
    "safe_norm",
    # scalarization route and the no-symmetry baseline
    "EGNNConv",
    "InvariantConv",
    "InvariantReadout",
    "PlainConv",
    "PlainReadout",
    "Readout",
    "ReadoutFactory",
    "ScalarizationReadout",
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
