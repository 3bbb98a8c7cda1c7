r"""Readouts from features over anchors to typed outputs (``0e``, ``1o``, ``2e``).

* :class:`AnchorReadout` — SO(3) anchors ``R [A, 3, 3]``: pooling over anchors for ``0e`` and the
  group Fourier projection :math:`\frac1A \sum_a D^l(R_a)\, u_a` for ``l >= 1``.
* :class:`SphereAnchorReadout` — sphere anchors ``o [A, 3]``: :math:`\frac1A \sum_a o_a u_a` for
  ``1o`` and :math:`\frac1A \sum_a (o_a \otimes o_a)_0 u_a` for ``2e``.

Both project on the *centred* basis (:math:`D^l(R_a)` minus its anchor average): identical for a
finite group, whose average vanishes, and for random anchors it removes the part of the signal that
is equal at all anchors, which would otherwise leak into the output with an error of order
:math:`1/\sqrt{A}` (:mod:`gdl.groups.anchors`).

Whether an anchor set can resolve a degree is a property of the set
(:meth:`gdl.groups.anchors.AnchorSet.check_degree`); models check it when they are built.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn
from torch_geometric.utils import scatter

from ..groups.anchors import anchor_basis, check_anchors

__all__ = ["AnchorReadout", "SphereAnchorReadout"]

SUPPORTED_IRREPS: tuple[str, ...] = ("0e", "1o", "2e")


class AnchorReadout(nn.Module):
    r"""Typed outputs from features over SO(3) anchors: a per-anchor MLP gives invariant
    coefficients :math:`u(i, a)`, which are pooled over anchors (``0e``) or projected on the
    Wigner matrices of the anchors (``l >= 1``, a Fourier transform on the group):

    .. math::
        y^{0e}_i = \frac{1}{A} \sum_a u^{\text{mean}}(i, a) + \max_a u^{\max}(i, a), \qquad
        y^{l}_i = \frac{1}{A} \sum_a \big(D^l(R_a) - \bar D^l\big)\, u^l(i, a) \in \mathbb{R}^{2l+1}

    with :math:`u^l(i, a) \in \mathbb{R}^{2l+1}` per output copy and :math:`\bar D^l =
    \frac1A \sum_b D^l(R_b)` (zero for a finite group that resolves degree ``l``). Given ``batch``,
    coefficients are pooled over the nodes of each graph first (``reduce``), giving graph-level
    outputs.

    Symmetry: if rotating the input by :math:`g` permutes the features over a closed anchor set,
    :math:`f(g\cdot x)[:, a] = f(x)[:, \sigma_g(a)]` with :math:`R_{\sigma_g(a)} = g^\top R_a`, then
    :math:`y^l(g\cdot x) = D^l(g)\, y^l(x)`: ``0e`` outputs are invariant and ``1o``/``2e`` outputs
    equivariant, exactly for a finite group (with reflections too, when the anchor set contains
    them) and in distribution for random anchors. The anchor set must resolve each degree
    (:meth:`~gdl.groups.anchors.AnchorSet.check_degree`).

    Args:
        in_channels: channels ``C`` of the features.
        irreps: the output irreps, made of ``0e``, ``1o`` and ``2e`` (e.g. ``"0e"``, ``"2x1o"``,
            ``"0e+2e"``); the output is in e3nn's layout.
        hidden_channels: width of the per-anchor MLP. Default ``None`` (= ``in_channels``).

    Shapes:
        - **input:** ``f [N, A, C]``, ``anchors [A, 3, 3]``, optional ``batch [N]`` with ``num_graphs``
        - **output:** ``[N, irreps.dim]``, or ``[num_graphs, irreps.dim]`` with ``batch``
    """

    anchor_space: str = "so3"

    def __init__(self, in_channels: int, irreps: str, hidden_channels: int | None = None):
        super().__init__()
        irreps_obj = o3.Irreps(irreps)
        bad = sorted({str(mi.ir) for mi in irreps_obj if str(mi.ir) not in SUPPORTED_IRREPS})
        if bad or irreps_obj.dim == 0:
            raise ValueError(
                f"{type(self).__name__} produces irreps made of {list(SUPPORTED_IRREPS)}, got {irreps!r}"
            )
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels or in_channels
        self.irreps = str(irreps_obj)
        #: (multiplicity, irrep, degree, coefficients per copy, offset): plain Python for forward
        blocks = []
        offset = 0
        for mi in irreps_obj:
            l = mi.ir.l
            width = 2 if l == 0 else self.coefficient_width(l)
            blocks.append((mi.mul, str(mi.ir), l, width, offset))
            offset += mi.mul * width
        self.blocks: tuple[tuple[int, str, int, int, int], ...] = tuple(blocks)
        self.num_coefficients = offset
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, self.hidden_channels), nn.SiLU(), nn.Linear(self.hidden_channels, offset)
        )
        self.reset_parameters()

    def coefficient_width(self, l: int) -> int:
        """Invariant coefficients per anchor for one copy of degree ``l >= 1`` (``2l + 1`` for SO(3))."""
        return 2 * l + 1

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(
        self,
        f: torch.Tensor,
        anchors: torch.Tensor,
        batch: torch.Tensor | None = None,
        num_graphs: int | None = None,
        reduce: str = "sum",
    ) -> torch.Tensor:
        if f.dim() != 3 or f.shape[-1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: f must be [N, A, {self.in_channels}], got {tuple(f.shape)}"
            )
        if anchors.shape[0] != f.shape[1]:
            raise ValueError(
                f"{type(self).__name__}: f has {f.shape[1]} anchors but `anchors` has {anchors.shape[0]}"
            )
        if not torch.compiler.is_compiling():
            check_anchors(anchors, self.anchor_space, "anchors", proper=False)
        anchors = anchors.to(f.dtype)
        u = self.mlp(f)  # [N, A, K]
        if batch is not None:
            u = scatter(u, batch, dim=0, dim_size=num_graphs, reduce=reduce)  # [B, A, K]
        A = u.shape[1]
        outs = []
        for mul, ir, l, width, offset in self.blocks:
            c = u[..., offset : offset + mul * width]
            if l == 0:
                outs.append(c[..., :mul].mean(dim=1) + c[..., mul:].amax(dim=1))  # [*, mul]
                continue
            c = c.unflatten(-1, (mul, width))  # [*, A, mul, width]
            basis = anchor_basis(anchors, ir)  # [A, 2l+1, width]
            basis = basis - basis.mean(dim=0)  # centred: the anchor average leaks no signal
            y = torch.einsum("adk,namk->nmd", basis, c) / A  # [*, mul, 2l+1]
            outs.append(y.flatten(1))
        return torch.cat(outs, dim=-1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, irreps={self.irreps!r}, "
            f"hidden_channels={self.hidden_channels})"
        )


class SphereAnchorReadout(AnchorReadout):
    r"""Typed outputs from features over sphere orientations :math:`o_a`: one invariant coefficient
    per anchor and output copy, projected on the harmonics of the orientations,

    .. math::
        y^{0e}_i = \frac{1}{A} \sum_a u^{\text{mean}}(i, a) + \max_a u^{\max}(i, a), \quad
        y^{1o}_i = \frac{1}{A} \sum_a (o_a - \bar o)\, u(i, a), \quad
        y^{2e}_i = \frac{1}{A} \sum_a \sqrt{3/2}\,
            \big((o_a \otimes o_a)_0 - \overline{(o \otimes o)_0}\big)\, u(i, a)

    (``2e`` in e3nn's basis; bars are anchor averages). Symmetry as :class:`AnchorReadout` with
    :math:`o_{\sigma_g(a)} = g^\top o_a`. The orientations must span each degree (e.g. the 6
    octahedron vertices do not span ``2e``; :meth:`~gdl.groups.anchors.AnchorSet.check_degree` says so).

    Args:
        in_channels: channels ``C`` of the features.
        irreps: the output irreps, made of ``0e``, ``1o`` and ``2e``.
        hidden_channels: width of the per-anchor MLP. Default ``None`` (= ``in_channels``).

    Shapes:
        - **input:** ``f [N, A, C]``, ``anchors [A, 3]``, optional ``batch [N]`` with ``num_graphs``
        - **output:** ``[N, irreps.dim]``, or ``[num_graphs, irreps.dim]`` with ``batch``
    """

    anchor_space = "sphere"

    def coefficient_width(self, l: int) -> int:
        return 1
