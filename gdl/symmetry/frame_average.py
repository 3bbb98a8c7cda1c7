r"""Frame averaging over the PCA frames of each point cloud (Puny et al. 2022)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch_geometric.utils import scatter

from ..groups.action import FieldTypeLike
from ..models.base import GDLModel
from ._average import check_types, group_average, input_types
from .base import SymmetryStrategy

__all__ = ["FrameAverage", "pca_frames"]

GROUPS = ("SO3", "O3")


def _sign_choices(group: str, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    """``[K, 3]`` sign patterns: all 8 for O(3), the 4 with product +1 for SO(3)."""
    signs = torch.tensor(list(itertools.product((1.0, -1.0), repeat=3)), dtype=dtype, device=device)
    return signs if group == "O3" else signs[signs.prod(dim=1) > 0]


def pca_frames(
    pos: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
    group: str = "SO3",
    degenerate_tol: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The PCA frames of each centred point cloud.

    For graph :math:`b` with centroid :math:`c_b` and covariance
    :math:`C_b = \sum_i (x_i - c_b)(x_i - c_b)^\top = U \Lambda U^\top` (eigenvalues ascending), the
    frames are :math:`F = U \operatorname{diag}(s)` for the sign patterns :math:`s`: all 8 for
    ``"O3"``, and for ``"SO3"`` the 4 with :math:`\det F = +1` (``U`` is first made proper by flipping
    its last column when :math:`\det U = -1`).

    Degenerate spectra (a relative eigenvalue gap :math:`\le` ``degenerate_tol``, including single
    points and exactly linear or planar-symmetric clouds) still give finite frames — ``eigh`` returns
    *some* orthonormal basis of the degenerate eigenspace — but that basis is not determined by the
    cloud, so the frames do not rotate with it. Gradients do not flow through the frames of such
    graphs (the covariance is detached there; ``eigh``'s backward divides by eigenvalue gaps).

    Args:
        pos: ``[N, 3]`` positions.
        batch: ``[N]`` graph index.
        num_graphs: ``B``.
        group: ``"SO3"`` or ``"O3"``. Default ``"SO3"``.
        degenerate_tol: relative eigenvalue gap below which a spectrum counts as degenerate.
            Default ``1e-6``.

    Returns:
        ``frames [K, B, 3, 3]`` (columns are the axes), ``centroids [B, 3]``, ``degenerate [B]`` (bool).
    """
    centroid = scatter(pos, batch, dim=0, dim_size=num_graphs, reduce="mean")  # [B, 3]
    x = pos - centroid[batch]
    cov = scatter(x.unsqueeze(-1) * x.unsqueeze(-2), batch, dim=0, dim_size=num_graphs, reduce="sum")
    with torch.no_grad():
        lam = torch.linalg.eigvalsh(cov)  # [B, 3] ascending
        scale = lam[:, 2].abs()
        gap = (lam[:, 1:] - lam[:, :-1]).min(dim=1).values
        degenerate = (gap <= degenerate_tol * scale) | (scale <= torch.finfo(pos.dtype).tiny)
    cov = torch.where(degenerate[:, None, None], cov.detach(), cov)
    _, U = torch.linalg.eigh(cov)  # [B, 3, 3], columns = eigenvectors
    if group == "SO3":
        det = torch.linalg.det(U.detach())
        U = torch.cat([U[..., :2], U[..., 2:] * det.sign().view(-1, 1, 1)], dim=-1)
    signs = _sign_choices(group, pos.dtype, pos.device)  # [K, 3]
    frames = U.unsqueeze(0) * signs[:, None, None, :]  # scale the columns: [K, B, 3, 3]
    return frames, centroid, degenerate


class FrameAverage(SymmetryStrategy):
    r"""Frame averaging (Puny, Atzmon, Ben-Hamu, Misra, Grover, Smith & Lipman, "Frame Averaging for
    Invariant and Equivariant Network Design", ICLR 2022, https://arxiv.org/abs/2110.03336) with the
    PCA frames of each centred point cloud (:func:`pca_frames`):

    .. math::
        \langle f \rangle(x)_b = \frac{1}{|\mathcal F(x_b)|} \sum_{F \in \mathcal F(x_b)}
            \rho_{\text{out}}(F)\, f\big(F^\top (x - c_b)\big)_b

    Every input field is moved into the frame (positions centred and rotated by :math:`F^\top`,
    ``vel``/``edge_vec``/vector inputs rotated, ``2e`` inputs by their Wigner matrices) and the typed
    outputs are rotated back by :math:`F`. The 4 (``SO3``) or 8 (``O3``) copies of each graph are
    stacked as extra graphs of one batch, so the backbone runs once per forward on a batch 4 or 8
    times larger.

    Symmetry: when the covariance has three distinct eigenvalues, :math:`\mathcal F(g\cdot x) =
    g\,\mathcal F(x)` and the average is exactly equivariant for *any* backbone (``PlainNet``
    included): to rotations (``SO3``, 4 frames) or rotations and reflections (``O3``, 8 frames),
    translations (centring) and node permutations (for permutation-equivariant backbones).
    Degenerate spectra: the frame is not unique and the average is only approximately equivariant.
    What happens exactly (measured in ``tests/symmetry/test_frame_average.py``):

    * a **single point** (zero covariance): the frames are the sign flips of the identity; ``1o``
      outputs average to exactly zero (as they must), ``0e`` are exact, ``2e`` keep the part that is
      invariant to the sign flips (not zero in general);
    * a **linear** cloud (two zero eigenvalues): canonical positions are unique, so ``0e`` outputs
      and the ``1o`` outputs are exactly equivariant (the sign average removes the perpendicular
      components); ``2e`` outputs are not (their components about the axis depend on the arbitrary
      perpendicular axes): an error of order 1 around ``PlainNet``;
    * **two or three equal eigenvalues** with off-axis points (planar-symmetric or spherical-top
      molecules such as benzene or methane): the canonical positions themselves depend on the
      arbitrary basis, so every output carries the backbone's own error under rotations inside the
      degenerate eigenspace (order 1 around ``PlainNet``, none around an equivariant backbone).

    No NaN appears in any of these cases, forward or backward (gradients through the frame are cut
    for degenerate graphs, see :func:`pca_frames`). Near-degenerate spectra are handled exactly but
    the frames become sensitive to noise of the order of the eigenvalue gap. In a periodic box the
    frames come from the wrapped positions and rotations are not a symmetry of the box: frame
    averaging is meant for isolated clouds (molecules, N-body systems).

    Args:
        model: any :class:`~gdl.models.GDLModel`.
        group: ``"SO3"`` (4 frames) or ``"O3"`` (8 frames). Default ``"O3"``.
        degenerate_tol: relative eigenvalue gap below which a spectrum counts as degenerate (only
            affects gradients and the ``degenerate_fraction`` report). Default ``1e-6``.
        input_types: types of input fields unknown to :data:`gdl.keys.FIELDS`. Default ``None``.

    Shapes:
        as the wrapped model: ``Batch`` -> ``{target: [B or N, dim]}``.
    """

    name: ClassVar[str] = "frame_average"
    supported_models = (GDLModel,)

    def __init__(
        self,
        model: GDLModel,
        group: str = "O3",
        degenerate_tol: float = 1e-6,
        input_types: Mapping[str, FieldTypeLike] | None = None,
    ):
        super().__init__(model)
        group = str(group).upper().replace("(", "").replace(")", "")
        if group not in GROUPS:
            raise ValueError(f"FrameAverage: group must be one of {GROUPS}, got {group!r}")
        if not degenerate_tol >= 0:
            raise ValueError(f"FrameAverage: degenerate_tol must be >= 0, got {degenerate_tol}")
        self.group, self.degenerate_tol = group, float(degenerate_tol)
        self.input_types = check_types(input_types, "FrameAverage")
        self._degenerate: tuple[int, int] = (0, 0)  # (degenerate graphs, graphs) of the last forward

    @property
    def num_frames(self) -> int:
        return 8 if self.group == "O3" else 4

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        batch = self.batch_vector(data)
        B = self.num_graphs(data)
        frames, centroid, degenerate = pca_frames(data.pos, batch, B, self.group, self.degenerate_tol)
        self._degenerate = (int(degenerate.sum()), B)
        # into the frame: x -> F^T (x - c), i.e. R = F^T and t = -F^T c
        R = frames.transpose(-1, -2)  # [K, B, 3, 3]
        t = -torch.einsum("kbij,bj->kbi", R, centroid)  # [K, B, 3]
        return group_average(self.model, data, R, t, input_types(self.model, self.input_types, data))

    def symmetry_report(self) -> dict[str, Any]:
        """``group``, ``num_frames`` and ``degenerate_fraction``: the fraction of graphs of the last
        forward pass whose covariance spectrum was degenerate (their frame is not unique)."""
        deg, total = self._degenerate
        return {
            "strategy": self.name,
            "group": self.group,
            "num_frames": self.num_frames,
            "degenerate_fraction": deg / total if total else 0.0,
        }

    def extra_repr(self) -> str:
        return f"group={self.group!r}, num_frames={self.num_frames}, degenerate_tol={self.degenerate_tol}"
