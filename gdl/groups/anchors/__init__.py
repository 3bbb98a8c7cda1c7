r"""Anchor sets of the regular-representation route: group elements of :math:`SO(3)` or orientations
on :math:`S^2 = SO(3)/SO(2)` on which features ``f [N, A, C]`` live. One module per concern:

* :mod:`~gdl.groups.anchors.providers` — the objects a model calls once per forward pass for its
  anchors (:class:`AnchorSet` and :class:`GroupAnchors`, :class:`SuperFibonacciAnchors`,
  :class:`RandomAnchors`, :class:`FixedAnchors`, :class:`HaarAnchors`, :class:`SphereAnchors`,
  :class:`UniformSphereAnchors`; :func:`super_fibonacci`);
* :mod:`~gdl.groups.anchors.frames` — anchors as tensors and the invariants layers build from them
  (:func:`frame_components`, :func:`sphere_components`, :func:`relative_rotations`), how a rotation
  permutes a closed set (:func:`anchor_permutation`), validation (:func:`check_anchors`);
* :mod:`~gdl.groups.anchors.fourier` — Fourier analysis on anchors: readout bases
  (:func:`anchor_basis`), the degrees a set resolves (:func:`anchor_rank`, :func:`anchor_bias`)
  and the least-squares readout weights (:func:`fourier_weights`, :func:`fourier_condition`).

Every name is importable from here (``from gdl.groups.anchors import GroupAnchors``), as it was when
this was one module.
"""

from .fourier import anchor_basis, anchor_bias, anchor_rank, fourier_condition, fourier_weights
from .frames import (
    anchor_permutation,
    anchor_space,
    check_anchors,
    frame_components,
    relative_rotations,
    sphere_components,
)
from .providers import (
    AnchorSet,
    FixedAnchors,
    GroupAnchors,
    HaarAnchors,
    RandomAnchors,
    SphereAnchors,
    SuperFibonacciAnchors,
    UniformSphereAnchors,
    super_fibonacci,
)

__all__ = [
    "AnchorSet",
    "FixedAnchors",
    "GroupAnchors",
    "HaarAnchors",
    "RandomAnchors",
    "SphereAnchors",
    "SuperFibonacciAnchors",
    "UniformSphereAnchors",
    "anchor_basis",
    "anchor_bias",
    "anchor_permutation",
    "anchor_rank",
    "anchor_space",
    "check_anchors",
    "fourier_condition",
    "fourier_weights",
    "frame_components",
    "relative_rotations",
    "sphere_components",
    "super_fibonacci",
]
