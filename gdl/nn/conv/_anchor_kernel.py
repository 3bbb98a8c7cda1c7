"""Kernels shared by the anchor layers (private): an MLP on invariants, a spatial kernel on
(point, anchor) invariants and edge lengths whose first layer is split so that the radial part is
computed once per edge rather than once per (edge, anchor) pair, the chunked, recomputed sum of
kernel-weighted messages (:func:`chunked_edge_sum`) that keeps the layers' memory bounded, the
layers' default radial embedding (:func:`default_radial`) and their anchor checks
(:func:`check_anchor_input`: shapes always, values only under :func:`gdl.debug`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ...groups.anchors import check_anchors
from .._checks import values_checked
from ..radial import BesselBasis, PolynomialCutoff, RadialEmbedding

__all__ = [
    "EDGE_ANCHOR_CHUNK",
    "InvariantMLP",
    "SpatialKernel",
    "check_anchor_input",
    "check_radial",
    "chunked_edge_sum",
    "default_radial",
    "radial_cutoff",
    "radial_parts",
]


def default_radial(num_basis: int = 8, cutoff: float = 5.0) -> RadialEmbedding:
    """The regular layers' default radial part: ``num_basis`` Bessel functions and DimeNet's
    polynomial envelope (order 6) at ``cutoff``."""
    return RadialEmbedding(BesselBasis(num_basis, cutoff), PolynomialCutoff(cutoff))


def check_radial(layer: str, radial: nn.Module | None) -> RadialEmbedding:
    """``radial`` (or the default) as a :class:`~gdl.nn.RadialEmbedding`. The spatial kernel uses its
    basis and its envelope separately (the basis enters the kernel MLP, the envelope multiplies the
    MLP's output so that the kernel itself, not only its input, vanishes at the cutoff), so it must
    be one, with a cutoff radius (the scale of the edge vectors the kernel sees)."""
    if radial is None:
        return default_radial()
    if not isinstance(radial, RadialEmbedding):
        raise TypeError(
            f"{layer}: radial must be a gdl.nn.RadialEmbedding (basis x cutoff envelope), got "
            f"{type(radial).__name__}"
        )
    radial_cutoff(radial)  # raises when no radius can be read
    return radial


def radial_cutoff(radial: RadialEmbedding) -> float:
    """The radius of a radial embedding: its envelope's ``cutoff``, else its basis's."""
    for part in (radial.cutoff_fn, radial.basis):
        c = getattr(part, "cutoff", None)
        if c is not None:
            return float(c)
    raise ValueError(f"the radial embedding {radial!r} has no cutoff radius (envelope or basis `cutoff`)")


def check_anchor_input(anchors: torch.Tensor, space: str, name: str = "anchors") -> None:
    """Anchors of ``space`` (``"so3"``: ``[A, 3, 3]``, ``"sphere"``: ``[A, 3]``), non-empty and
    floating: shapes always (free); values (rotations / unit vectors, finite) only under
    :func:`gdl.debug`, since they need device-to-host synchronisations."""
    if torch.compiler.is_compiling():
        return
    if values_checked(None):
        check_anchors(anchors, space, name, proper=False)
        return
    if not isinstance(anchors, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(anchors).__name__}")
    tail = (3, 3) if space == "so3" else (3,)
    if anchors.dim() != 1 + len(tail) or tuple(anchors.shape[1:]) != tail:
        want = "[A, 3, 3] rotations" if space == "so3" else "[A, 3] unit vectors"
        raise ValueError(f"{name} must be {want} for {space} anchors, got shape {tuple(anchors.shape)}")
    if anchors.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one anchor is required")
    if not anchors.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {anchors.dtype}")


class InvariantMLP(nn.Sequential):
    """``Linear -> SiLU -> Linear`` on the last dimension."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))

    def reset_parameters(self) -> None:
        for m in self:
            if isinstance(m, nn.Linear):
                m.reset_parameters()


class SpatialKernel(nn.Module):
    r"""A kernel :math:`k(\text{inv}_{ea}, d_e) \in \mathbb{R}^C` on (edge, anchor) pairs,
    multiplied by a polynomial envelope so that it vanishes smoothly at the cutoff.

    .. math::
        k_{ea} = u(d_e)\, W_2\, \mathrm{SiLU}\big(W_{\text{inv}}\, \text{inv}_{ea}
            + W_{\text{rad}}\, \rho(d_e) + b\big)

    with :math:`\rho` the radial basis and :math:`u` the envelope of the layer's
    :class:`~gdl.nn.RadialEmbedding` (computed by the layer, given here). Memory and time are linear
    in ``E * A``.

    Shapes: ``inv [E, A, k], rho [E, num_basis], u [E] or None -> [E, A, out_dim]``.
    """

    def __init__(self, num_invariants: int, num_basis: int, hidden: int, out_dim: int):
        super().__init__()
        self.lin_inv = nn.Linear(num_invariants, hidden)
        self.lin_rad = nn.Linear(num_basis, hidden, bias=False)
        self.act = nn.SiLU()
        self.lin_out = nn.Linear(hidden, out_dim)

    def reset_parameters(self) -> None:
        self.lin_inv.reset_parameters()
        self.lin_rad.reset_parameters()
        self.lin_out.reset_parameters()

    def forward(self, inv: torch.Tensor, rho: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        h = self.lin_inv(inv) + self.lin_rad(rho).unsqueeze(1)  # [E, A, hidden]
        k = self.lin_out(self.act(h))
        return k if u is None else k * u[:, None, None]


def radial_parts(radial: RadialEmbedding, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(basis(d) [E, K], envelope(d) [E] or None)`` of a radial embedding, kept apart (see
    :func:`check_radial`)."""
    u = radial.cutoff_fn(d) if radial.cutoff_fn is not None else None
    return radial.basis(d), u


#: Default number of (edge, anchor) pairs per chunk of :func:`chunked_edge_sum`.
EDGE_ANCHOR_CHUNK = 65536


def chunked_edge_sum(
    kernel: Callable[[torch.Tensor], torch.Tensor],
    edge_vec: torch.Tensor,
    edge_index: torch.Tensor,
    source: torch.Tensor,
    num_nodes: int,
    chunk_pairs: int,
) -> torch.Tensor:
    r""":math:`m_i = \sum_{e = (j \to i)} k(r_e) \odot s_j` over chunks of edges, each recomputed in the
    backward pass (``torch.utils.checkpoint``) instead of keeping its ``[E, A, C]`` intermediates.

    Only the chunk's inputs are kept between the passes, so the memory of the (edge, anchor) kernel
    and messages is that of one chunk of about ``chunk_pairs`` (edge, anchor) pairs rather than of all
    ``E * A``; the price is one more evaluation of the kernel in the backward pass, on chunks small
    enough to stay in cache.

    Args:
        kernel: ``r [Ec, 3] -> [Ec, A, C]``, the kernel of a chunk of edges.
        edge_vec: ``[E, 3]``.
        edge_index: ``[2, E]``, edges ``j -> i``.
        source: ``[N, A or 1, C]``, the features sent along the edges (broadcast over anchors).
        num_nodes: ``N``.
        chunk_pairs: (edge, anchor) pairs per chunk.

    Shapes: ``-> [N, A, C]``.
    """
    j, i = edge_index[0], edge_index[1]
    num_edges = edge_vec.shape[0]
    probe = kernel(edge_vec[:1])  # [1, A, C]: the output's shape and dtype
    num_anchors = probe.shape[1]
    out = source.new_zeros(num_nodes, num_anchors, max(probe.shape[2], source.shape[2]))
    step = max(1, chunk_pairs // max(num_anchors, 1))

    def block(
        r: torch.Tensor, src_index: torch.Tensor, dst_index: torch.Tensor, src: torch.Tensor
    ) -> torch.Tensor:
        # the chunk's messages summed into a partial [N, A, C] inside the recomputed region: nothing
        # of size [Ec, A, C] outlives the chunk (an index_add outside would keep its source)
        msg = kernel(r) * src.index_select(0, src_index)
        return msg.new_zeros(out.shape).index_add_(0, dst_index, msg)

    recompute = torch.is_grad_enabled()
    for start in range(0, num_edges, step):
        r, jc, ic = edge_vec[start : start + step], j[start : start + step], i[start : start + step]
        if recompute:
            out = out + checkpoint(block, r, jc, ic, source, use_reentrant=False)
        else:
            out.index_add_(0, ic, kernel(r) * source.index_select(0, jc))
    return out
