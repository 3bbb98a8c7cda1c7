import pytest
import torch
from torch.nn import functional as F

from gdl.nn import CosineCutoff, PlainConv
from gdl.nn.geometry import edge_vectors, safe_norm
from gdl.testing import default_dtype

from .scalar_conv_checks import (
    assert_bad_inputs_raise,
    assert_batch_matches_single,
    assert_compile_matches_eager,
    assert_float32_and_radius_graph,
    assert_gradcheck,
    equivariance,
    random_graph,
)

C = 8


def make(dtype=torch.float64, **kwargs) -> PlainConv:
    # default initialisation: the non-equivariance must show without tuning the weights
    torch.manual_seed(0)
    with default_dtype(dtype):
        return PlainConv(C, **kwargs).to(dtype)


def call_of(conv: PlainConv):
    def call(x, pos, edge_index, edge_vec=None):
        return {"h": conv(x, pos, edge_index, edge_vec=edge_vec)}

    return call


@pytest.mark.parametrize("with_edge_vec", [False, True])
def test_not_rotation_equivariant_but_translation_and_permutation_equivariant(with_edge_vec):
    x, pos, ei = random_graph(7, C)
    errors = equivariance(call_of(make()), x, pos, ei, {"h": "invariant"}, with_edge_vec)
    assert errors.by_transform("rotation")["h"] > 1e-2, errors
    assert errors.by_transform("reflection")["h"] > 1e-2, errors
    assert errors.by_transform("translation")["h"] < 1e-10, errors
    assert errors.by_transform("permutation")["h"] < 1e-10, errors


def test_matches_the_update_rule_by_hand():
    conv = make(edge_dim=2, radial=CosineCutoff(4.0))
    x, pos, ei = random_graph(4, C, seed=11)
    a = torch.randn(ei.shape[1], 2, dtype=torch.float64)
    out = conv(x, pos, ei, edge_attr=a)
    for i in range(4):
        acc = torch.zeros(C, dtype=torch.float64)
        for e in range(ei.shape[1]):
            j, t = ei[:, e].tolist()
            if t == i:
                r = pos[j] - pos[i]
                c = 0.5 * (torch.cos(r.norm() * torch.pi / 4.0) + 1) * (r.norm() < 4.0)
                acc = acc + F.silu(conv.msg_lin2(F.silu(conv.msg_lin1(torch.cat([x[i], x[j], r, a[e]]))))) * c
        torch.testing.assert_close(
            out[i], x[i] + conv.node_mlp(torch.cat([x[i], acc])), rtol=1e-12, atol=1e-12
        )


def test_batch_matches_single():
    assert_batch_matches_single(call_of(make()), C)


def test_gradcheck():
    assert_gradcheck(call_of(make()), C)


def test_compile_matches_eager():
    assert_compile_matches_eager(call_of(make(torch.float32)), C, backend="aot_eager")


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    assert_compile_matches_eager(call_of(make(torch.float32)), C, backend="inductor")


def test_float32_on_a_radius_graph():
    assert_float32_and_radius_graph(call_of(make(torch.float32)), C)


def test_bad_inputs():
    assert_bad_inputs_raise(call_of(make(torch.float32)), C)


def test_reset_parameters_and_repr():
    conv = PlainConv(16, radial=CosineCutoff(3.0))
    before = conv.msg_lin1.weight.clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.msg_lin1.weight)
    assert repr(conv) == "PlainConv(16, edge_dim=0, radial=CosineCutoff(cutoff=3.0))"


def test_precomputed_envelope_matches():
    """``edge_radial`` (the envelope a model computes once for its layers) gives the same output as
    the layer computing it, and a wrongly shaped one is refused."""
    conv = make()
    x, pos, ei = random_graph(5, C, seed=7)
    # the lengths as the layer computes them (torch's .norm() rounds differently by an ulp on some
    # CPUs), so the claim "same output" can be exact
    env = conv.radial(safe_norm(edge_vectors(pos, ei)))
    torch.testing.assert_close(conv(x, pos, ei, edge_radial=env), conv(x, pos, ei), rtol=0, atol=0)
    with pytest.raises(ValueError, match="edge_radial must have shape"):
        conv(x, pos, ei, edge_radial=env[:, None])
