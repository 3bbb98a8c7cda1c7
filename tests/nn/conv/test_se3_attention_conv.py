import functools

import pytest
import torch
from torch_geometric.utils import scatter, softmax

from gdl.groups import haar, wigner_D
from gdl.nn import SE3AttentionConv
from gdl.nn.edge_tensor_product import edge_tensor_product
from gdl.nn.irreps import hidden_irreps, spherical_harmonics_irreps
from gdl.testing import assert_equivariant, default_dtype, equivariance_error, node
from gdl.testing.data import random_molecule

TOL = 1e-9


@functools.cache
def make_conv(l_max: int, parity: bool = True, dtype=torch.float64, num_heads: int = 2) -> SE3AttentionConv:
    """Built once per configuration (e3nn code generation dominates the cost); tests must not mutate it."""
    torch.manual_seed(0)
    with default_dtype(dtype):
        conv = SE3AttentionConv(
            hidden_irreps(2, l_max, parity),
            hidden_irreps(3, l_max, parity),
            spherical_harmonics_irreps(l_max, parity),
            num_heads=num_heads,
        )
    return conv.to(dtype)


def inputs(conv, num_nodes: int = 6, seed: int = 0, dtype=torch.float64) -> dict:
    data = random_molecule(num_nodes, seed=seed, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, conv.irreps_in.dim, generator=g, dtype=torch.float64).to(dtype)
    return {"x": x, "pos": data.pos, "edge_index": data.edge_index}


def check(conv, ins, group="O3"):
    return assert_equivariant(
        conv,
        ins,
        in_types={"x": node(str(conv.irreps_in))},
        out_types=node(str(conv.irreps_out)),
        group=group,
        tol=TOL,
    )


class UniformAttention(SE3AttentionConv):
    """Attention switched off: equal logits, so every incoming edge gets weight 1 / in-degree."""

    def attention_logits(self, q_i: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return k.new_zeros(k.shape[0], self.num_heads)


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_o3_equivariance_with_parity_of_every_output(l_max):
    conv = make_conv(l_max)
    assert {ir.p for _, ir in conv.irreps_out} == {1, -1}
    errors = check(conv, inputs(conv))
    assert set(errors.transforms) == {"rotation", "reflection", "translation", "permutation"}


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_so3_option_is_rotation_equivariant_only(l_max):
    conv = make_conv(l_max, parity=False)
    ins = inputs(conv)
    check(conv, ins, group="SO3")
    errors = equivariance_error(
        conv, ins, in_types={"x": node(str(conv.irreps_in))}, out_types=node(str(conv.irreps_out))
    )
    assert errors.by_transform("reflection")["output"] > 1e-3


def test_uniform_attention_reduces_to_a_tfn_convolution():
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        conv = UniformAttention("4x0e+4x1o", "4x0e+2x1o+2x2e", irreps_sh=2, num_heads=2).double()
        # the value half of the layer, rebuilt from e3nn primitives: a TFN convolution with mean aggregation
        tp, irreps_mid = edge_tensor_product(
            conv.irreps_in, conv.irreps_sh, {ir for _, ir in conv.irreps_mid}
        )
    assert irreps_mid == conv.irreps_mid
    ins = inputs(conv, 6)
    x, pos, (j, i) = ins["x"], ins["pos"], ins["edge_index"]
    edge_sh, edge_radial = conv.edge_embedding(pos[j] - pos[i])
    w = conv.radial_mlp(edge_radial)
    w_value = w[:, tp.weight_numel :]  # the weights list the key paths first, then the value paths
    tfn = scatter(tp(x[j], edge_sh, w_value), i, dim=0, dim_size=6, reduce="mean")
    expected = conv.norm(conv.linear(tfn) + conv.self_interaction(x))
    with torch.no_grad():
        torch.testing.assert_close(conv(**ins), expected.detach())
        # with attention off the queries play no role ...
        conv.query.weight.normal_()
        torch.testing.assert_close(conv(**ins), expected.detach())
        # ... and with attention on they do: the attention is where it should be
        attentive = SE3AttentionConv("4x0e+4x1o", "4x0e+2x1o+2x2e", irreps_sh=2, num_heads=2).double()
        attentive.load_state_dict(conv.state_dict())
        assert (attentive(**ins) - expected).abs().max() > 1e-3


def test_attention_weights_are_an_invariant_softmax_per_head():
    conv = make_conv(2)
    ins = inputs(conv)
    x, pos, (j, i) = ins["x"], ins["pos"], ins["edge_index"]
    captured = {}

    def logits(q_i, k):
        out = SE3AttentionConv.attention_logits(conv, q_i, k)
        captured["logits"] = out
        return out

    with torch.no_grad():
        conv.attention_logits = logits  # instance attribute shadows the method for this check
        try:
            conv(**ins)
        finally:
            del conv.attention_logits
    lg = captured["logits"]
    assert lg.shape == (j.numel(), conv.num_heads)
    alpha = softmax(lg, i, num_nodes=6)
    torch.testing.assert_close(
        scatter(alpha, i, dim=0, dim_size=6, reduce="sum"), torch.ones(6, 2, dtype=torch.float64)
    )
    # logits are invariant: same values after rotating (and reflecting) the inputs
    R = -haar(1, 7, dtype=torch.float64)[0]
    D = wigner_D(conv.irreps_in, R)
    with torch.no_grad():
        conv.attention_logits = logits
        try:
            conv(x @ D.T, pos @ R.T, ins["edge_index"])
        finally:
            del conv.attention_logits
    torch.testing.assert_close(captured["logits"], lg, atol=1e-10, rtol=1e-9)


def test_heads_partition_the_channels():
    conv = SE3AttentionConv("4x0e+4x1o", "4x0e+4x1o", irreps_sh=1, num_heads=2)
    assert conv.heads.shape == (conv.irreps_mid.dim, 2)
    assert torch.equal(conv.heads.sum(dim=1), torch.ones(conv.irreps_mid.dim))
    # irreps_mid = 4x0e + 4x1o: head 0 owns channels 0-1 of each block, head 1 channels 2-3
    assert conv.heads[:, 0].tolist() == [1, 1, 0, 0] + [1] * 6 + [0] * 6


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_batch_matches_single(l_max):
    conv = make_conv(l_max)
    a, b = inputs(conv, 5, seed=1), inputs(conv, 7, seed=2)
    batched = {
        "x": torch.cat([a["x"], b["x"]]),
        "pos": torch.cat([a["pos"], b["pos"]]),
        "edge_index": torch.cat([a["edge_index"], b["edge_index"] + 5], dim=1),
    }
    with torch.no_grad():
        out = conv(**batched)
        torch.testing.assert_close(out[:5], conv(**a), atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(out[5:], conv(**b), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_gradcheck(l_max):
    conv = make_conv(l_max)
    ins = inputs(conv, 3, seed=3)
    x = ins["x"].clone().requires_grad_(True)
    pos = ins["pos"].clone().requires_grad_(True)
    with default_dtype(torch.float64):
        assert torch.autograd.gradcheck(
            lambda x, p: conv(x, p, ins["edge_index"]), (x, pos), eps=1e-6, atol=1e-6, fast_mode=True
        )


def test_float32_and_float64_and_edge_vec():
    for dtype in (torch.float32, torch.float64):
        conv = make_conv(1, dtype=dtype)
        ins = inputs(conv, dtype=dtype)
        out = conv(**ins)
        assert out.dtype == dtype and out.shape == (6, conv.irreps_out.dim) and torch.isfinite(out).all()
        j, i = ins["edge_index"]
        with torch.no_grad():
            torch.testing.assert_close(
                conv(
                    ins["x"],
                    torch.zeros_like(ins["pos"]),
                    ins["edge_index"],
                    edge_vec=ins["pos"][j] - ins["pos"][i],
                ),
                conv(**ins),
            )


def test_reset_parameters_and_repr():
    conv = make_conv.__wrapped__(1)
    before = [p.detach().clone() for p in conv.parameters()]
    conv.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, conv.parameters()))
    text = repr(conv)
    assert text.startswith("SE3AttentionConv(2x0e+2x0o+2x1o+2x1e -> 3x0e+3x0o+3x1o+3x1e")
    assert "num_heads=2" in text and f"weights_per_edge={conv.tp.weight_numel}" in text


# -- bad input ---------------------------------------------------------------------------------
def test_bad_inputs():
    conv = make_conv(1)
    ins = inputs(conv)
    with pytest.raises(ValueError, match=r"SE3AttentionConv: x must have shape \[N, 16\] for irreps_in=2x0e"):
        conv(ins["x"][:, :3], ins["pos"], ins["edge_index"])
    with pytest.raises(ValueError, match="divisible by num_heads=4; \\['2x1o'\\] are not"):
        SE3AttentionConv("4x0e+2x1o", "4x0e", num_heads=4)
    with pytest.raises(ValueError, match="l_max must be an integer in"):
        SE3AttentionConv("4x0e", "4x0e", irreps_sh=20)
    with pytest.raises(ValueError, match=r"contains \['2e'\]"):
        SE3AttentionConv("4x0e", "4x0e+4x2e", irreps_sh=1, num_heads=2)


# -- torch.compile ---------------------------------------------------------------------------------
def _compiled_matches_eager(backend: str, dynamic: bool) -> None:
    torch.manual_seed(0)
    conv = SE3AttentionConv("4x0e+2x1o", "4x0e+2x1o+2x1e", irreps_sh=1, num_heads=2)
    cases = [inputs(conv, dtype=torch.float32)]
    if dynamic:
        cases.append(inputs(conv, 8, seed=5, dtype=torch.float32))
    compiled = torch.compile(conv, backend=backend, dynamic=dynamic, fullgraph=True)
    with torch.no_grad():
        for case in cases:
            torch.testing.assert_close(compiled(**case), conv(**case), atol=1e-4, rtol=1e-4)


def test_compile_matches_eager():
    # see tests/nn/conv/test_tfn_conv.py: inductor works but its compilation is slow on 2 cores
    _compiled_matches_eager("aot_eager", dynamic=False)


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    _compiled_matches_eager("inductor", dynamic=True)


@pytest.mark.parametrize("l_max", [1, 2])
def test_bounded_position_gradient_at_coincident_points(l_max):
    # two distinct nodes at one position (duplicates in catalogues, augmented data): the zero-length
    # edge has no direction; before the guard in SphericalEdgeEmbedding d(out)/d(pos) reached ~1e13
    from ._coincident import max_position_gradient

    assert max_position_gradient(make_conv(l_max)) <= 1e3
