import math

import pytest
import torch
from torch.nn import functional as F

from gdl.nn import BesselBasis, InvariantConv, PolynomialCutoff, RadialEmbedding
from gdl.testing import default_dtype

from .scalar_conv_checks import (
    assert_bad_inputs_raise,
    assert_batch_matches_single,
    assert_compile_matches_eager,
    assert_float32_and_radius_graph,
    assert_gradcheck,
    equivariance,
    perturb,
    random_graph,
)

C = 8


def make(dtype=torch.float64, **kwargs) -> InvariantConv:
    torch.manual_seed(0)
    with default_dtype(dtype):
        return perturb(InvariantConv(C, **kwargs)).to(dtype)


def call_of(conv: InvariantConv):
    def call(x, pos, edge_index, edge_vec=None):
        return {"h": conv(x, pos, edge_index, edge_vec=edge_vec)}

    return call


@pytest.mark.parametrize("with_edge_vec", [False, True])
def test_invariance(with_edge_vec):
    x, pos, ei = random_graph(7, C)
    errors = equivariance(call_of(make()), x, pos, ei, {"h": "invariant"}, with_edge_vec)
    assert errors.max() < 1e-10, errors


def test_matches_schnet_by_hand():
    radial = RadialEmbedding(BesselBasis(6, 3.0), PolynomialCutoff(3.0))
    conv = make(num_filters=5, radial=radial, edge_dim=1)
    x, pos, ei = random_graph(4, C, seed=11)
    a = torch.randn(ei.shape[1], 1, dtype=torch.float64)
    out = conv(x, pos, ei, edge_attr=a)

    def ssp(t):
        return F.softplus(t) - math.log(2.0)

    f, o = conv.filter_net, conv.out_mlp
    for i in range(4):
        acc = torch.zeros(5, dtype=torch.float64)
        for e in range(ei.shape[1]):
            j, t = ei[:, e].tolist()
            if t != i:
                continue
            d = (pos[j] - pos[i]).norm().reshape(1)
            w = f[2](ssp(f[0](torch.cat([radial.basis(d)[0], a[e]])))) * radial.cutoff_fn(d)
            acc = acc + (x[j] @ conv.lin_in.weight.T) * w
        torch.testing.assert_close(out[i], x[i] + o[2](ssp(o[0](acc))), rtol=1e-12, atol=1e-12)


def test_edges_beyond_the_cutoff_do_nothing():
    conv = make(radial=RadialEmbedding(BesselBasis(6, 2.0), PolynomialCutoff(2.0)))
    x, pos, _ = random_graph(3, C, seed=12)
    pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]], dtype=torch.float64)
    near = torch.tensor([[0, 1], [1, 0]])
    with_far = torch.tensor([[0, 1, 2, 2], [1, 0, 0, 1]])
    torch.testing.assert_close(conv(x, pos, near)[:2], conv(x, pos, with_far)[:2])
    # and the filter goes to zero smoothly: a neighbour just inside the radius barely counts
    pos_edge = pos.clone()
    pos_edge[2, 0] = 1.999
    no_edges = conv(x, pos_edge, torch.empty(2, 0, dtype=torch.long))
    just_inside = conv(x, pos_edge, torch.tensor([[2], [0]]))
    assert 0 < (just_inside - no_edges).abs().max() < 1e-6


def test_batch_matches_single():
    assert_batch_matches_single(call_of(make()), C)


def test_gradcheck_and_zero_distance():
    assert_gradcheck(call_of(make()), C)
    conv = make()
    x, pos, ei = random_graph(4, C, seed=13)
    pos[1] = pos[0]
    pos.requires_grad_(True)
    conv(x, pos, ei).sum().backward()
    assert torch.isfinite(pos.grad).all()


def test_compile_matches_eager():
    assert_compile_matches_eager(call_of(make(torch.float32)), C, backend="aot_eager")


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    assert_compile_matches_eager(call_of(make(torch.float32)), C, backend="inductor")


def test_float32_on_a_radius_graph():
    assert_float32_and_radius_graph(call_of(make(torch.float32)), C)


def test_bad_inputs():
    assert_bad_inputs_raise(call_of(make(torch.float32)), C)
    x, pos, ei = random_graph(4, C, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"InvariantConv\(edge_dim=2\) needs edge_attr"):
        make(torch.float32, edge_dim=2)(x, pos, ei)


def test_reset_parameters_and_repr():
    conv = InvariantConv(16, num_filters=32)
    before = conv.filter_net[0].weight.clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.filter_net[0].weight)
    assert repr(conv) == (
        "InvariantConv(16, num_filters=32, radial=GaussianBasis(num_basis=50, cutoff=5.0, start=0.0) "
        "* CosineCutoff(cutoff=5.0), edge_dim=0)"
    )


def test_other_aggregations_still_go_through_propagate():
    x, pos, ei = random_graph(4, C, seed=3)
    add, mean = make(), make(aggr="mean")
    mean.load_state_dict(add.state_dict())
    deg = torch.bincount(ei[1], minlength=4).clamp(min=1).to(x.dtype).unsqueeze(-1)
    lin = add.lin_in(x)
    w = add.edge_filter(
        add.radial.basis((pos[ei[0]] - pos[ei[1]]).norm(dim=-1)),
        add.radial.cutoff_fn((pos[ei[0]] - pos[ei[1]]).norm(dim=-1)),
    )
    summed = torch.zeros(4, lin.shape[1], dtype=x.dtype).index_add_(0, ei[1], lin[ei[0]] * w)
    torch.testing.assert_close(add(x, pos, ei), x + add.out_mlp(summed))
    torch.testing.assert_close(mean(x, pos, ei), x + add.out_mlp(summed / deg))
