import pytest
import torch

from gdl.keys import Target
from gdl.models import EGNN
from gdl.testing import assert_equivariant, default_dtype
from gdl.testing.data import random_molecules
from gdl.testing.model_mixin import ModelTestMixin


def make(targets, **kwargs) -> EGNN:
    model = EGNN(targets=targets, hidden_channels=16, num_layers=2, **kwargs)
    # the coordinate heads start near zero (as in the paper's code); enlarge them so that the
    # coordinate updates, and their equivariance, show in every output
    with torch.no_grad():
        for conv in model.convs:
            conv.coord_mlp[-1].weight.normal_(0.0, 0.5)
    return model


class TestEGNN(ModelTestMixin):
    def make_model(self, targets):
        return make(targets)


def batch_with_velocities(dtype=torch.float64):
    batch = random_molecules(num_graphs=3, min_nodes=4, max_nodes=6, seed=3, dtype=dtype)
    batch.vel = torch.randn(batch.num_nodes, 3, generator=torch.Generator().manual_seed(1), dtype=dtype)
    return batch


def test_velocity_inputs_are_equivariant():
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        model = make(
            ["displacement", "energy:graph:0e", "dipole:graph:1o"], inputs={"vector_inputs": ["vel"]}
        )
    assert_equivariant(model, batch_with_velocities())


def test_node_vector_output_contains_the_papers_prediction():
    """With zero pairwise weights and unit gate on the displacement, the node 1o output is exactly
    x^L - x^0 of the EGNNConv stack (the paper's N-body prediction, velocities included)."""
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        model = make(["displacement"], inputs={"vector_inputs": ["vel"]}).double()
    ro = model.readout
    with torch.no_grad():
        ro.lin_weights.weight.zero_()
        ro.lin_weights.bias.zero_()
        ro.gate.weight.zero_()
        ro.gate.bias.copy_(torch.tensor([1.0, 0.0], dtype=torch.float64))  # (displacement, vel)
    batch = batch_with_velocities()
    with torch.no_grad():
        out = model(batch)["displacement"]
        h, pos = model.embed(batch), batch.pos
        for conv in model.convs:
            h, pos, _ = conv(h, pos, batch.edge_index, vel=batch.vel)
    torch.testing.assert_close(out, pos - batch.pos, rtol=1e-12, atol=1e-12)
    assert out.abs().max() > 1e-2


def test_periodic_edge_vectors_are_used_and_follow_the_nodes():
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        model = make(EGNNTargets).double().eval()
    batch = random_molecules(num_graphs=2, min_nodes=4, max_nodes=5, seed=4)
    j, i = batch.edge_index
    plain = model(batch)
    batch.edge_vec = batch.pos[j] - batch.pos[i]
    given = model(batch)
    for k in plain:
        torch.testing.assert_close(given[k], plain[k], rtol=1e-10, atol=1e-12)
    # wrap node 0 into another periodic image: with the minimum-image edge_vec unchanged nothing moves
    wrapped = batch.clone()
    wrapped.pos[0] += torch.tensor([10.0, 0.0, -10.0], dtype=torch.float64)
    moved = model(wrapped)
    for k in plain:
        torch.testing.assert_close(moved[k], plain[k], rtol=1e-10, atol=1e-10)


EGNNTargets = (Target("e"), Target("d", "1o"), Target("f", "1o", "node"), Target("s", "2e", "node"))


def test_bad_inputs_raise_clear_errors():
    model = make(EGNNTargets, inputs={"vector_inputs": ["vel"]})
    batch = batch_with_velocities(torch.float32)
    model(batch)  # fine
    bad = batch.clone()
    bad.pos[2, 1] = float("nan")
    with pytest.raises(ValueError, match="pos contains NaN"):
        model(bad)
    bad = batch.clone()
    bad.pos = bad.pos[:, :2]
    with pytest.raises(ValueError, match=r"pos must have shape \[N, 3\]"):
        model(bad)
    bad = batch.clone()
    bad.edge_index = bad.edge_index.clone()
    bad.edge_index[0, 0] = batch.num_nodes
    with pytest.raises(ValueError, match="edge_index has entries in"):
        model(bad)
    bad = batch.clone()
    bad.edge_vec = torch.zeros(5, 3)
    with pytest.raises(ValueError, match="edge_vec has 5 rows but edge_index has"):
        model(bad)
    bad = batch.clone()
    del bad.vel
    with pytest.raises(ValueError, match="EGNN needs vector input `vel`"):
        model(bad)
    bad = batch.clone()
    bad.vel = bad.vel[:, :2]
    with pytest.raises(ValueError, match=r"vector input `vel` must be a floating tensor of shape \[\d+, 3\]"):
        model(bad)
    with pytest.raises(ValueError, match=r"EGNN cannot produce target 't' \(graph 1x3o\): its readout gives"):
        EGNN(targets=["t:graph:3o"], hidden_channels=8, num_layers=1)


def test_repr_names_the_configuration():
    model = EGNN(["homo"], hidden_channels=8, num_layers=2, inputs={"vector_inputs": ["vel"]}, attention=True)
    text = repr(model)
    assert "EGNN(\n  targets=[homo:graph:1x0e], hidden_channels=8, num_layers=2" in text
    assert "vector_inputs=('vel',)" in text and "attention=True" in text


def test_compiled_training_step_matches_eager():
    """Regression: inductor (torch 2.13, CPU) miscompiled the backward of the edge MLP's first
    layer when the distance weight was read as a strided column (``weight[:, 2F]``) — a tiled
    transpose with a wrong inner index that wrote past the gradient buffer (heap corruption on the
    second training step). The distance term is now :func:`~gdl.nn.conv.egnn_conv.edge_pair_sum`
    with the weight column made contiguous (no strided column reaches the compiled backward);
    forward and gradients of the compiled model must match eager."""
    torch.manual_seed(0)
    batch = random_molecules(num_graphs=8, seed=0, dtype=torch.float32)
    model = EGNN(targets=["U0"], hidden_channels=16, num_layers=2)
    compiled = torch.compile(model, backend="inductor")
    grads = []
    for module in (model, compiled):
        model.zero_grad(set_to_none=False)
        for _ in range(2):  # the corruption showed on the second step
            out = module(batch)["U0"]
            out.pow(2).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for eager, comp in zip(*grads, strict=True):
        torch.testing.assert_close(comp, eager, rtol=1e-4, atol=1e-5)


def _old_layer(conv, x, pos, edge_index, r, vel=None):
    """The EGNNConv forward of before issue 16 (PyG propagate, [E, 1 + C, 3] coordinate messages,
    a degree scatter per layer), transcribed: the reference of the optimised layer."""
    f, n = conv.channels, pos.shape[0]
    j, i = edge_index[0], edge_index[1]
    w = conv.edge_lin1.weight
    ab = torch.nn.functional.linear(x, torch.cat([w[:, :f], w[:, f : 2 * f]], dim=0))
    a = ab[:, :f] + conv.edge_lin1.bias
    d2 = (r * r).sum(dim=-1, keepdim=True)
    pre = a[i] + ab[:, f:][j] + torch.nn.functional.linear(d2, w[:, 2 * f : 2 * f + 1])
    m = torch.nn.functional.silu(conv.edge_lin2(torch.nn.functional.silu(pre)))
    coef = conv.coord_step * torch.tanh(conv.coord_mlp(m))
    dx = coef.unsqueeze(-1) * (r * -torch.rsqrt(d2 + 1.0)).unsqueeze(1)
    if conv.att is not None:
        m = m * torch.sigmoid(conv.att(m))
    m_sum = m.new_zeros(n, f).index_add_(0, i, m)
    dx_sum = dx.new_zeros(n, dx.shape[1], 3).index_add_(0, i, dx)
    deg = dx.new_zeros(n).index_add_(0, i, dx.new_ones(i.shape[0])).clamp_(min=1.0)
    pos_out = pos + (dx_sum / deg.view(-1, 1, 1))[:, 0]
    if conv.vel_mlp is not None:
        pos_out = pos_out + (conv.vel_mlp(x).unsqueeze(-1) * vel).sum(dim=1)
    return x + conv.node_mlp(torch.cat([x, m_sum], dim=-1)), pos_out


def _old_forward(model, batch):
    h, vel = model.embed(batch), model.vectors(batch)
    r, pos0 = model.edge_vectors(batch), batch.pos
    pos, (j, i) = pos0, batch.edge_index
    for conv in model.convs:
        h, new_pos = _old_layer(conv, h, pos, batch.edge_index, r, vel)
        step = new_pos - pos
        r, pos = r + step[j] - step[i], new_pos
    node_vec = (pos - pos0).unsqueeze(1)
    if vel is not None:
        node_vec = torch.cat([node_vec, vel], dim=1)
    return model.readout(
        h, batch.edge_index, r, model.batch_vector(batch), model.num_graphs(batch), node_vec=node_vec
    )


@pytest.mark.parametrize(
    "targets, attention, skips_last",
    [
        (["energy:graph:0e"], False, True),  # the last layer's coordinates are never read
        (["energy:graph:0e", "dipole:graph:1o"], True, False),
        (["displacement"], False, False),
    ],
)
def test_optimised_step_matches_the_old_layer_on_fixed_weights(targets, attention, skips_last):
    torch.manual_seed(0)
    model = make(targets, attention=attention, inputs={"vector_inputs": ["vel"]}).float()
    assert model.readout_reads_geometry is not skips_last
    batch = batch_with_velocities(torch.float32)
    out, ref = model(batch), _old_forward(model, batch)
    grads = torch.autograd.grad(
        sum(v.pow(2).sum() for v in out.values()), list(model.parameters()), allow_unused=True
    )
    ref_grads = torch.autograd.grad(
        sum(v.pow(2).sum() for v in ref.values()), list(model.parameters()), allow_unused=True
    )
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], atol=1e-6, rtol=1e-5)
    # float32 sums over edges of terms up to the largest gradient (~10^2 here): a gradient that
    # nearly cancels (the attention bias, ~1e-6) keeps their absolute rounding error, ~1e-7 of it
    scale = max(float(g.abs().max()) for g in ref_grads if g is not None)
    for g, g_ref in zip(grads, ref_grads):
        if g_ref is None:
            assert g is None or g.abs().max() == 0
        else:
            torch.testing.assert_close(g, g_ref, atol=max(1e-6, 1e-7 * scale), rtol=1e-4)


def _scaled_clouds(num, seed, n=64, k=6, spread=0.1, unit=1.0):
    """Uniform clouds of ``n`` points whose mean spacing is ``s * unit``, ``s`` in
    ``[1 - spread, 1 + spread]``; the target ``s`` is a cloud-level invariant read off the mean
    neighbour distance alone (``unit``: the coordinates' unit of length, e.g. 58.48 for galaxy-like
    coordinates in Mpc/h; the graphs and targets do not depend on it)."""
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        s = 1.0 + spread * (2 * torch.rand((), generator=g, dtype=torch.float64) - 1)
        pos = torch.rand(n, 3, generator=g, dtype=torch.float64) * n ** (1 / 3) * s
        d = torch.cdist(pos, pos).fill_diagonal_(float("inf"))
        nb = d.topk(k, largest=False).indices  # [n, k]: the k neighbours j of each i
        edge_index = torch.stack([nb.reshape(-1), torch.arange(n).repeat_interleave(k)])
        pos = (pos * unit).float()
        out.append(Data(pos=pos, edge_index=edge_index, omega_m=torch.tensor([[float(s)]])))
    return out


def _fit_r2(model, steps=300, unit=1.0):
    from torch_geometric.data import Batch

    train, test = _scaled_clouds(64, seed=1, unit=unit), _scaled_clouds(32, seed=2, unit=unit)
    y = torch.cat([c.omega_m for c in train])
    mu, sd = y.mean(), y.std()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(steps):
        batch = Batch.from_data_list([train[(4 * step + q) % len(train)] for q in range(4)])
        loss = ((model(batch)["omega_m"] - (batch.omega_m - mu) / sd) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    batch = Batch.from_data_list(test)
    with torch.no_grad():
        pred = model(batch)["omega_m"]
    t = (batch.omega_m - mu) / sd
    return float(1 - ((pred - t) ** 2).sum() / ((t - t.mean()) ** 2).sum())


def test_learns_a_cloud_level_distance_without_node_features():
    # issue 21: with no node features (a constant embedding) the distances are all EGNN can learn
    # from; with phi_e's d^2 column at PyTorch's bound 1/sqrt(2F + 1) it stayed at the mean
    # predictor here (held-out R^2 -0.03 at seeds 0-2, F = 32), as on the galaxy clouds, where
    # InvariantNet learns (0.61-0.75 here). Measured with the new initialisation: 0.51-0.67.
    from gdl.models import InvariantNet

    inputs = {"num_types": 0, "in_channels": 0}
    core = {"hidden_channels": 32, "num_layers": 2, "inputs": inputs, "cutoff": 3.0, "reduce": "mean"}
    torch.manual_seed(0)
    egnn = EGNN(["omega_m"], **core)
    torch.manual_seed(0)
    invariant = InvariantNet(["omega_m"], **core)
    assert _fit_r2(invariant) > 0.3  # the task is learnable in the budget
    assert _fit_r2(egnn) > 0.3


def test_conv_kwargs_reach_every_layer_and_unknown_ones_are_refused():
    model = EGNN(["homo"], hidden_channels=8, num_layers=2, geometric_init=False, attention=True)
    assert all(not conv.geometric_init and conv.att is not None for conv in model.convs)
    with pytest.raises((TypeError, ValueError), match="geometric_intit"):
        EGNN(["homo"], hidden_channels=8, num_layers=2, geometric_intit=False)
