r"""Spherical harmonics and radial embedding of edge vectors, computed once per forward pass."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from ._checks import check_edge_index, check_pos
from .geometry import edge_vectors
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
    :math:`\lVert Y^l \rVert^2 = 2l + 1`). Models compute these once and hand them to every layer.

    Coincident points (a zero-length edge between two distinct nodes: duplicates in a catalogue,
    or in augmented data) have no direction, and the direction :math:`r/\lVert r \rVert` has a
    gradient of order :math:`1/\lVert r \rVert`: normalising with a tiny guard (e3nn's ``1e-12``)
    gives finite outputs but gradients of order 1e12 with respect to the positions. Edges shorter
    than ``eps`` therefore get their :math:`l \ge 1` harmonics damped smoothly to zero,

    .. math::
        Y^l_{\text{safe}}(r) = s\bigl(\min(\lVert r \rVert^2/\epsilon^2, 1)\bigr)\,
        Y^l(r / \lVert r \rVert), \qquad s(t) = t\,(2 - t),

    which is continuous with a continuous first derivative at :math:`\lVert r \rVert = \epsilon`,
    exactly e3nn's function (bit for bit) for :math:`\lVert r \rVert \ge \epsilon`, zero for
    :math:`l \ge 1` at :math:`r = 0`, and has a bounded gradient everywhere (zero at :math:`r = 0`,
    of order :math:`1/\epsilon` just inside :math:`\epsilon`). The damping is a function of the
    length only, so equivariance is untouched. ``eps`` is in the units of the positions; the
    default is far below any physical separation of atoms (Å), haloes (Mpc/h) or the N-body
    particles, and above float32 rounding of coordinates of order 10-100.

    Args:
        irreps_sh: the spherical-harmonic irreps: an integer ``l_max`` (O(3) labels ``0e+1o+2e+...``)
            or explicit irreps, ``"0e+1e+2e"`` for SO(3)-only networks (:mod:`gdl.nn.irreps`).
            Default ``2``.
        radial: the radial embedding of edge lengths. Default ``None``:
            :func:`default_radial` (8 Bessel functions times a polynomial envelope, cutoff 5.0).
        eps: length below which the :math:`l \ge 1` harmonics are damped to zero (see above).
            Default ``1e-4``.

    Shapes:
        ``edge_vec [E, 3]`` -> ``(edge_sh [E, irreps_sh.dim], edge_radial [E, radial.num_basis])``;
        ``edge_sh`` is equivariant (irreps ``irreps_sh``), ``edge_radial`` invariant.
    """

    def __init__(
        self, irreps_sh: int | str | o3.Irreps = 2, radial: nn.Module | None = None, *, eps: float = 1e-4
    ):
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be > 0 (a length in the units of pos), got {eps}")
        self.eps = float(eps)
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
        """``[E, 3] -> [E, irreps_sh.dim]``, safe at zero-length edges (class docstring)."""
        y = self.sh(edge_vec)
        if self.l_max == 0:
            return y
        t = ((edge_vec * edge_vec).sum(-1, keepdim=True) / (self.eps * self.eps)).clamp(max=1.0)
        # Y^0 = 1 is not damped; inside eps the factor ~ r^2/eps^2 cancels the 1/r of the direction
        return torch.cat([y[:, :1], y[:, 1:] * (t * (2.0 - t))], dim=-1)

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
        eps = "" if self.eps == 1e-4 else f", eps={self.eps:g}"
        return f"{self.__class__.__name__}(irreps_sh={self.irreps_sh}, radial={self.radial}{eps})"
