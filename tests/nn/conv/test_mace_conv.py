import functools
import itertools
import math

import pytest
import torch
from e3nn import o3

import gdl
from gdl.nn import MACEConv, SphericalEdgeEmbedding, TFNConv
from gdl.nn.conv.mace_conv import SymmetricContraction, product_basis_irreps, symmetric_basis
from gdl.nn.irreps import hidden_irreps, spherical_harmonics_irreps
from gdl.testing import assert_equivariant, default_dtype, equivariance_error, float64_atol, node
from gdl.testing.data import random_molecule

TOL = 1e-9
NUM_TYPES = 3


@functools.cache
def make_conv(correlation: int, l_max: int, parity: bool = True, seed: int = 0) -> MACEConv:
    """Built once per configuration; tests must not mutate it. Outputs: every irrep up to l = 2 (both
    parities) that the product basis reaches."""
    torch.manual_seed(seed)
    irreps_sh = spherical_harmonics_irreps(l_max, parity)
    with default_dtype(torch.float64):
        out = product_basis_irreps(irreps_sh, correlation, hidden_irreps(3, 2, parity))
        conv = MACEConv(
            hidden_irreps(2, 1, parity), out, irreps_sh, correlation=correlation, num_types=NUM_TYPES
        )
    return conv.double()


def inputs(conv: MACEConv, num_nodes: int = 6, seed: int = 0) -> dict:
    data = random_molecule(num_nodes, seed=seed, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, conv.irreps_in.dim, generator=g, dtype=torch.float64)
    node_type = torch.randint(0, conv.num_types, (num_nodes,), generator=g)
    return {"x": x, "pos": data.pos, "edge_index": data.edge_index, "node_type": node_type}


def types(conv):
    return {"in_types": {"x": node(str(conv.irreps_in)), "node_type": node("invariant")}}


@pytest.mark.parametrize("l_max", [1, 2, 3])
@pytest.mark.parametrize("correlation", [1, 2, 3])
def test_o3_equivariance(correlation, l_max):
    conv = make_conv(correlation, l_max)
    errors = assert_equivariant(
        conv, inputs(conv), out_types=node(str(conv.irreps_out)), group="O3", tol=TOL, **types(conv)
    )
    assert set(errors.transforms) == {"rotation", "reflection", "translation", "permutation"}
    degrees = {ir.l for _, ir in conv.irreps_out}
    assert degrees == set(range(min(correlation * l_max, 2) + 1))
    if correlation >= 2 and l_max >= 2:  # 1o x 2e -> 2o: products reach the other parity
        assert {ir.p for _, ir in conv.irreps_out} == {1, -1}


def test_reflection_check_sees_wrong_parity_labels():
    conv = make_conv(2, 2)
    flipped = o3.Irreps([(mul, (ir.l, -ir.p)) for mul, ir in conv.irreps_out])
    errors = equivariance_error(conv, inputs(conv), out_types=node(str(flipped)), **types(conv))
    assert errors.by_transform("rotation")["output"] < TOL
    assert errors.by_transform("reflection")["output"] > 0.1


@pytest.mark.parametrize("correlation", [2, 3])
def test_so3_option_is_rotation_equivariant_only(correlation):
    conv = make_conv(correlation, 2, parity=False)
    assert all(ir.p == 1 for _, ir in conv.irreps_in + conv.irreps_out + conv.irreps_sh)
    ins = inputs(conv)
    assert_equivariant(conv, ins, out_types=node(str(conv.irreps_out)), group="SO3", tol=TOL, **types(conv))
    errors = equivariance_error(conv, ins, out_types=node(str(conv.irreps_out)), **types(conv))
    assert errors.by_transform("reflection")["output"] > 1e-3


def _set_identity(linear: o3.Linear, scale: float = 1.0) -> None:
    """Weights that make an ``o3.Linear`` between equal irreps ``scale`` times the identity."""
    with torch.no_grad():
        for _, ins, w in linear.weight_views(yield_instruction=True):
            assert ins.i_in == ins.i_out and w.shape[0] == w.shape[1]
            w.copy_(torch.eye(w.shape[0], dtype=w.dtype) * scale / ins.path_weight)


def test_correlation_1_is_tfn_conv_with_mapped_weights():
    """nu = 1 with the gate is TFNConv: W_up = 1, W_A = sqrt(n) (MACE divides the sum by n, TFN by
    sqrt(n)), contraction weights 1 (the degree-1 basis is the identity), W_B = TFN's W_m, the same
    self-interaction and radial MLP."""
    irreps_in, irreps_out, n_avg = "3x0e+3x1o", "3x0e+3x1o+3x2e", 4.0
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        tfn = TFNConv(irreps_in, irreps_out, 2, avg_num_neighbors=n_avg)
        mace = MACEConv(
            irreps_in, irreps_out, 2, correlation=1, num_types=2, avg_num_neighbors=n_avg, gate=True
        )
    tfn, mace = tfn.double(), mace.double()
    assert mace.irreps_mid == tfn.irreps_mid and mace.tp.weight_numel == tfn.tp.weight_numel
    assert mace.irreps_atomic == mace.irreps_mid and mace.irreps_product == mace.irreps_atomic
    assert mace.contraction.num_basis == [1, 1, 1]
    mace.radial_mlp.load_state_dict(tfn.radial_mlp.state_dict())
    _set_identity(mace.linear_up)
    _set_identity(mace.linear_atomic, math.sqrt(n_avg))
    with torch.no_grad():
        for w in mace.contraction.weights:
            w.fill_(1.0)
        mace.linear_out.weight.copy_(tfn.linear.weight)
        mace.self_interaction.weight.copy_(tfn.self_interaction.weight)
    ins = inputs(mace, num_nodes=7, seed=3)
    with torch.no_grad():
        ref = tfn(ins["x"], ins["pos"], ins["edge_index"])
        out = mace(**ins)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    assert ref.abs().max() > 0.1
    # the mapping is not trivially satisfied: other contraction weights give another function
    with torch.no_grad():
        mace.contraction.weights[0][1].fill_(2.0)
        assert not torch.allclose(mace(**ins), ref)


def test_correlation_2_invariant_is_a_sum_of_channel_inner_products():
    """For one channel a = (a0, a1, a2) of 0e+1o+2e, the invariant output of a nu = 2 contraction is
    c1 a0 + c2 a0^2 + c3 <a1, a1> + c4 <a2, a2>, with coefficients per channel and node type, and
    nothing else (no product of different degrees, no mixing of channels)."""
    channels, num_types = 3, 2
    torch.manual_seed(1)
    with default_dtype(torch.float64):
        sc = SymmetricContraction("0e+1o+2e", "0e", 2, channels, num_types).double()
    assert sc.num_basis == [4] and sc.num_monomials == 9 + 45
    blocks = [slice(0, 1), slice(1, 4), slice(4, 9)]

    def full(parts):  # [N, k, 9] per channel -> e3nn mul_ir layout [N, k x 0e + k x 1o + k x 2e]
        return torch.cat([parts[..., s].reshape(parts.shape[0], -1) for s in blocks], dim=-1)

    def run(a, t):
        return sc(full(a), torch.full((a.shape[0],), t, dtype=torch.long))

    # coefficients from unit inputs (exact: the basis is polynomial)
    e = torch.zeros(3, channels, 9, dtype=torch.float64)
    e[0, :, 0], e[1, :, 0], e[2, :, 0] = 1.0, 2.0, 0.0
    e[2, :, 1] = 1.0
    coeffs = {}
    for t in range(num_types):
        y1, y2, y3 = run(e, t)
        c2 = (y2 - 2 * y1) / 2
        e2 = torch.zeros(1, channels, 9, dtype=torch.float64)
        e2[0, :, 4] = 1.0
        coeffs[t] = (y1 - c2, c2, y3, run(e2, t)[0])
    g = torch.Generator().manual_seed(2)
    a = torch.randn(20, channels, 9, generator=g, dtype=torch.float64)
    for t, (c1, c2, c3, c4) in coeffs.items():
        a0, a1, a2 = a[..., 0], a[..., 1:4], a[..., 4:9]
        expected = c1 * a0 + c2 * a0**2 + c3 * (a1 * a1).sum(-1) + c4 * (a2 * a2).sum(-1)
        torch.testing.assert_close(run(a, t), expected, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(torch.stack(coeffs[0]), torch.stack(coeffs[1]))  # weights per node type
    # the four coefficients are independent functions of the weights: the basis spans all of them
    jac = []
    for p in range(4):
        with torch.no_grad():
            sc.weights[0].zero_()
            sc.weights[0][0, p] = 1.0
        y = run(torch.cat([e, e2]), 0)[:, 0]
        jac.append(torch.stack([y[0] - (y[1] - 2 * y[0]) / 2, (y[1] - 2 * y[0]) / 2, y[2], y[3]]))
    assert torch.linalg.matrix_rank(torch.stack(jac)) == 4


@pytest.mark.parametrize(("irreps", "ir_out", "degree"), [("0e+1o", "2e", 2), ("0e+1o+2e", "1o", 3)])
def test_symmetric_basis_is_orthonormal_symmetric_and_equivariant(irreps, ir_out, degree):
    u = symmetric_basis(irreps, ir_out, degree)
    v, out = o3.Irreps(irreps), o3.Irrep(ir_out)
    p = u.shape[0]
    assert p > 0
    gram = u.reshape(p, -1) @ u.reshape(p, -1).T
    torch.testing.assert_close(gram, out.dim * torch.eye(p, dtype=torch.float64), atol=1e-10, rtol=0)
    t = u.reshape(p, out.dim, *([v.dim] * degree))
    # symmetrised then orthonormalised (a Gram-matrix solve of size p, conditioned like the Gram above)
    tol = float64_atol(float(t.abs().max()), terms=p * out.dim)
    for perm in itertools.permutations(range(2, degree + 2)):
        torch.testing.assert_close(t.permute(0, 1, *perm), t, atol=tol, rtol=0)
    R = -o3.rand_matrix(dtype=torch.float64)  # a reflection
    with default_dtype(torch.float64):  # e3nn builds D in the default dtype
        d_in, d_out = v.D_from_matrix(R), out.D_from_matrix(R)
    rotated = t
    for k in range(degree):  # act on every input slot
        rotated = torch.movedim(torch.tensordot(rotated, d_in, dims=([2 + k], [0])), -1, 2 + k)
    torch.testing.assert_close(
        rotated, torch.einsum("om,pm...->po...", d_out, t), atol=1e-10, rtol=0
    )  # U (D x ... x D) = D_out U, i.e. U is an equivariant map
    assert symmetric_basis("0e+1o", "1e", 2).shape[0] == 0  # a x a is symmetric: no cross product


def test_node_types_select_weights():
    conv = make_conv(2, 1)
    ins = inputs(conv)
    with torch.no_grad():
        out = conv(**ins)
        other = dict(ins, node_type=(ins["node_type"] + 1) % NUM_TYPES)
        assert not torch.allclose(conv(**other), out)
    with pytest.raises(ValueError, match=r"num_types=3 node types: pass node_type"):
        conv(ins["x"], ins["pos"], ins["edge_index"])
    with gdl.debug(), pytest.raises(ValueError, match=r"outside \[0, 3\)"):  # a value check
        conv(**dict(ins, node_type=torch.full_like(ins["node_type"], 3)))
    with pytest.raises(ValueError, match="node_type must be an integer tensor"):
        conv(**dict(ins, node_type=ins["node_type"].double()))


def test_precomputed_edge_attributes_and_edge_vec():
    conv = make_conv(3, 2)
    ins = inputs(conv)
    emb = SphericalEdgeEmbedding(conv.irreps_sh, conv.edge_embedding.radial)
    j, i = ins["edge_index"]
    vec = ins["pos"][j] - ins["pos"][i]
    sh, radial = emb(vec)
    with torch.no_grad():
        ref = conv(**ins)
        torch.testing.assert_close(conv(**ins, edge_sh=sh, edge_radial=radial), ref)
        torch.testing.assert_close(conv(**dict(ins, pos=torch.zeros_like(ins["pos"])), edge_vec=vec), ref)


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    conv = MACEConv("4x0e+4x1o", "4x0e+4x1o+4x2e", 2, correlation=3, num_types=2, gate=True)
    ins = {k: (v.float() if v.is_floating_point() else v) for k, v in inputs(conv, seed=4).items()}
    ins["node_type"] = torch.arange(6) % 2
    conv(**ins).pow(2).sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name


@pytest.mark.parametrize("correlation", [0, -1, 1.5, True, "2"])
def test_correlation_must_be_a_positive_integer(correlation):
    with pytest.raises(ValueError, match=r"MACEConv: correlation must be an integer >= 1"):
        MACEConv("4x0e", "4x0e", 1, correlation=correlation)


def test_output_degree_beyond_the_product_basis():
    with pytest.raises(ValueError, match=r"\['3o'\], of degree above 2 = correlation x") as info:
        MACEConv("4x0e", "4x0e+4x3o", 1, correlation=2)
    chain = "irreps_in=4x0e x irreps_sh=1x0e+1x1o -> atomic basis 1x0e+1x1o -> product basis of correlation 2"
    assert chain in str(info.value)
    assert "raise the l_max of irreps_sh or the correlation" in str(info.value)
    MACEConv("4x0e", "4x0e+4x3o", 1, correlation=3)  # 1o x 1o x 1o -> 3o


@pytest.mark.parametrize(
    ("irreps_sh", "irreps_out", "correlation"),
    [(1, "4x1e", 2), (2, "4x0o", 1), ("0e+1e", "4x0e+4x1o", 2), (1, "4x0e+4x2o", 3)],
)
def test_output_of_the_wrong_parity(irreps_sh, irreps_out, correlation):
    with pytest.raises(ValueError, match=r"of the wrong parity: no product of at most") as info:
        MACEConv("4x0e", irreps_out, irreps_sh, correlation=correlation)
    assert "-> atomic basis" in str(info.value) and f"irreps_out={o3.Irreps(irreps_out)}" in str(info.value)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="needs non-empty irreps"):
        MACEConv("4x0e", "", 1)
    with pytest.raises(ValueError, match="channels must be an integer >= 1"):
        MACEConv("4x0e", "4x0e", 1, channels=0)
    with pytest.raises(ValueError, match="num_types must be an integer >= 1"):
        MACEConv("4x0e", "4x0e", 1, num_types=0)
    with pytest.raises(ValueError, match="avg_num_neighbors must be > 0"):
        MACEConv("4x0e", "4x0e", 1, avg_num_neighbors=0)
    conv = make_conv(2, 1)
    ins = inputs(conv)
    with pytest.raises(ValueError, match=r"MACEConv: x must have shape \[N, 16\]"):
        conv(**dict(ins, x=ins["x"][:, :5]))


def test_repr_names_the_chain():
    text = repr(make_conv(3, 2))
    assert text.startswith("MACEConv(2x0e+2x0o+2x1o+2x1e -> ")
    for part in ("correlation=3", "atomic=2x0e+2x1o+2x2e", "product=", "basis=", "monomials=219"):
        assert part in text
