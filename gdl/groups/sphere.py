r"""Point sets on the unit sphere :math:`S^2`, used as orientation anchors
(position–orientation space, :math:`S^2 = SO(3)/SO(2)`).

* :func:`icosahedron_vertices` — 12 points, the orbit of the icosahedral group through a vertex;
  a sphere-anchored layer on them is exactly equivariant to the icosahedral rotations.
* :func:`octahedron_vertices` — the 6 points ±x, ±y, ±z (orbit of the cube group).
* :func:`orbit` — the orbit of any point under a finite group (e.g. a generic point under the
  icosahedral group gives 60 points, still an exactly equivariant grid).
* :func:`fibonacci_sphere` — n near-uniform points for any n (no exact symmetry).
* :func:`random_sphere` — seeded uniform samples.
"""

from __future__ import annotations

import math

import torch

from .so3 import as_generator

__all__ = ["fibonacci_sphere", "icosahedron_vertices", "octahedron_vertices", "orbit", "random_sphere"]

_PHI = (1 + math.sqrt(5)) / 2


def icosahedron_vertices(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The 12 unit vertices ``[12, 3]`` of the icosahedron: cyclic shifts of ``(0, ±1, ±φ)``."""
    pts = []
    for s1 in (-1.0, 1.0):
        for s2 in (-1.0, 1.0):
            a, b = s1, s2 * _PHI
            pts += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    v = torch.tensor(pts, dtype=torch.float64)
    return (v / v.norm(dim=-1, keepdim=True)).to(dtype)


def octahedron_vertices(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The 6 unit vectors ``[6, 3]`` ±x, ±y, ±z."""
    eye = torch.eye(3, dtype=torch.float64)
    return torch.cat([eye, -eye]).to(dtype)


def orbit(group: torch.Tensor, point: torch.Tensor, atol: float = 1e-8) -> torch.Tensor:
    """The distinct images ``[k, 3]`` of ``point`` (normalised) under a finite group ``[G, 3, 3]``,
    in the order of first appearance."""
    p = torch.nn.functional.normalize(point.to(torch.float64), dim=-1)
    images = group.to(torch.float64) @ p  # [G, 3]
    keep: list[torch.Tensor] = []
    for v in images:
        if not any(bool((v - u).abs().max() < atol) for u in keep):
            keep.append(v)
    return torch.stack(keep)


def fibonacci_sphere(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` near-uniform points ``[n, 3]`` on the sphere (golden-angle spiral)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    r = torch.sqrt((1 - z * z).clamp_min(0))
    phi = 2 * math.pi * i / _PHI
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=-1).to(dtype)


def random_sphere(
    n: int, generator: int | torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``n`` uniform random unit vectors ``[n, 3]`` (normalised Gaussians), seeded."""
    gen = as_generator(generator) if generator is not None else None
    v = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    return torch.nn.functional.normalize(v, dim=-1).to(dtype)
