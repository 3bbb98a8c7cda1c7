import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.nn import GroupConv, RelaxedGroupConv
from gdl.nn.conv._anchor_kernel import default_radial
from gdl.testing.data import random_molecule

from ._anchor_layers import (
    check_edge_vec,
    check_exact_permutation,
    check_gradcheck,
    check_reset_parameters,
    check_translation_and_permutation,
    relative,
)

G = groups.octahedral()


def make_layer(c_in: int = 4, c_out: int = 5, num_kernels: int = 2, relax: float = 0.0) -> RelaxedGroupConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        layer = RelaxedGroupConv(
            c_in, c_out, num_anchors=24, num_kernels=num_kernels, radial=default_radial(4), radial_hidden=8
        ).double()
    if relax:
        with torch.no_grad():
            layer.relaxed_weights.add_(relax * torch.randn(24, num_kernels, dtype=torch.float64))
    return layer


def features(n: int, anchors: torch.Tensor, c: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, anchors.shape[0], c, generator=g, dtype=torch.float64)


def permute(f, g, sigma):
    return f[:, sigma]


def test_repr_and_reset():
    layer = make_layer(relax=0.5)
    assert repr(layer) == (
        "RelaxedGroupConv(4, 5, num_anchors=24, num_kernels=2, num_basis=4, cutoff=5.0, radial_hidden=8, "
        "aggr='sum')"
    )
    assert layer.relaxation_norm() > 0
    check_reset_parameters(layer)
    assert layer.relaxation_norm() == 0.0  # reset starts exactly equivariant again
    assert torch.equal(layer.relaxed_weights[:, 0], torch.ones(24, dtype=torch.float64))


@pytest.mark.parametrize("num_kernels", [1, 3])
def test_exact_at_zero_relaxation_even_with_anchor_independent_weights(num_kernels):
    layer = make_layer(num_kernels=num_kernels)
    with torch.no_grad():  # any weights equal across anchors: still exactly equivariant
        layer.relaxed_weights.copy_(torch.randn(1, num_kernels, dtype=torch.float64).expand(24, -1))
    assert layer.relaxation_norm() < 1e-12
    check_exact_permutation(layer, features, permute, G, G)


def test_relaxation_breaks_the_anchor_permutation_in_proportion():
    data = random_molecule(7, seed=3)
    f = features(7, G)
    errs = []
    for relax in (1e-4, 1e-3, 1e-2):
        layer = make_layer(relax=relax)
        with default_dtype(torch.float64):
            out = layer(f, data.pos, data.edge_index, anchors=G)
            g = G[5]
            sigma = groups.anchor_permutation(g, G)
            got = layer(f[:, sigma], data.pos @ g.T, data.edge_index, anchors=G)
        errs.append(relative(got, out[:, sigma]))
    assert errs[0] > 1e-7
    # linear in the relaxation for small relaxations: a factor 10 per step (within 20 %)
    assert 8 < errs[1] / errs[0] < 12 and 8 < errs[2] / errs[1] < 12, errs


def test_from_conv_computes_the_same_function():
    torch.manual_seed(1)
    with default_dtype(torch.float64):
        conv = GroupConv(4, 5, radial=default_radial(4), radial_hidden=8).double()
        relaxed = RelaxedGroupConv.from_conv(conv, num_anchors=24, num_kernels=3)
        data = random_molecule(6, seed=1)
        f = features(6, G)
        ref = conv(f, data.pos, data.edge_index, anchors=G)
        torch.testing.assert_close(relaxed(f, data.pos, data.edge_index, anchors=G), ref)
    assert relaxed.relaxed_weights.dtype == torch.float64


def test_from_conv_keeps_edge_chunk_radial_and_aggr():
    # from_conv used to drop edge_chunk (the relaxed layer fell back to the default chunk size)
    with default_dtype(torch.float64):
        for chunk, aggr in ((7, "sum"), (None, "sum"), (65536, "mean")):
            radial = default_radial(4, 3.0)
            conv = GroupConv(4, 5, radial=radial, radial_hidden=8, edge_chunk=chunk, aggr=aggr)
            relaxed = RelaxedGroupConv.from_conv(conv, num_anchors=24)
            assert relaxed.edge_chunk == chunk and relaxed.aggr == aggr
            assert (relaxed.num_basis, relaxed.cutoff, relaxed.radial_hidden) == (4, 3.0, 8)
            assert relaxed.radial is not conv.radial  # a copy: a trainable basis is not shared
            data = random_molecule(6, seed=2)
            f = features(6, G)
            ref = conv(f, data.pos, data.edge_index, anchors=G)
            torch.testing.assert_close(relaxed(f, data.pos, data.edge_index, anchors=G), ref)


def test_penalty_and_gradients():
    layer = make_layer(relax=0.1)
    w = layer.relaxed_weights.detach()
    penalty = float(layer.relaxation_penalty().detach())
    assert penalty == pytest.approx(float((w - w.mean(0)).pow(2).sum()), rel=1e-12)
    # the penalty equals the paper's pairwise form up to 1 / (2B)
    pairwise = (w[:, None] - w[None]).pow(2).sum()
    assert float(pairwise) == pytest.approx(2 * 24 * penalty, rel=1e-10)
    data = random_molecule(5, seed=2)
    layer0 = make_layer()
    layer0(features(5, G), data.pos, data.edge_index, anchors=G).square().sum().backward()
    # at zero relaxation the extra kernels' weights still get gradients (the relaxation can grow)
    assert layer0.relaxed_weights.grad[:, 1].abs().max() > 0


def test_translation_permutation_edge_vec_gradcheck():
    check_translation_and_permutation(make_layer(relax=0.1), features(7, G), G, 7)
    check_edge_vec(make_layer(relax=0.1), features(6, G), G)
    R = groups.haar(24, 3, dtype=torch.float64)
    check_gradcheck(make_layer(relax=0.1), features(3, R), R)


def test_bad_inputs():
    layer = make_layer()
    data = random_molecule(5, seed=0)
    R = groups.tetrahedral()
    with pytest.raises(ValueError, match="built for 24 input anchors .* got 12"):
        layer(torch.zeros(5, 12, 4, dtype=torch.float64), data.pos, data.edge_index, anchors=R)
    with pytest.raises(ValueError, match="num_anchors >= 1 and num_kernels >= 1"):
        RelaxedGroupConv(4, 4, num_anchors=24, num_kernels=0)
