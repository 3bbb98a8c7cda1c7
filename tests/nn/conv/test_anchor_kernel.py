"""chunked_edge_sum (gdl.nn.conv._anchor_kernel): the chunked, recomputed message sum of the anchor
layers against a plain unchunked sum written here, in float64: outputs, first and second
derivatives, and what it allocates (one node-sized buffer per input, not one per chunk)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from gdl import groups
from gdl.nn.conv._anchor_kernel import SpatialKernel, chunked_edge_sum, default_radial, radial_parts
from gdl.nn.geometry import safe_norm

NUM_NODES, NUM_ANCHORS, CHANNELS = 7, 12, 5


class Problem(torch.nn.Module):
    """A spatial kernel on (edge, anchor) pairs of a 7-node full graph, with anchors that require
    grad, and node features ``[N, A, C]`` (or ``[N, 1, C]``, broadcast over anchors)."""

    def __init__(self, broadcast: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.radial = default_radial(4)
        self.spatial = SpatialKernel(3, 4, 8, CHANNELS).double()
        self.anchors = torch.nn.Parameter(groups.haar(NUM_ANCHORS, 1, dtype=torch.float64))
        g = torch.Generator().manual_seed(1)
        self.pos = (torch.randn(NUM_NODES, 3, generator=g, dtype=torch.float64) * 1.5).requires_grad_(True)
        a = 1 if broadcast else NUM_ANCHORS
        self.source = torch.randn(NUM_NODES, a, CHANNELS, generator=g, dtype=torch.float64).requires_grad_(
            True
        )
        row, col = torch.meshgrid(torch.arange(NUM_NODES), torch.arange(NUM_NODES), indexing="ij")
        keep = row != col
        self.edge_index = torch.stack([row[keep], col[keep]])

    def kernel(self, r: torch.Tensor) -> torch.Tensor:
        rho, u = radial_parts(self.radial, safe_norm(r))
        inv = torch.einsum("ek,akl->eal", r / 5.0, self.anchors)  # R_a^T r, [E, A, 3]
        return self.spatial(inv, rho, u)

    def edge_vec(self) -> torch.Tensor:
        j, i = self.edge_index
        return self.pos[j] - self.pos[i]

    def chunked(self, chunk_pairs: int, source: torch.Tensor | None = None) -> torch.Tensor:
        return chunked_edge_sum(
            self.kernel,
            self.edge_vec(),
            self.edge_index,
            self.source if source is None else source,
            NUM_NODES,
            chunk_pairs,
            kernel_inputs=(self.anchors, *self.spatial.parameters()),
        )

    def reference(self, chunk_pairs: int | None = None, source: torch.Tensor | None = None) -> torch.Tensor:
        """The plain sum over all edges at once, every intermediate stored."""
        src = self.source if source is None else source
        j, i = self.edge_index
        msg = self.kernel(self.edge_vec()) * src[j]
        return torch.zeros(NUM_NODES, NUM_ANCHORS, CHANNELS, dtype=msg.dtype).index_add(0, i, msg)

    def wrt(self) -> list[torch.Tensor]:
        return [self.pos, self.source, self.anchors, *self.spatial.parameters()]


#: (edge, anchor) pairs per chunk: one edge, 13 pairs (one edge: fewer pairs than anchors), a few
#: edges, all edges in one chunk
CHUNKS = [1, 13, 5 * NUM_ANCHORS, 10**6]


@pytest.mark.parametrize("broadcast", [False, True], ids=["source_NAC", "source_N1C"])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_outputs_and_gradients_match_the_plain_sum(chunk, broadcast):
    p = Problem(broadcast)
    ref, got = p.reference(), p.chunked(chunk)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-13)
    weight = torch.randn(ref.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    g_ref = torch.autograd.grad((ref * weight).sum(), p.wrt())
    g_got = torch.autograd.grad((got * weight).sum(), p.wrt())
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)
    with torch.no_grad():
        torch.testing.assert_close(p.chunked(chunk), ref.detach(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("chunk", [13, 10**6])
def test_second_derivatives_match_the_plain_sum(chunk):
    """A loss on forces: F = -dE/dpos with create_graph, then the gradient of |F|^2 (every input)."""
    p = Problem()
    grads = []
    for out in (p.reference(), p.chunked(chunk)):
        energy = (out * torch.tanh(out)).sum()
        forces = -torch.autograd.grad(energy, p.pos, create_graph=True)[0]
        grads.append(torch.autograd.grad(forces.pow(2).sum(), p.wrt()))
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_gradcheck_and_gradgradcheck():
    p = Problem(broadcast=True)
    ev = p.edge_vec().detach()[:9].requires_grad_(True)  # 9 edges, 3 anchors: a small Jacobian
    edge_index = p.edge_index[:, :9]
    anchors = p.anchors.detach()[:3].clone().requires_grad_(True)

    def f(ev, src, anchors):
        def kernel(r):
            rho, u = radial_parts(p.radial, safe_norm(r))
            return p.spatial(torch.einsum("ek,akl->eal", r / 5.0, anchors), rho, u)

        listed = (anchors, *p.spatial.parameters())
        return chunked_edge_sum(kernel, ev, edge_index, src, NUM_NODES, 7, kernel_inputs=listed)

    inputs = (ev, p.source.detach().requires_grad_(True), anchors)
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs, fast_mode=True)


class NodeSizedAllocations(TorchDispatchMode):
    """Counts the fresh tensors (outputs not sharing an input's storage) of at least ``numel``
    elements made by the operations run under it, forward and backward."""

    def __init__(self, numel: int):
        super().__init__()
        self.numel, self.count = numel, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr()
            for t in torch.utils._pytree.tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor)
        }
        for t in torch.utils._pytree.tree_leaves(out):
            if (
                isinstance(t, torch.Tensor)
                and t.numel() >= self.numel
                and t.untyped_storage().data_ptr() not in inputs
            ):
                self.count += 1
        return out


def test_node_sized_buffers_do_not_grow_with_the_number_of_chunks():
    """The old sum built an [N, A, C] partial per chunk in the forward pass and an [N, A, C] source
    gradient per chunk in the backward pass; now the output and each gradient are one buffer."""
    counts = []
    # 42 chunks of one edge, or 14 of 3 edges: every chunk tensor (also the kernel's hidden layer)
    # smaller than a node tensor
    for chunk in (NUM_ANCHORS, 3 * NUM_ANCHORS):
        p = Problem()
        with NodeSizedAllocations(NUM_NODES * NUM_ANCHORS * CHANNELS) as mode:
            out = p.chunked(chunk)
            torch.autograd.grad(out.sum(), [p.source, p.anchors])
        counts.append(mode.count)
    assert counts[0] == counts[1] <= 4, counts


def test_a_kernel_input_that_is_not_listed_is_an_error():
    p = Problem()
    with pytest.raises(RuntimeError, match=r"shape \(12, 3, 3\) .* not in kernel_inputs"):
        chunked_edge_sum(
            p.kernel,
            p.edge_vec(),
            p.edge_index,
            p.source,
            NUM_NODES,
            13,
            kernel_inputs=tuple(p.spatial.parameters()),
        )
    with torch.no_grad():  # nothing to differentiate: no check
        chunked_edge_sum(p.kernel, p.edge_vec(), p.edge_index, p.source, NUM_NODES, 13)


def test_no_edges():
    p = Problem()
    ev = p.edge_vec()[:0]
    out = chunked_edge_sum(
        p.kernel, ev, p.edge_index[:, :0], p.source, NUM_NODES, 13, kernel_inputs=p.wrt()[2:]
    )
    assert out.shape == (NUM_NODES, NUM_ANCHORS, CHANNELS) and not out.any()
    g = torch.autograd.grad(out.sum(), [p.source, p.anchors], allow_unused=True)
    assert not g[0].any() and (g[1] is None or not g[1].any())


def test_a_non_contiguous_source():
    """The features are often a view (e.g. an einsum's output); the gradients are still equal."""
    p = Problem()
    source = p.source.detach().permute(2, 1, 0).contiguous().permute(2, 1, 0).requires_grad_(True)
    assert not source.is_contiguous()
    ref, got = p.reference(source=source), p.chunked(13, source=source)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-13)
    g_ref = torch.autograd.grad(ref.pow(2).sum(), source)[0]
    g_got = torch.autograd.grad(got.pow(2).sum(), source)[0]
    torch.testing.assert_close(g_got, g_ref, rtol=1e-11, atol=1e-13)
