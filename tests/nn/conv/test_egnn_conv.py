import pytest
import torch
from torch.nn import functional as F

from gdl.nn import EGNNConv
from gdl.nn.conv.egnn_conv import edge_pair_sum
from gdl.testing import default_dtype, equivariance_error

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


def make(dtype=torch.float64, **kwargs) -> EGNNConv:
    torch.manual_seed(0)
    with default_dtype(dtype):
        return perturb(EGNNConv(C, **kwargs)).to(dtype)


def call_of(conv: EGNNConv):
    def call(x, pos, edge_index, edge_vec=None):
        h, p, _ = conv(x, pos, edge_index, edge_vec=edge_vec)
        return {"h": h, "pos": p, "step": p - pos}

    return call


OUT = {"h": "invariant", "pos": "pos", "step": "1o"}


@pytest.mark.parametrize("with_edge_vec", [False, True])
def test_equivariance(with_edge_vec):
    x, pos, ei = random_graph(7, C)
    errors = equivariance(call_of(make()), x, pos, ei, OUT, with_edge_vec)
    assert errors.max() < 1e-10, errors
    assert set(errors.transforms) == {"rotation", "reflection", "translation", "permutation"}


def test_equivariance_with_velocities_vector_channels_attention_and_edge_attr():
    conv = make(vel_channels=2, vec_channels=3, attention=True, edge_dim=2)
    x, pos, ei = random_graph(6, C, seed=7)
    g = torch.Generator().manual_seed(8)
    inputs = {
        "x": x,
        "pos": pos,
        "edge_index": ei,
        "vel": torch.randn(6, 2, 3, generator=g, dtype=torch.float64),
        "vec": torch.randn(6, 3, 3, generator=g, dtype=torch.float64),
        "edge_attr": torch.randn(ei.shape[1], 2, generator=g, dtype=torch.float64),
    }

    def call(x, pos, edge_index, vel, vec, edge_attr):
        h, p, v = conv(x, pos, edge_index, edge_attr=edge_attr, vel=vel, vec=vec)
        return {"h": h, "pos": p, "step": p - pos, "vec": v, "vec_step": v - vec}

    out_types = {**OUT, "vec": "1o", "vec_step": "1o"}
    in_types = {"vel": "1o", "vec": "1o", "edge_attr": ("edge", "invariant")}
    errors = equivariance_error(call, inputs, in_types=in_types, out_types=out_types)
    assert errors.max() < 1e-10, errors


def test_matches_the_paper_equations_by_hand():
    """Eqs. 3-7 of Satorras et al. written out with plain tensors on a 3-node graph (node 2 receives
    no message), with velocities, a vector channel, attention and edge attributes."""
    conv = make(vel_channels=1, vec_channels=1, attention=True, edge_dim=2, coord_step=0.7)
    g = torch.Generator().manual_seed(9)
    dt = torch.float64
    h = torch.randn(3, C, generator=g, dtype=dt)
    x = torch.randn(3, 3, generator=g, dtype=dt)
    v = torch.randn(3, 3, generator=g, dtype=dt)
    vec = torch.randn(3, 1, 3, generator=g, dtype=dt)
    edges = [(0, 1), (2, 1), (1, 0), (2, 0)]  # (source j, target i)
    edge_index = torch.tensor(edges).T
    a = torch.randn(len(edges), 2, generator=g, dtype=dt)

    h_out, x_out, vec_out = conv(h, x, edge_index, edge_attr=a, vel=v, vec=vec)

    def lin(layer, t):
        return t @ layer.weight.T + (layer.bias if layer.bias is not None else 0)

    s = 0.7
    for i in range(3):
        incoming = [(e, j) for e, (j, t) in enumerate(edges) if t == i]
        m_sum = torch.zeros(C, dtype=dt)
        dx = torch.zeros(3, dtype=dt)
        dvec = torch.zeros(3, dtype=dt)
        for e, j in incoming:
            diff = x[i] - x[j]
            inp = torch.cat([h[i], h[j], (diff * diff).sum().reshape(1), a[e]])  # eq. 3
            m = F.silu(lin(conv.edge_lin2, F.silu(lin(conv.edge_lin1, inp))))
            phi_x = lin(conv.coord_mlp[2], F.silu(lin(conv.coord_mlp[0], m)))
            unit = diff / torch.sqrt((diff * diff).sum() + 1)
            dx = dx + unit * s * torch.tanh(phi_x[0])  # eq. 4 (C = 1 / |N(i)|, bounded)
            dvec = dvec + unit * s * torch.tanh(phi_x[1])
            gate = torch.sigmoid(lin(conv.att, m))  # attention e_ij
            m_sum = m_sum + gate * m  # eq. 5
        deg = max(len(incoming), 1)
        phi_v = lin(conv.vel_mlp[2], F.silu(lin(conv.vel_mlp[0], h[i])))
        x_ref = x[i] + phi_v * v[i] + dx / deg  # eq. 7
        h_ref = h[i] + lin(conv.node_mlp[2], F.silu(lin(conv.node_mlp[0], torch.cat([h[i], m_sum]))))  # eq. 6
        torch.testing.assert_close(h_out[i], h_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(x_out[i], x_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(vec_out[i, 0], vec[i, 0] + dvec / deg, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(x_out[:2], x[:2] + v[:2] * 0)  # the coordinates did move


def test_coordinate_update_is_bounded_and_finite_when_nodes_coincide():
    conv = make(coord_step=0.5)
    with torch.no_grad():
        for p in conv.parameters():
            p.mul_(25.0)  # saturate phi_x
    x, pos, ei = random_graph(6, C, seed=10)
    pos = pos * 1e3  # huge distances
    pos[1] = pos[0]  # two coinciding nodes (zero distance)
    pos.requires_grad_(True)
    h, new_pos, _ = conv(x, pos, ei)
    step = (new_pos - pos).norm(dim=-1)
    assert (step <= 0.5 + 1e-12).all() and (step > 0).any()
    (h.sum() + new_pos.sum()).backward()
    assert torch.isfinite(pos.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())


def test_batch_matches_single():
    assert_batch_matches_single(call_of(make()), C)


def test_gradcheck():
    assert_gradcheck(call_of(make(vel_channels=0, attention=True)), C)


def test_compile_matches_eager():
    # aot_eager checks the Dynamo/AOT trace; the EGNN model test compiles this layer with inductor
    assert_compile_matches_eager(call_of(make(torch.float32)), C, backend="aot_eager")


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    assert_compile_matches_eager(call_of(make(torch.float32)), C, backend="inductor")


def test_float32_on_a_radius_graph():
    assert_float32_and_radius_graph(call_of(make(torch.float32)), C)


def test_bad_inputs():
    conv = make(torch.float32)
    assert_bad_inputs_raise(call_of(conv), C)
    x, pos, ei = random_graph(4, C, dtype=torch.float32)
    with pytest.raises(ValueError, match="built with vel_channels=0"):
        conv(x, pos, ei, vel=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="built with edge_dim=0"):
        conv(x, pos, ei, edge_attr=torch.zeros(12, 1))
    conv2 = make(torch.float32, vel_channels=1, edge_dim=3)
    with pytest.raises(ValueError, match=r"needs edge_attr of shape \[12, 3\], got \(12, 2\)"):
        conv2(x, pos, ei, edge_attr=torch.zeros(12, 2), vel=torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"`vel` must have shape \[4, 1, 3\]"):
        conv2(x, pos, ei, edge_attr=torch.zeros(12, 3), vel=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="needs `vel`"):
        conv2(x, pos, ei, edge_attr=torch.zeros(12, 3))
    with pytest.raises(ValueError, match="coord_step > 0"):
        EGNNConv(4, coord_step=0.0)


def test_reset_parameters_and_repr():
    conv = EGNNConv(16, edge_dim=2, vel_channels=1, attention=True)
    before = conv.edge_lin1.weight.clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.edge_lin1.weight)
    assert conv.coord_mlp[-1].weight.abs().max() < 1e-2  # small init of the coordinate head
    assert repr(conv) == (
        "EGNNConv(16, edge_dim=2, vel_channels=1, vec_channels=0, attention=True, coord_step=1.0)"
    )


def test_injected_radial_is_equivariant_and_can_be_shared():
    """With ``radial`` the basis of the edge lengths enters phi_e: still E(3)-equivariant, and a
    precomputed ``edge_radial`` (what a model shares between layers) gives the same outputs."""
    from gdl.nn import BesselBasis, PolynomialCutoff, RadialEmbedding

    conv = make(radial=RadialEmbedding(BesselBasis(4, 5.0), PolynomialCutoff(5.0)))
    assert conv.edge_lin1.in_features == 2 * C + 1 + 4
    x, pos, ei = random_graph(6, C, seed=12)
    errors = equivariance(call_of(conv), x, pos, ei, OUT, with_edge_vec=False)
    assert errors.max() < 1e-10, errors
    d = (pos[ei[0]] - pos[ei[1]]).norm(dim=-1)
    shared = conv(x, pos, ei, edge_radial=conv.radial(d))
    for a, b in zip(shared[:2], conv(x, pos, ei)[:2]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="edge_radial must have shape"):
        conv(x, pos, ei, edge_radial=torch.zeros(3, 4, dtype=x.dtype))
    with pytest.raises(ValueError, match="built without a radial embedding"):
        make()(x, pos, ei, edge_radial=conv.radial(d))


def test_mean_aggregation_changes_the_features_not_the_coordinates():
    summed, mean = make(), make(aggr="mean")
    mean.load_state_dict(summed.state_dict())
    x, pos, ei = random_graph(5, C, seed=13)
    h_sum, p_sum, _ = summed(x, pos, ei)
    h_mean, p_mean, _ = mean(x, pos, ei)
    torch.testing.assert_close(p_mean, p_sum, rtol=0, atol=0)  # coordinates: always the mean
    assert not torch.allclose(h_mean, h_sum)
    assert "aggr='mean'" in repr(mean)


def test_edge_pair_sum_matches_the_separate_gathers_with_first_and_second_derivatives():
    g = torch.Generator().manual_seed(3)
    dt = torch.float64
    a, b = (torch.randn(5, 4, generator=g, dtype=dt, requires_grad=True) for _ in range(2))
    i, j = torch.randint(0, 5, (11,), generator=g), torch.randint(0, 5, (11,), generator=g)
    d = torch.rand(11, generator=g, dtype=dt, requires_grad=True)
    w = torch.randn(4, generator=g, dtype=dt, requires_grad=True)

    def old(a, b, d, w):  # the formula of EGNNConv before edge_pair_sum
        return a.index_select(0, i) + b.index_select(0, j) + F.linear(d.unsqueeze(1), w.unsqueeze(1))

    def new(a, b, d, w):
        return edge_pair_sum(a, b, i, j, d, w)

    torch.testing.assert_close(new(a, b, d, w), old(a, b, d, w), rtol=1e-14, atol=1e-14)
    assert torch.autograd.gradcheck(new, (a, b, d, w))
    assert torch.autograd.gradgradcheck(new, (a, b, d, w))  # forces from an energy need it


def _old_forward(conv: EGNNConv, x, pos, edge_index):
    """EGNNConv.forward of main at b6debfb (no vector channels, attention, edge attributes or
    radial): the first layer of phi_e as one [N, 2F] product, a bias add, two gathers, two adds and
    an [E, 1] x [1, F] product for d^2."""
    f = conv.channels
    j, i = edge_index
    r = pos[j] - pos[i]
    w = conv.edge_lin1.weight
    ab = F.linear(x, torch.cat([w[:, :f], w[:, f : 2 * f]], dim=0))
    a = ab[:, :f] + conv.edge_lin1.bias
    d2 = (r * r).sum(dim=-1, keepdim=True)
    pre = a.index_select(0, i) + ab[:, f:].index_select(0, j) + F.linear(d2, w[:, 2 * f : 2 * f + 1])
    m = F.silu(conv.edge_lin2(F.silu(pre)))
    degree = torch.zeros(pos.shape[0], dtype=pos.dtype).index_add_(0, i, torch.ones_like(d2[:, 0]))
    coef = conv.coord_step * torch.tanh(conv.coord_mlp(m))
    dx = coef * (r * -torch.rsqrt(d2 + 1.0))
    pos_out = pos + dx.new_zeros(pos.shape[0], 3).index_add_(0, i, dx) / degree.clamp(min=1).unsqueeze(-1)
    m_agg = m.new_zeros(x.shape[0], f).index_add_(0, i, m)
    return x + conv.node_mlp(torch.cat([x, m_agg], dim=-1)), pos_out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_and_gradients_match_the_old_formula_on_fixed_weights(dtype):
    torch.manual_seed(0)
    with default_dtype(dtype):
        conv = perturb(EGNNConv(16)).to(dtype)
    x, pos, ei = random_graph(30, 16, seed=4)
    x, pos = x.to(dtype).requires_grad_(), (pos.to(dtype) * 2).requires_grad_()
    new = conv(x, pos, ei)[:2]
    old = _old_forward(conv, x, pos, ei)
    # relative to the largest entry: the gradients reach ~10^3 with these weights, and old and new
    # float32 results differ from the float64 ones by ~2e-6 of that (sums in another order)
    eps = 2e-5 if dtype == torch.float32 else 1e-12

    def close(n, o):
        torch.testing.assert_close(n, o, rtol=eps, atol=eps * float(o.detach().abs().max()))

    for n, o in zip(new, old):
        close(n, o)
    params = [x, pos, *conv.parameters()]
    probe = torch.randn_like(new[0]), torch.randn_like(new[1])
    g_new = torch.autograd.grad(new, params, probe, allow_unused=True)
    g_old = torch.autograd.grad(old, params, probe, allow_unused=True)
    for gn, go in zip(g_new, g_old):
        if go is not None:
            close(gn, go)


@pytest.mark.parametrize("channels", [8, 64])
@pytest.mark.parametrize("kwargs", [{}, {"edge_dim": 3}])
def test_geometric_columns_are_initialised_as_their_own_block(channels, kwargs):
    # issue 21: under PyTorch's bound 1/sqrt(2F + 1) for the whole concatenation the one d^2 input
    # of phi_e was a 1/sqrt(2F + 1) share of the pre-activation, shrinking with the width; its
    # columns now have the bound of a layer of their own, 1/sqrt(1 + edge_dim + K), at any width
    torch.manual_seed(0)
    conv = EGNNConv(channels, **kwargs)
    w = conv.edge_lin1.weight
    geometric, nodes = w[:, 2 * channels :], w[:, : 2 * channels]
    bound, old = 1.0 / geometric.shape[1] ** 0.5, 1.0 / w.shape[1] ** 0.5
    assert geometric.abs().max() <= bound
    assert geometric.abs().max() > 2 * old  # drawn on the wider interval (old: at most `old`)
    assert nodes.abs().max() <= old  # the node columns keep PyTorch's bound
    conv.edge_lin1.weight.data.zero_()
    conv.reset_parameters()
    assert conv.edge_lin1.weight[:, 2 * channels :].abs().max() > 2 * old


@pytest.mark.parametrize("channels", [8, 64])
def test_geometric_init_false_keeps_pytorch_bound_for_the_whole_first_layer(channels):
    # the authors' initialisation (nn.Linear's default over the concatenation [h_i, h_j, d^2])
    torch.manual_seed(0)
    conv = EGNNConv(channels, geometric_init=False)
    w = conv.edge_lin1.weight
    old = 1.0 / w.shape[1] ** 0.5
    assert w.abs().max() <= old
    assert w[:, 2 * channels :].abs().max() > 0.5 * old  # drawn on that interval, not zero
    # the option changes only the initialisation: same forward function for the same weights
    torch.manual_seed(1)
    x, pos = torch.randn(5, channels), torch.randn(5, 3)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 1], [1, 0, 3, 2, 0, 4]])
    other = EGNNConv(channels)
    other.load_state_dict(conv.state_dict())
    for a, b in zip(conv(x, pos, edge_index), other(x, pos, edge_index)):
        assert (a is None and b is None) or torch.equal(a, b)
