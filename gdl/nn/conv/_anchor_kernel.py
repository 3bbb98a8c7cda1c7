"""Kernels shared by the anchor layers (private): an MLP on invariants, a spatial kernel on
(point, anchor) invariants and edge lengths whose first layer is split so that the radial part is
computed once per edge rather than once per (edge, anchor) pair, the chunked, recomputed sum of
kernel-weighted messages (:func:`chunked_edge_sum`, one autograd function) that keeps the layers'
memory bounded, the layers' default radial embedding (:func:`default_radial`) and their anchor checks
(:func:`check_anchor_input`: shapes always, values only under :func:`gdl.debug`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

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
    kernel_inputs: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    r""":math:`m_i = \sum_{e = (j \to i)} k(r_e) \odot s_j` over chunks of edges, summed into one
    output buffer in place, each chunk's kernel recomputed in the backward pass.

    Nothing of size ``[E, A, C]`` is kept between the passes, and nothing of size ``[N, A, C]`` is
    made per chunk: the forward pass adds each chunk's messages into the output (``index_add_``) and
    keeps only the inputs; the backward pass recomputes each chunk's kernel and adds its gradients
    into one buffer per input (:class:`_ChunkedEdgeSum`). The memory of the (edge, anchor) kernel and
    messages is that of one chunk of about ``chunk_pairs`` (edge, anchor) pairs; the price is one
    more evaluation of the kernel in the backward pass. Second derivatives (e.g. a loss on forces
    :math:`-\partial E / \partial x` trained with ``create_graph=True``) are supported: under
    ``create_graph`` the backward pass is itself differentiable (and keeps what that needs).

    Args:
        kernel: ``r [Ec, 3] -> [Ec, A, C]``, the kernel of a chunk of edges.
        edge_vec: ``[E, 3]``.
        edge_index: ``[2, E]``, edges ``j -> i``.
        source: ``[N, A or 1, C]``, the features sent along the edges (broadcast over anchors).
        num_nodes: ``N``.
        chunk_pairs: (edge, anchor) pairs per chunk.
        kernel_inputs: every tensor ``kernel`` reads that gradients must reach besides ``edge_vec``
            (its parameters, the anchors). They are the recomputation's inputs: one the kernel
            reads but that is not listed would get no gradient through the messages, so it is an
            error (``RuntimeError`` naming its shape), checked on a one-edge probe of the kernel.

    Shapes: ``-> [N, A, C]``.
    """
    kernel_inputs = tuple(kernel_inputs)
    probe = kernel(edge_vec[:1])  # [1, A, C]: the output's shape and dtype
    if probe.requires_grad and not torch.compiler.is_compiling():
        _check_kernel_inputs(probe, (edge_vec, *kernel_inputs))
    num_anchors = probe.shape[1]
    shape = (num_nodes, num_anchors, max(probe.shape[2], source.shape[2]))
    step = max(1, chunk_pairs // max(num_anchors, 1))
    if not torch.is_grad_enabled():
        return _sum_chunks(kernel, edge_vec, edge_index, source, shape, step)
    return _ChunkedEdgeSum.apply(kernel, step, shape, edge_index, edge_vec, source, *kernel_inputs)


def _sum_chunks(kernel, edge_vec, edge_index, source, shape, step) -> torch.Tensor:
    """The forward sum: each chunk's messages added into one ``[N, A, C]`` buffer in place."""
    j, i = edge_index[0], edge_index[1]
    out = source.new_zeros(shape)
    for start in range(0, edge_vec.shape[0], step):
        stop = start + step
        msg = kernel(edge_vec[start:stop]) * source.index_select(0, j[start:stop])  # [Ec, A, C]
        out.index_add_(0, i[start:stop], msg)
    return out


def _check_kernel_inputs(probe: torch.Tensor, listed: Sequence[torch.Tensor]) -> None:
    """Raise when the graph of ``probe`` reaches a leaf that requires grad and is not in ``listed``
    (walking back from ``probe`` and stopping at the listed tensors)."""
    leaves = {id(t) for t in listed}
    stops = {t.grad_fn for t in listed if t.grad_fn is not None}
    seen, todo = set(), [probe.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen or node in stops:
            continue
        seen.add(node)
        var = getattr(node, "variable", None)  # AccumulateGrad: a leaf
        if var is not None and id(var) not in leaves:
            raise RuntimeError(
                f"chunked_edge_sum: the kernel reads a tensor of shape {tuple(var.shape)} that requires "
                "grad but is not in kernel_inputs; its gradient would be lost in the recomputed backward"
            )
        todo.extend(fn for fn, _ in node.next_functions)


class _ChunkedEdgeSum(torch.autograd.Function):
    """The autograd function of :func:`chunked_edge_sum`: inputs ``(kernel, step, shape, edge_index,
    edge_vec, source, *kernel_inputs)``; saves only the tensors among them."""

    @staticmethod
    def forward(ctx, kernel, step, shape, edge_index, edge_vec, source, *kernel_inputs):
        out = _sum_chunks(kernel, edge_vec, edge_index, source, shape, step)
        ctx.kernel, ctx.step = kernel, step
        ctx.save_for_backward(edge_index, edge_vec, source, *kernel_inputs)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        edge_index, edge_vec, source, *extra = ctx.saved_tensors
        need_vec, need_src, *need_extra = ctx.needs_input_grad[4:]
        wanted = [t for t, need in enumerate(need_extra) if need]
        # create_graph: every operation below is recorded (out of place), so that the gradients are
        # differentiable again; otherwise the chunk's kernel is rebuilt from detached inputs and the
        # gradients go into single buffers in place
        graph = torch.is_grad_enabled()
        j, i = edge_index[0], edge_index[1]
        # contiguous buffers (zeros_like would copy the strides of, e.g., an einsum's output, and
        # index_add_ into a non-contiguous tensor is 20x slower)
        grad_vec = None if graph or not need_vec else edge_vec.new_zeros(edge_vec.shape)
        vec_parts: list[torch.Tensor] = []
        grad_src = source.new_zeros(source.shape) if need_src else None
        grad_extra: list[torch.Tensor | None] = [None] * len(extra)
        for start in range(0, edge_vec.shape[0], ctx.step):
            stop = start + ctx.step
            jc, ic = j[start:stop], i[start:stop]
            with torch.enable_grad():
                r = edge_vec[start:stop] if graph else edge_vec[start:stop].detach().requires_grad_(need_vec)
                k = ctx.kernel(r)  # [Ec, A, C]
            go = grad_out.index_select(0, ic)  # [Ec, A, C_out]
            src = source.index_select(0, jc)  # [Ec, A or 1, C]
            if need_src:
                part = (go * (k if graph else k.detach())).sum_to_size(src.shape)
                grad_src = grad_src.index_add(0, jc, part) if graph else grad_src.index_add_(0, jc, part)
            targets = ([r] if need_vec else []) + [extra[t] for t in wanted]
            if not targets or not k.requires_grad:
                continue
            grads = torch.autograd.grad(
                k, targets, (go * src).sum_to_size(k.shape), allow_unused=True, create_graph=graph
            )
            if need_vec:
                if graph:
                    vec_parts.append(grads[0] if grads[0] is not None else torch.zeros_like(r))
                elif grads[0] is not None:
                    grad_vec[start:stop] = grads[0]
                grads = grads[1:]
            for t, g in zip(wanted, grads):
                if g is not None:  # parameters and anchors are small: out of place
                    grad_extra[t] = g if grad_extra[t] is None else grad_extra[t] + g
        if need_vec and graph:
            grad_vec = torch.cat(vec_parts) if vec_parts else torch.zeros_like(edge_vec)
        return (None, None, None, None, grad_vec, grad_src, *grad_extra)
