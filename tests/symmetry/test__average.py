"""The shared averaging machinery: repeated batches equal PyG's own batching of copies, and the
group average is exactly equivariant when the draws are coupled (g x with R g^T, x with R)."""

import pytest
import torch
from torch_geometric.data import Batch

from gdl.dtype import default_dtype
from gdl.groups import act_fields_per_graph, act_per_graph, haar
from gdl.models import NodeInputs
from gdl.symmetry._average import group_average, input_types, repeat_graphs
from gdl.testing.data import random_molecule

from ._models import batch, make_model, relative


def typed_graphs():
    graphs = []
    for seed, n in enumerate([3, 5, 4]):
        d = random_molecule(n, seed=seed)
        d.edge_vec = d.pos[d.edge_index[0]] - d.pos[d.edge_index[1]]
        d.dipole_vec = torch.randn(1, 3, dtype=torch.float64)
        d.y = torch.randn(1, 19, dtype=torch.float64)
        graphs.append(d)
    return graphs


@pytest.mark.parametrize("copies", [1, 3])
def test_repeat_graphs_matches_pyg_batching(copies):
    graphs = typed_graphs()
    data = Batch.from_data_list(graphs)
    got = repeat_graphs(data, copies)
    ref = Batch.from_data_list(graphs * copies)
    assert got.num_graphs == ref.num_graphs == 3 * copies
    for key in ("pos", "z", "edge_index", "edge_vec", "batch", "ptr", "dipole_vec", "y"):
        assert torch.equal(got[key], ref[key]), key
    single = repeat_graphs(graphs[0], 2)  # a single Data is batched first
    assert single.num_graphs == 2 and torch.equal(single.batch, torch.tensor([0] * 3 + [1] * 3))
    with pytest.raises(ValueError, match="copies must be >= 1"):
        repeat_graphs(data, 0)


def test_coupled_draws_make_the_average_exactly_equivariant():
    """f_K(g x; R g^T) = g f_K(x; R) for any f: the inverse map and the stacking are exact."""
    model = make_model("PlainNet")
    data = batch()
    B = data.num_graphs
    R = haar(4 * B, 0, dtype=torch.float64).unflatten(0, (4, B))
    g = haar(B, 1, dtype=torch.float64)  # a different rotation per graph
    types = {t.name: t for t in model.targets}
    with default_dtype(torch.float64):
        out = group_average(model, data, R)
        moved = group_average(model, act_per_graph(data, g), R @ g.transpose(-1, -2))
    expected = act_fields_per_graph(out, types, g, data.batch)
    for k in out:
        assert relative(moved[k], expected[k]) < 1e-12, k


def test_input_types_follow_the_model_and_the_data():
    model = make_model("EGNN", inputs=NodeInputs(vector_inputs=("spin", "vel")))
    data = batch()
    data.spin = torch.zeros(data.num_nodes, 3)
    assert input_types(model, {"q": "2e", "x9": "1o"}, data) == {"spin": ("node", "1o")}
    data.q = torch.zeros(data.num_graphs, 5)
    assert input_types(model, {"q": ("graph", "2e")}, data) == {"spin": ("node", "1o"), "q": ("graph", "2e")}
