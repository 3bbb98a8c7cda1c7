"""Graph transforms: radius, k-NN and fully connected graphs, charge products; torch_cluster is imported
only when a graph is built."""

import pytest
import torch
from torch_geometric.data import Batch

from gdl.data import ChargeProducts, FullyConnected, KNNGraph, RadiusGraph, fully_connected_index
from gdl.data.transforms import graphs as graphs_module

from ._clouds import cloud


# --- graphs -----------------------------------------------------------------------------------------
def _pairs(ei):
    return set(map(tuple, ei.t().tolist()))


def _brute_radius(pos, batch, r):
    d = torch.cdist(pos, pos)
    same = batch[:, None] == batch[None, :]
    j, i = torch.nonzero((d < r) & same & ~torch.eye(len(pos), dtype=torch.bool), as_tuple=True)
    return _pairs(torch.stack([j, i]))


def test_radius_graph_matches_brute_force():
    b = Batch.from_data_list([cloud(9, 1), cloud(12, 2)])
    b.edge_attr = torch.zeros(3, 1)  # stale edge features are dropped
    out = RadiusGraph(2.5)(b)
    assert _pairs(out.edge_index) == _brute_radius(b.pos, b.batch, 2.5) and "edge_attr" not in out
    assert repr(RadiusGraph(2.5)) == "RadiusGraph(r=2.5, loop=False, max_num_neighbors=64)"
    with pytest.raises(ValueError, match="positive"):
        RadiusGraph(0.0)


def test_knn_graph_direction():
    d = cloud(10, 4)
    out = KNNGraph(3)(d)
    j, i = out.edge_index
    assert torch.equal(torch.bincount(i, minlength=10), torch.full((10,), 3))  # each target has k sources
    dist = torch.cdist(d.pos, d.pos) + torch.eye(10) * 1e9
    nearest = dist.topk(3, dim=0, largest=False).indices  # [3, 10]: the 3 nearest sources of each i
    for jj, ii in zip(j.tolist(), i.tolist()):
        assert jj in nearest[:, ii].tolist()
    with pytest.raises(ValueError, match="k must be"):
        KNNGraph(0)


def test_missing_torch_cluster(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "torch_cluster":
            raise ImportError("no")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="pip install torch-cluster"):
        RadiusGraph(1.0)(cloud())
    assert FullyConnected()(cloud(4)).edge_index.shape == (2, 12)  # works without it


def test_fully_connected():
    sizes = [1, 4, 3]
    b = Batch.from_data_list([cloud(n, k) for k, n in enumerate(sizes)])
    out = FullyConnected()(b)
    assert out.edge_index.shape[1] == sum(n * (n - 1) for n in sizes)
    assert _pairs(out.edge_index) == _brute_radius(b.pos, b.batch, 1e9)
    with_loops = fully_connected_index(b.num_nodes, b.batch, loop=True)
    assert with_loops.shape[1] == sum(n * n for n in sizes)
    single = FullyConnected()(cloud(5)).edge_index
    assert single.shape == (2, 20) and bool((single[0] != single[1]).all())
    with pytest.raises(ValueError, match="sorted"):
        fully_connected_index(3, torch.tensor([1, 0, 1]))
    assert repr(FullyConnected(loop=True)) == "FullyConnected(loop=True)"


def test_charge_products():
    d = FullyConnected()(cloud(4))
    out = ChargeProducts()(d)
    j, i = out.edge_index
    torch.testing.assert_close(out.edge_attr, d.x[j] * d.x[i])
    with pytest.raises(KeyError, match="edge_index"):
        ChargeProducts()(cloud(4))


def test_torch_cluster_is_imported_lazily():
    assert "torch_cluster" not in graphs_module.__dict__  # imported inside the transforms that need it
