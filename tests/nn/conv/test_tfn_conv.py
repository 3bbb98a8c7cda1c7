import functools

import pytest
import torch
from e3nn import o3
from torch_geometric.utils import scatter

import gdl
from gdl.nn import SphericalEdgeEmbedding, TFNConv
from gdl.nn.irreps import hidden_irreps, spherical_harmonics_irreps
from gdl.testing import assert_equivariant, default_dtype, edge, equivariance_error, node
from gdl.testing.data import random_molecule

TOL = 1e-9


@functools.cache
def make_conv(l_max: int, parity: bool = True, dtype=torch.float64, seed: int = 0) -> TFNConv:
    """Built once per configuration (e3nn code generation dominates the cost); tests must not mutate it."""
    torch.manual_seed(seed)
    with default_dtype(dtype):
        conv = TFNConv(
            hidden_irreps(2, l_max, parity),
            hidden_irreps(3, l_max, parity),
            spherical_harmonics_irreps(l_max, parity),
        )
    return conv.to(dtype)


def inputs(conv: TFNConv, num_nodes: int = 6, seed: int = 0, dtype=torch.float64) -> dict:
    data = random_molecule(num_nodes, seed=seed, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, conv.irreps_in.dim, generator=g, dtype=torch.float64).to(dtype)
    return {"x": x, "pos": data.pos, "edge_index": data.edge_index}


def check(conv, ins, group="O3", tol=TOL, **kw):
    return assert_equivariant(
        conv,
        ins,
        in_types={"x": node(str(conv.irreps_in))},
        out_types=node(str(conv.irreps_out)),
        group=group,
        tol=tol,
        **kw,
    )


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_o3_equivariance_with_parity_of_every_output(l_max):
    conv = make_conv(l_max)
    # outputs of both parities for every degree: reflections check each block's parity
    assert {ir.p for _, ir in conv.irreps_out} == {1, -1}
    errors = check(conv, inputs(conv))
    assert set(errors.transforms) == {"rotation", "reflection", "translation", "permutation"}


def test_reflection_check_sees_wrong_parity_labels():
    conv = make_conv(2)
    flipped = o3.Irreps([(mul, (ir.l, -ir.p)) for mul, ir in conv.irreps_out])
    errors = equivariance_error(
        conv, inputs(conv), in_types={"x": node(str(conv.irreps_in))}, out_types=node(str(flipped))
    )
    assert errors.by_transform("rotation")["output"] < TOL
    assert errors.by_transform("reflection")["output"] > 0.1


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_so3_option_is_rotation_equivariant_only(l_max):
    conv = make_conv(l_max, parity=False)
    assert all(ir.p == 1 for _, ir in conv.irreps_in + conv.irreps_out + conv.irreps_sh)
    ins = inputs(conv)
    check(conv, ins, group="SO3")
    # with all-even labels the cross-product path 1 x 1 -> 1 exists, so reflections are not a symmetry
    errors = equivariance_error(
        conv, ins, in_types={"x": node(str(conv.irreps_in))}, out_types=node(str(conv.irreps_out))
    )
    assert errors.by_transform("reflection")["output"] > 1e-3


def test_edge_vec_replaces_positions():
    conv = make_conv(2)
    ins = inputs(conv)
    j, i = ins["edge_index"]
    edge_vec = ins["pos"][j] - ins["pos"][i]
    with torch.no_grad():
        ref = conv(**ins)
        # a periodic-box user passes minimum-image vectors; positions are then not used for geometry
        out = conv(ins["x"], torch.zeros_like(ins["pos"]), ins["edge_index"], edge_vec=edge_vec)
    torch.testing.assert_close(out, ref)
    ins_vec = {**ins, "edge_vec": edge_vec}
    assert_equivariant(
        conv,
        ins_vec,
        in_types={"x": node(str(conv.irreps_in)), "edge_vec": edge("1o")},
        out_types=node(str(conv.irreps_out)),
        tol=TOL,
    )


def test_precomputed_edge_attributes_match():
    conv = make_conv(2)
    ins = inputs(conv)
    j, i = ins["edge_index"]
    emb = SphericalEdgeEmbedding(conv.irreps_sh, conv.edge_embedding.radial)
    edge_sh, edge_radial = emb(ins["pos"][j] - ins["pos"][i])
    with torch.no_grad():
        torch.testing.assert_close(conv(**ins, edge_sh=edge_sh, edge_radial=edge_radial), conv(**ins))
    with pytest.raises(ValueError, match=r"edge_sh must have shape \[30, 9\]"):
        conv(**ins, edge_sh=edge_sh[:, :4], edge_radial=edge_radial)
    with pytest.raises(ValueError, match=r"edge_radial must have shape \[30, 8\]"):
        conv(**ins, edge_sh=edge_sh, edge_radial=edge_radial[:-1])


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


def test_isolated_node_gets_self_interaction_only():
    conv = make_conv(1).eval()
    ins = inputs(conv, 4)
    keep = (ins["edge_index"] != 3).all(dim=0)  # node 3 neither sends nor receives
    ins["edge_index"] = ins["edge_index"][:, keep]
    with torch.no_grad():
        out = conv(**ins)
        ref = conv.gate(conv.self_interaction(ins["x"][3:]))  # hidden irreps list scalars first: no reorder
    torch.testing.assert_close(out[3:], ref)


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


def test_float32_and_float64():
    for dtype in (torch.float32, torch.float64):
        conv = make_conv(2, dtype=dtype)
        out = conv(**inputs(conv, dtype=dtype))
        assert out.dtype == dtype and out.shape == (6, conv.irreps_out.dim)
        assert torch.isfinite(out).all()


def test_matches_definition():
    """The forward pass is the documented update rule, written out with e3nn primitives."""
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        conv = TFNConv("3x0e+2x1o", "2x1o+3x0e+1x2e", irreps_sh=2, avg_num_neighbors=4.0).double()
    ins = inputs(conv, 5)
    x, pos, (j, i) = ins["x"], ins["pos"], ins["edge_index"]
    vec = pos[j] - pos[i]
    sh = o3.spherical_harmonics([0, 1, 2], vec, normalize=True, normalization="component")
    w = conv.radial_mlp(conv.edge_embedding.radial(vec.norm(dim=-1)))
    m = scatter(conv.tp(x[j], sh, w), i, dim=0, dim_size=5, reduce="sum") / 2.0
    pre = conv.linear(m) + conv.self_interaction(x)
    gated = conv.gate(pre)  # 3x0e + (2x1o + 1x2e) -> reorder to 2x1o + 3x0e + 1x2e
    ref = torch.cat([gated[:, 3:9], gated[:, :3], gated[:, 9:]], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(conv(**ins), ref.detach())


def test_tensor_product_is_channelwise_with_summed_paths():
    conv = TFNConv("4x0e+4x1o", "4x0e+4x1o", irreps_sh=1)
    # paths: 0e x 0e -> 0e, 0e x 1o -> 1o, 1o x 0e -> 1o, 1o x 1o -> 0e (1e is not wanted)
    assert len(conv.tp.instructions) == 4
    assert all(ins.connection_mode == "uvu" for ins in conv.tp.instructions)
    assert conv.irreps_mid == o3.Irreps("4x0e+4x1o")
    assert conv.tp.weight_numel == 16  # one weight per channel and path, per edge
    assert not conv.tp.shared_weights and not conv.tp.internal_weights


def test_works_in_a_plain_pyg_model_with_radius_graph():
    torch_cluster = pytest.importorskip("torch_cluster")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = TFNConv("4x0e", "4x0e+2x1o", irreps_sh=1)
            self.conv2 = TFNConv(self.conv1.irreps_out, "1x1o", irreps_sh=1)

        def forward(self, x, pos, batch):
            edge_index = torch_cluster.radius_graph(pos, r=3.0, batch=batch)
            return self.conv2(self.conv1(x, pos, edge_index), pos, edge_index)

    pos = torch.randn(20, 3)
    batch = torch.repeat_interleave(torch.arange(2), 10)
    out = Net()(torch.randn(20, 4), pos, batch)
    assert out.shape == (20, 3) and torch.isfinite(out).all()


def test_reset_parameters_and_repr():
    conv = make_conv.__wrapped__(1)
    before = [p.detach().clone() for p in conv.parameters()]
    conv.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, conv.parameters()))
    text = repr(conv)
    assert text.startswith("TFNConv(2x0e+2x0o+2x1o+2x1e -> 3x0e+3x0o+3x1o+3x1e")
    assert f"weights_per_edge={conv.tp.weight_numel}" in text and "irreps_sh=1x0e+1x1o" in text


# -- bad input ---------------------------------------------------------------------------------
def test_feature_width_must_match_irreps_in():
    conv = make_conv(1)
    ins = inputs(conv)
    with pytest.raises(ValueError, match=r"x must have shape \[N, 16\] for irreps_in=2x0e\+2x0o\+2x1o\+2x1e"):
        conv(ins["x"][:, :-1], ins["pos"], ins["edge_index"])
    with pytest.raises(ValueError, match="x has 5 rows but pos has 6 nodes"):
        conv(ins["x"][:5], ins["pos"], ins["edge_index"])


def test_stacked_layers_with_mismatched_irreps():
    from gdl.nn.irreps import check_irreps_chain

    a = TFNConv("4x0e", "3x0e", irreps_sh=1)
    b = TFNConv("1x1o", "2x0e", irreps_sh=1)  # same dimension, different irreps
    with pytest.raises(
        ValueError,
        match=r"layer 0 \(TFNConv\) has irreps_out=3x0e but layer 1 \(TFNConv\) has irreps_in=1x1o",
    ):
        check_irreps_chain([a, b])
    c = TFNConv("5x0e", "2x0e", irreps_sh=1)
    data = random_molecule(4)
    with pytest.raises(ValueError, match=r"irreps_in=5x0e \(dim 5\), got \(4, 3\)"):
        c(a(torch.randn(4, 4), data.pos.float(), data.edge_index), data.pos.float(), data.edge_index)


@pytest.mark.parametrize("bad", [-1, 13, 2.0, "0e+1o+1o", "0e+1o+2o", "1o+2e"])
def test_l_max_and_irreps_sh_out_of_range(bad):
    with pytest.raises(ValueError, match="l_max|irreps_sh"):
        TFNConv("4x0e", "4x0e", irreps_sh=bad)


def test_unreachable_irreps_out_and_bad_arguments():
    with pytest.raises(ValueError, match=r"contains \['0o'\], which neither a path"):
        TFNConv("4x0e+2x1o", "4x0e+1x0o", irreps_sh=1)
    with pytest.raises(ValueError, match="irreps_in must be an irreps"):
        TFNConv("four scalars", "4x0e")
    with pytest.raises(ValueError, match="avg_num_neighbors"):
        TFNConv("4x0e", "4x0e", avg_num_neighbors=0.0)


def test_bad_graph_inputs():
    conv = make_conv(1)
    ins = inputs(conv)
    bad_index = ins["edge_index"].clone()
    bad_index[0, 0] = 6
    # value checks (host synchronisations) run only under gdl.debug() in a bare layer
    with (
        gdl.debug(),
        pytest.raises(ValueError, match=r"edge_index has entries in \[0, 6\] but there are 6 nodes"),
    ):
        conv(ins["x"], ins["pos"], bad_index)
    with gdl.debug(), pytest.raises(ValueError, match="pos contains NaN"):
        conv(ins["x"], ins["pos"] * float("nan"), ins["edge_index"])
    with pytest.raises(ValueError, match="edge_vec has 3 rows"):
        conv(**ins, edge_vec=torch.zeros(3, 3, dtype=torch.float64))


# -- torch.compile ---------------------------------------------------------------------------------
def _compiled_matches_eager(backend: str, dynamic: bool) -> None:
    torch.manual_seed(0)
    conv = TFNConv("4x0e+2x1o", "4x0e+2x1o+2x1e", irreps_sh=1)
    cases = [inputs(conv, dtype=torch.float32)]
    if dynamic:
        cases.append(inputs(conv, 8, seed=5, dtype=torch.float32))  # another graph size, same code
    # fullgraph: the forward pass must not break the graph (e.g. on e3nn Irreps objects)
    compiled = torch.compile(conv, backend=backend, dynamic=dynamic, fullgraph=True)
    with torch.no_grad():
        for case in cases:
            torch.testing.assert_close(compiled(**case), conv(**case), atol=1e-4, rtol=1e-4)


def test_compile_matches_eager():
    # aot_eager with static shapes: Dynamo and AOTAutograd trace the whole layer in one graph, in
    # seconds. Inductor with dynamic shapes works too but takes minutes on 2 CPU cores: slow suite.
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
