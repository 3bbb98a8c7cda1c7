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
        model = make(["displacement", "energy:graph:0e", "dipole:graph:1o"], vector_inputs=("vel",))
    assert_equivariant(model, batch_with_velocities())


def test_node_vector_output_contains_the_papers_prediction():
    """With zero pairwise weights and unit gate on the displacement, the node 1o output is exactly
    x^L - x^0 of the EGNNConv stack (the paper's N-body prediction, velocities included)."""
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        model = make(["displacement"], vector_inputs=("vel",)).double()
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
    model = make(EGNNTargets, vector_inputs=("vel",))
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
    text = repr(EGNN(["homo"], hidden_channels=8, num_layers=2, vector_inputs=("vel",), attention=True))
    assert "EGNN(\n  targets=[homo:graph:1x0e], hidden_channels=8, num_layers=2" in text
    assert "vector_inputs=['vel']" in text and "attention=True" in text


def test_compiled_training_step_matches_eager():
    """Regression: inductor (torch 2.13, CPU) miscompiled the backward of the edge MLP's first
    layer when the distance weight was read as a strided column (``weight[:, 2F]``) — a tiled
    transpose with a wrong inner index that wrote past the gradient buffer (heap corruption on the
    second training step). The distance term is now a ``linear`` of ``d²``; forward and gradients
    of the compiled model must match eager."""
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
