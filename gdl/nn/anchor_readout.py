r"""Readouts from features over anchors to typed outputs (``0e``, ``1o``, ``2e``).

* :class:`AnchorReadout` — SO(3) anchors ``R [A, 3, 3]``: pooling over anchors for ``0e`` and the
  group Fourier transform :math:`\int D^l(R)\, u(R)\, dR \approx \sum_a W_a u_a` for ``l >= 1``.
* :class:`SphereAnchorReadout` — sphere anchors ``o [A, 3]``: the same with the harmonics
  :math:`o_a` (``1o``) and :math:`(o_a \otimes o_a)_0` (``2e``).
* :class:`QuadratureAnchorReadout` — SO(3) anchors with the textbook weights
  :math:`W_a = D^l(R_a)/A`, for comparison.

The default weights are least-squares Fourier weights (:func:`gdl.groups.anchors.fourier_weights`):
on sampled anchors free of the leakage of the anchor mean and of the aliasing of degrees up to 2,
which dominate the equivariance error of plain quadrature (``benchmarks/README.md``). On a finite
group both are exactly equivariant, but they are the same function only where :math:`D^l` stays
irreducible on the group (icosahedral ``1o``/``2e``, octahedral ``1o``); on the octahedral and cube
groups (the default anchors) the ``2e`` weights are plain quadrature rescaled by 2/5 and 3/5 on the
two irreducible pieces of :math:`D^2` (:func:`~gdl.groups.anchors.fourier_weights`).
Whether an anchor set can resolve a degree is a property of
the set (:meth:`gdl.groups.anchors.AnchorSet.check_degree`); models check it when they are built.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn
from torch_geometric.utils import scatter

from ..groups.anchors import anchor_basis, fourier_weights
from .conv._anchor_kernel import check_anchor_input

__all__ = ["AnchorReadout", "QuadratureAnchorReadout", "SphereAnchorReadout"]

SUPPORTED_IRREPS: tuple[str, ...] = ("0e", "1o", "2e")


class AnchorReadout(nn.Module):
    r"""Typed outputs from features over SO(3) anchors: a per-anchor MLP gives invariant
    coefficients :math:`u(i, a)`, which are pooled over anchors (``0e``) or Fourier transformed on
    the group (``l >= 1``):

    .. math::
        y^{0e}_i = \frac{1}{A} \sum_a u^{\text{mean}}(i, a) + \max_a u^{\max}(i, a), \qquad
        y^{l}_i = \sum_a W^l_a\, u^l(i, a) \approx \int_{SO(3)} D^l(R)\, u^l(i, R)\, dR

    with :math:`u^l(i, a) \in \mathbb{R}^{2l+1}` per output copy and :math:`W^l_a` the
    least-squares Fourier weights of :func:`~gdl.groups.anchors.fourier_weights` (:meth:`weights`):
    the transform that removes the anchor mean exactly and fits degrees 1 and 2 jointly (on a
    finite group, :math:`D^l(R_a)/A` up to a fixed gain on each irreducible piece of :math:`D^l`
    restricted to the group: see there). Given ``batch``, coefficients are pooled
    over the nodes of each graph first (``reduce``), giving graph-level outputs.

    Symmetry: if rotating the input by :math:`g` permutes the features over a closed anchor set,
    :math:`f(g\cdot x)[:, a] = f(x)[:, \sigma_g(a)]` with :math:`R_{\sigma_g(a)} = g^\top R_a`, then
    :math:`y^l(g\cdot x) = D^l(g)\, y^l(x)`: ``0e`` outputs are invariant and ``1o``/``2e`` outputs
    equivariant, exactly for a finite group (with reflections too, when the anchor set contains
    them) and in distribution for random anchors. Features equal at every anchor give zero
    ``l >= 1`` outputs for any anchor set. The anchor set must resolve each degree
    (:meth:`~gdl.groups.anchors.AnchorSet.check_degree`).

    Bias: the per-anchor MLP's last layer has a bias on the ``0e`` coefficients only
    (:attr:`bias`). A bias :math:`b` on the coefficients of degree :math:`l \ge 1` is the same at
    every anchor, so it reaches the output as :math:`(\sum_a W^l_a)\, b`, which is zero: the
    least-squares weights remove the anchor mean exactly (and :math:`\sum_a D^l(R_a) = 0` on a
    finite group). It was a dead parameter: its gradient was rounding noise (``1e-13`` to ``1e-10``
    against ``1e-8`` to ``1e-5`` for the layer's weights, GroupConvNet test models, float32) and
    identically zero on the icosahedron vertices, whose antipodal pairs cancel exactly; with the
    plain quadrature of :class:`QuadratureAnchorReadout` on sampled anchors it would only leak the
    anchor mean, an equivariance error.

    Args:
        in_channels: channels ``C`` of the features.
        irreps: the output irreps, made of ``0e``, ``1o`` and ``2e`` (e.g. ``"0e"``, ``"2x1o"``,
            ``"0e+2e"``); the output is in e3nn's layout.
        hidden_channels: width of the per-anchor MLP. Default ``None`` (= ``in_channels``).

    Shapes:
        - **input:** ``x [N, A, C]``, ``anchors [A, 3, 3]``, optional ``batch [N]`` with ``num_graphs``
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
        # the last layer's bias acts on the 0e coefficients only (class docstring, Bias)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, self.hidden_channels),
            nn.SiLU(),
            nn.Linear(self.hidden_channels, offset, bias=False),
        )
        n0 = sum(mul * width for mul, _, l, width, _ in blocks if l == 0)
        #: the bias of the ``0e`` coefficients ``[sum of 2 * mul over 0e blocks]`` (``None`` without 0e)
        self.bias = nn.Parameter(torch.empty(n0)) if n0 else None
        self.reset_parameters()

    def coefficient_width(self, l: int) -> int:
        """Invariant coefficients per anchor for one copy of degree ``l >= 1`` (``2l + 1`` for SO(3))."""
        return 2 * l + 1

    def weights(self, anchors: torch.Tensor, irrep: str) -> torch.Tensor:
        """Fourier weights ``[A, 2l+1, width]`` of degree ``l >= 1`` (override to change the transform)."""
        return fourier_weights(anchors, irrep)

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        if self.bias is not None:  # as nn.Linear's own bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            bound = self.hidden_channels**-0.5
            nn.init.uniform_(self.bias, -bound, bound)

    def coefficient_bias(self) -> torch.Tensor | None:
        """The bias of all ``num_coefficients`` coefficients: :attr:`bias` on the ``0e`` ones, zero
        on those of degree ``l >= 1`` (``None`` without ``0e`` outputs)."""
        if self.bias is None:
            return None
        parts, start = [], 0
        for mul, _, l, width, _ in self.blocks:
            n = mul * width
            if l == 0:
                parts.append(self.bias[start : start + n])
                start += n
            else:
                parts.append(self.bias.new_zeros(n))
        return torch.cat(parts)

    def forward(
        self,
        x: torch.Tensor,
        anchors: torch.Tensor,
        batch: torch.Tensor | None = None,
        num_graphs: int | None = None,
        reduce: str = "sum",
    ) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: x must be [N, A, {self.in_channels}], got {tuple(x.shape)}"
            )
        check_anchor_input(anchors, self.anchor_space, "anchors")
        if anchors.shape[0] != x.shape[1]:
            raise ValueError(
                f"{type(self).__name__}: x has {x.shape[1]} anchors but `anchors` has {anchors.shape[0]}"
            )
        anchors = anchors.to(x.dtype)
        u = self.mlp(x)  # [N, A, K]
        bias = self.coefficient_bias()
        if bias is not None:
            u = u + bias
        if batch is not None:
            u = scatter(u, batch, dim=0, dim_size=num_graphs, reduce=reduce)  # [B, A, K]
        outs = []
        for mul, ir, l, width, offset in self.blocks:
            c = u[..., offset : offset + mul * width]
            if l == 0:
                outs.append(c[..., :mul].mean(dim=1) + c[..., mul:].amax(dim=1))  # [*, mul]
                continue
            c = c.unflatten(-1, (mul, width))  # [*, A, mul, width]
            w = self.weights(anchors, ir)  # [A, 2l+1, width]
            y = torch.einsum("adk,namk->nmd", w, c)  # [*, mul, 2l+1]
            outs.append(y.flatten(1))
        return torch.cat(outs, dim=-1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, irreps={self.irreps!r}, "
            f"hidden_channels={self.hidden_channels})"
        )


class SphereAnchorReadout(AnchorReadout):
    r"""Typed outputs from features over sphere orientations :math:`o_a`: one invariant coefficient
    per anchor and output copy, Fourier transformed with the harmonics of the orientations,

    .. math::
        y^{0e}_i = \frac{1}{A} \sum_a u^{\text{mean}}(i, a) + \max_a u^{\max}(i, a), \quad
        y^{l}_i = \sum_a w^l_a\, u(i, a) \approx \int_{S^2} Y^l(o)\, u(i, o)\, do

    with :math:`Y^1(o) = o`, :math:`Y^2(o) = \sqrt{3/2}\,(o \otimes o)_0` in e3nn's ``2e`` basis,
    and least-squares weights :math:`w^l_a` (:func:`~gdl.groups.anchors.fourier_weights`;
    :math:`Y^l(o_a)/A` on a symmetric orbit). Symmetry as :class:`AnchorReadout` with
    :math:`o_{\sigma_g(a)} = g^\top o_a`. The orientations must span each degree (e.g. the 6
    octahedron vertices do not span ``2e``; :meth:`~gdl.groups.anchors.AnchorSet.check_degree` says so).

    Args:
        in_channels: channels ``C`` of the features.
        irreps: the output irreps, made of ``0e``, ``1o`` and ``2e``.
        hidden_channels: width of the per-anchor MLP. Default ``None`` (= ``in_channels``).

    Shapes:
        - **input:** ``x [N, A, C]``, ``anchors [A, 3]``, optional ``batch [N]`` with ``num_graphs``
        - **output:** ``[N, irreps.dim]``, or ``[num_graphs, irreps.dim]`` with ``batch``
    """

    anchor_space = "sphere"

    def coefficient_width(self, l: int) -> int:
        return 1


class QuadratureAnchorReadout(AnchorReadout):
    r""":class:`AnchorReadout` with the textbook Fourier weights :math:`W_a = D^l(R_a)/A`,
    :math:`y^l_i = \frac1A \sum_a D^l(R_a)\, u^l(i, a)` (plain quadrature). Exactly equivariant on
    a finite group that resolves ``l``, and there the same function as :class:`AnchorReadout` only
    where :math:`D^l` stays irreducible on the group (icosahedral ``1o``/``2e``, octahedral ``1o``;
    not octahedral ``2e``: :func:`~gdl.groups.anchors.fourier_weights`); on sampled anchors its equivariance
    error is larger, dominated by the anchor mean of :math:`u` leaking through
    :math:`\frac1A \sum_a D^l(R_a) \neq 0` (kept for comparison, ``benchmarks/anchors.py``).

    Args:
        in_channels: channels ``C`` of the features.
        irreps: the output irreps, made of ``0e``, ``1o`` and ``2e``.
        hidden_channels: width of the per-anchor MLP. Default ``None`` (= ``in_channels``).

    Shapes:
        - **input:** ``x [N, A, C]``, ``anchors [A, 3, 3]``, optional ``batch [N]`` with ``num_graphs``
        - **output:** ``[N, irreps.dim]``, or ``[num_graphs, irreps.dim]`` with ``batch``
    """

    def weights(self, anchors: torch.Tensor, irrep: str) -> torch.Tensor:
        return anchor_basis(anchors, irrep) / anchors.shape[0]
