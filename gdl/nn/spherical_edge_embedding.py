r"""Spherical harmonics and radial embedding of edge vectors, computed once per forward pass."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from ._checks import check_edge_index, check_pos, edge_vectors
from .irreps import as_irreps, irreps_parity, spherical_harmonics_irreps
from .radial import BesselBasis, PolynomialCutoff, RadialEmbedding

__all__ = ["SphericalEdgeEmbedding", "default_radial"]


def default_radial(cutoff: float = 5.0, num_basis: int = 8) -> RadialEmbedding:
    """NequIP's radial embedding: a Bessel basis times a polynomial envelope (p = 6)."""
    return RadialEmbedding(BesselBasis(num_basis, cutoff), PolynomialCutoff(cutoff, p=6))


class SphericalEdgeEmbedding(nn.Module):
    r"""Geometric edge attributes of the irreps route: for each edge vector :math:`r_{ij}`

    .. math::
        Y(r_{ij}) = \bigl(Y^0, Y^1, \dots, Y^{L}\bigr)(r_{ij} / \lVert r_{ij} \rVert), \qquad
        R(r_{ij}) = \mathrm{radial}(\lVert r_{ij} \rVert)

    with e3nn's real spherical harmonics in ``"component"`` normalisation (:math:`Y^0 = 1`,
    :math:`\lVert Y^l \rVert^2 = 2l + 1`). A zero vector gets :math:`Y^l = 0` for :math:`l > 0`
    (no NaN). Models compute these once and hand them to every layer.

    Args:
        irreps_sh: the spherical-harmonic irreps: an integer ``l_max`` (O(3) labels ``0e+1o+2e+...``)
            or explicit irreps, ``"0e+1e+2e"`` for SO(3)-only networks (:mod:`gdl.nn.irreps`).
            Default ``2``.
        radial: the radial embedding of edge lengths. Default ``None``:
            :func:`default_radial` (8 Bessel functions times a polynomial envelope, cutoff 5.0).

    Shapes:
        ``edge_vec [E, 3]`` -> ``(edge_sh [E, irreps_sh.dim], edge_radial [E, radial.num_basis])``;
        ``edge_sh`` is equivariant (irreps ``irreps_sh``), ``edge_radial`` invariant.
    """

    def __init__(self, irreps_sh: int | str | o3.Irreps = 2, radial: nn.Module | None = None):
        super().__init__()
        if isinstance(irreps_sh, int) and not isinstance(irreps_sh, bool):
            self.irreps_sh = spherical_harmonics_irreps(irreps_sh)
        else:
            self.irreps_sh = as_irreps(irreps_sh, "irreps_sh")
        self.parity: bool = irreps_parity(self.irreps_sh)
        self.l_max: int = self.irreps_sh.lmax
        self.sh_dim: int = self.irreps_sh.dim
        self._sh_str = str(self.irreps_sh)
        self.radial = radial if radial is not None else default_radial()
        if not hasattr(self.radial, "num_basis"):
            raise TypeError(
                "radial must expose `num_basis` (e.g. gdl.nn.RadialEmbedding), "
                f"got {type(self.radial).__name__}"
            )
        self.num_basis: int = int(self.radial.num_basis)
        # computes plain polynomials; the irreps labels above are bookkeeping only
        self.sh = o3.SphericalHarmonics(
            list(range(self.l_max + 1)), normalize=True, normalization="component"
        )

    def forward(self, edge_vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.spherical_harmonics(edge_vec), self.radial(edge_vec.norm(dim=-1))

    def spherical_harmonics(self, edge_vec: torch.Tensor) -> torch.Tensor:
        """``[E, 3] -> [E, irreps_sh.dim]``."""
        return self.sh(edge_vec)

    def resolve(
        self,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor | None = None,
        edge_sh: torch.Tensor | None = None,
        edge_radial: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validated ``(edge_sh, edge_radial)`` for a layer: the precomputed ones when given (a model
        computes them once and shares them across layers), otherwise computed from ``edge_vec`` or
        ``pos[j] - pos[i]``."""
        check_pos(pos)
        check_edge_index(edge_index, pos.shape[0])
        if edge_sh is None or edge_radial is None:
            vec = edge_vectors(pos, edge_index, edge_vec)
            if edge_sh is None:
                edge_sh = self.spherical_harmonics(vec)
            if edge_radial is None:
                edge_radial = self.radial(vec.norm(dim=-1))
        num_edges = edge_index.shape[1]
        if edge_sh.dim() != 2 or edge_sh.shape[0] != num_edges or edge_sh.shape[1] != self.sh_dim:
            raise ValueError(
                f"edge_sh must have shape [{num_edges}, {self.sh_dim}] for irreps_sh={self._sh_str}, "
                f"got {tuple(edge_sh.shape)}"
            )
        if (
            edge_radial.dim() != 2
            or edge_radial.shape[0] != num_edges
            or edge_radial.shape[1] != self.num_basis
        ):
            raise ValueError(
                f"edge_radial must have shape [{num_edges}, {self.num_basis}] (the radial basis), "
                f"got {tuple(edge_radial.shape)}"
            )
        return edge_sh, edge_radial

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(irreps_sh={self.irreps_sh}, radial={self.radial})"
