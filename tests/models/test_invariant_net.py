import pytest
import torch

from gdl.keys import Target
from gdl.models import InvariantNet
from gdl.nn import InvariantReadout
from gdl.testing import assert_equivariant, default_dtype
from gdl.testing.data import random_molecules
from gdl.testing.model_mixin import ModelTestMixin


class TestInvariantNet(ModelTestMixin):
    # Dynamo + AOT tracing here; inductor code generation (~15-30 s on 2 cores) runs for EGNN by
    # default and for this model in the slow suite (test_compile_inductor_matches_eager)
    compile_backend = "aot_eager"

    def make_model(self, targets):
        return InvariantNet(targets=targets, hidden_channels=16, num_layers=2, num_basis=12)


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    case = TestInvariantNet()
    case.compile_backend = "inductor"
    case.test_compile_matches_eager()


def test_compiled_forward_still_shares_the_filters_between_node_pairs(monkeypatch):
    """Under torch.compile the node-pair analysis runs eagerly (a graph break), so the layers still
    get pairs; traced, node_pairs returned None and every filter was computed per edge."""
    import gdl.models.invariant_net as module

    found = []

    def spy(*args, **kwargs):
        first, pair_index = module.__dict__["_node_pairs"](*args, **kwargs)
        found.append(None if first is None else (first.shape[0], pair_index.shape[0]))
        return first, pair_index

    monkeypatch.setattr(module, "_node_pairs", module.node_pairs, raising=False)
    monkeypatch.setattr(module, "node_pairs", spy)
    torch.manual_seed(0)
    model = InvariantNet(["homo"], hidden_channels=8, num_layers=2)
    batch = random_molecules(num_graphs=2, min_nodes=5, max_nodes=6, seed=3, dtype=torch.float32)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager")(batch)
    edges = batch.edge_index.shape[1]
    assert found and all(f == (edges // 2, edges) for f in found), (found, edges)
    torch.testing.assert_close(compiled["homo"], model(batch)["homo"], atol=1e-5, rtol=1e-5)


def test_invariant_readout_gives_scalars_and_refuses_tensors():
    torch.manual_seed(0)
    targets = (Target("e"), Target("q", "2x0e", "node"))
    with default_dtype(torch.float64):
        model = InvariantNet(targets, hidden_channels=8, num_layers=1, readout=InvariantReadout).double()
    assert_equivariant(model, random_molecules(num_graphs=2, seed=1))
    with pytest.raises(
        ValueError,
        match=r"InvariantNet cannot produce target 'quadrupole' \(graph 1x2e\): its readout gives \['0e'\]",
    ):
        InvariantNet(["homo", "quadrupole"], hidden_channels=8, num_layers=1, readout=InvariantReadout)


def test_vector_inputs_enter_as_invariants_and_node_vectors():
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        model = InvariantNet(
            ["velocity:node:1o", "e:graph:0e"],
            hidden_channels=8,
            num_layers=2,
            inputs={"vector_inputs": "vel"},
        )
    batch = random_molecules(num_graphs=2, seed=2)
    batch.vel = torch.randn(batch.num_nodes, 3, dtype=torch.float64)
    assert_equivariant(model, batch)
    with torch.no_grad():
        out = model.double()(batch)
        batch.vel = 2 * batch.vel
        assert not torch.allclose(model(batch)["e"], out["e"])  # |v|^2 reaches the backbone


def test_bad_inputs_raise_clear_errors():
    model = InvariantNet(["homo"], hidden_channels=8, num_layers=1)
    batch = random_molecules(num_graphs=2, seed=2, dtype=torch.float32)
    batch.edge_vec = torch.zeros(3, 3)
    with pytest.raises(ValueError, match="edge_vec has 3 rows"):
        model(batch)
    with pytest.raises(ValueError, match=r"reduce must be one of \['sum', 'mean'\]"):
        InvariantNet(["homo"], reduce="max")


def test_edge_features_are_computed_once_and_match_per_layer_computation():
    torch.manual_seed(0)
    model = InvariantNet(["U0"], hidden_channels=8, num_layers=3)
    batch = random_molecules(3, 4, 7, 5, seed=0, dtype=torch.float32)
    calls = []
    handle = model.convs[0].radial.basis.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        out = model(batch)["U0"]
        assert len(calls) == 1  # one Gaussian basis per forward pass, for three layers
        # the old per-layer path: every layer computes lengths, basis and cutoff itself
        h = model.embed(batch)
        r = model.edge_vectors(batch)
        for conv in model.convs:
            h = conv(h, batch.pos, batch.edge_index, edge_vec=r)
        ref = model.readout(h, batch.edge_index, r, model.batch_vector(batch), model.num_graphs(batch))["U0"]
    handle.remove()
    # the same sums, per pair instead of per edge (symmetric graphs): float-tolerance equal
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    conv = model.convs[0]
    basis, cutoff = conv.edge_features(r)
    with pytest.raises(ValueError, match="edge_basis must have shape"):
        conv(h, batch.pos, batch.edge_index, edge_basis=basis[:, :3], edge_cutoff=cutoff)
    with pytest.raises(ValueError, match="edge_cutoff must be given"):
        conv(h, batch.pos, batch.edge_index, edge_basis=basis)


def test_filters_are_computed_once_per_node_pair():
    from gdl.nn.radial import node_pairs

    edge_index = torch.tensor([[0, 1, 1, 2, 0, 3], [1, 0, 2, 1, 3, 2]])  # 0-1 and 1-2 both ways
    first, pair_index = node_pairs(edge_index, 4)
    assert first.tolist() == [0, 4, 2, 5] and pair_index.tolist() == [0, 0, 2, 2, 1, 3]
    assert node_pairs(edge_index[:, [0, 2, 4, 5]], 4) == (None, None)  # no pair twice: nothing saved
    assert node_pairs(edge_index, 4, symmetric_lengths=False) == (None, None)  # given edge_vec
    torch.manual_seed(0)
    model = InvariantNet(["U0"], hidden_channels=8, num_layers=2)
    batch = random_molecules(3, 4, 7, 5, seed=2, dtype=torch.float32)  # full graphs: every pair twice
    rows = []
    handle = model.convs[0].radial.basis.register_forward_hook(lambda m, a, out: rows.append(out.shape[0]))
    out = model(batch)["U0"]
    handle.remove()
    assert rows == [batch.edge_index.shape[1] // 2]
    # with edge_vec given (periodic images may differ per direction) every edge has its own filter
    batch.edge_vec = batch.pos[batch.edge_index[0]] - batch.pos[batch.edge_index[1]]
    handle = model.convs[0].radial.basis.register_forward_hook(lambda m, a, out: rows.append(out.shape[0]))
    torch.testing.assert_close(model(batch)["U0"], out)
    handle.remove()
    assert rows[-1] == batch.edge_index.shape[1]


def test_symmetric_graphs_form_messages_per_pair():
    from gdl.nn.radial import node_pairs, symmetric_pair_nodes

    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    first, pair_index = node_pairs(edge_index, 3)
    assert symmetric_pair_nodes(edge_index, first, pair_index).tolist() == [[1, 2], [0, 1]]
    duplicate = torch.tensor([[0, 0, 1, 2], [1, 1, 2, 1]])  # 0 -> 1 twice, never 1 -> 0
    assert symmetric_pair_nodes(duplicate, *node_pairs(duplicate, 3)) is None
    torch.manual_seed(0)
    model = InvariantNet(["U0"], hidden_channels=8, num_layers=2)
    batch = random_molecules(3, 4, 7, 5, seed=4)  # full graphs, float64
    with default_dtype(torch.float64):
        model = model.double()
    assert symmetric_pair_nodes(batch.edge_index, *node_pairs(batch.edge_index, batch.num_nodes)) is not None
    with torch.no_grad():
        out = model(batch)["U0"]
        h, r = model.embed(batch), model.edge_vectors(batch)
        for conv in model.convs:  # per edge, no pairs
            h = conv(h, batch.pos, batch.edge_index, edge_vec=r)
        ref = model.readout(h, batch.edge_index, r, model.batch_vector(batch), model.num_graphs(batch))["U0"]
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
