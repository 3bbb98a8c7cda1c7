import pytest
import torch
from torch_geometric.data import Data

from gdl import groups
from gdl.action import FieldType, GroupElement, act, act_on_data, field_type
from gdl.keys import Target
from gdl.testing import float64_atol

# float64 results of products of a few 3x3 / 5x5 orthogonal matrices with O(1) fields: a relative bound
# plus ulps x terms at unit scale (gdl.testing.float64_atol), not bit-exact BLAS sums
_TOL = {"rtol": 1e-10, "atol": float64_atol(10.0, terms=9)}


def test_field_type_parsing():
    assert field_type("1o") == FieldType("1o", "node")
    assert field_type(("graph", "2e")) == FieldType("2e", "graph")
    assert field_type(("2e", "graph")) == FieldType("2e", "graph")
    assert field_type(Target("d", "1o")) == FieldType("1o", "graph")
    assert groups.graph("pos").rep == "pos"
    with pytest.raises(ValueError, match="invalid field representation"):
        FieldType("banana")
    with pytest.raises(ValueError, match="invalid level"):
        FieldType("1o", "face")


def test_act_on_data():
    R = groups.haar(1, generator=0, dtype=torch.float64)[0]
    t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    data = Data(
        pos=torch.randn(3, 3, dtype=torch.float64),
        z=torch.tensor([1, 6, 8]),
        vel=torch.randn(3, 3, dtype=torch.float64),
        dipole_vec=torch.randn(1, 3, dtype=torch.float64),
        edge_index=torch.tensor([[0, 1], [1, 2]]),
        edge_vec=torch.randn(2, 3, dtype=torch.float64),
    )
    out = act_on_data(data, GroupElement(R, t, perm))
    torch.testing.assert_close(out.pos, (data.pos @ R.T + t)[perm])
    torch.testing.assert_close(out.vel, (data.vel @ R.T)[perm])  # vectors are not translated
    torch.testing.assert_close(out.dipole_vec, data.dipole_vec @ R.T)  # graph-level: not permuted
    assert torch.equal(out.z, data.z[perm])
    # node k of the new graph is node perm[k] of the old: old edge 0->1 becomes 1->2
    assert out.edge_index.tolist() == [[1, 2], [2, 0]]
    torch.testing.assert_close(out.edge_vec, data.edge_vec @ R.T)  # edge order is kept
    assert data.pos is not out.pos  # the input is not modified


def test_act_checks_irreps_dimension():
    g = GroupElement(torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="declared as 1x2e"):
        act(torch.zeros(4, 3), FieldType("2e"), g, "shape")


def _typed_batch():
    from torch_geometric.data import Batch

    from gdl.testing.data import random_molecule

    graphs = []
    for seed, n in enumerate([4, 6, 5]):
        d = random_molecule(n, seed=seed)
        d.vel = torch.randn(n, 3, dtype=torch.float64)
        d.edge_vec = d.pos[d.edge_index[0]] - d.pos[d.edge_index[1]]
        d.quadrupole = torch.randn(1, 5, dtype=torch.float64)
        d.shape = torch.randn(n, 5, dtype=torch.float64)
        graphs.append(d)
    return graphs, Batch.from_data_list(graphs)


def test_act_per_graph_matches_act_on_data_graph_by_graph():
    graphs, batch = _typed_batch()
    R = groups.haar(3, generator=0, dtype=torch.float64)
    R[1] = -R[1]  # one improper element: parity of 1o/2e fields
    t = torch.randn(3, 3, dtype=torch.float64)
    out = groups.act_per_graph(batch, R, t)
    assert out.pos is not batch.pos and torch.equal(out.z, batch.z)
    assert torch.equal(out.edge_index, batch.edge_index) and out.num_graphs == 3
    for g, d in enumerate(graphs):
        ref = act_on_data(d, GroupElement(R[g], t[g]))
        lo, hi = int(batch.ptr[g]), int(batch.ptr[g + 1])
        for k in ("pos", "vel", "shape"):
            torch.testing.assert_close(out[k][lo:hi], ref[k], **_TOL)
        torch.testing.assert_close(out.quadrupole[g : g + 1], ref.quadrupole, **_TOL)
        edges = batch.batch[batch.edge_index[1]] == g
        torch.testing.assert_close(out.edge_vec[edges], ref.edge_vec, **_TOL)
    # the original batch is untouched
    torch.testing.assert_close(batch.pos[: graphs[0].num_nodes], graphs[0].pos)


def test_act_fields_per_graph_inverse_and_gradients():
    _, batch = _typed_batch()
    R = groups.haar(3, generator=1, dtype=torch.float64)
    types = {"shape": ("node", "2e"), "quadrupole": ("graph", "2e"), "e": ("graph", "0e")}
    e = torch.randn(3, 1, dtype=torch.float64)
    fields = {"shape": batch.shape, "quadrupole": batch.quadrupole, "e": e}
    there = groups.act_fields_per_graph(fields, types, R, batch.batch)
    back = groups.act_fields_per_graph(there, types, R.transpose(-1, -2), batch.batch)
    for k in fields:
        torch.testing.assert_close(back[k], fields[k], **_TOL)
    assert there["e"] is fields["e"]
    # differentiable in R (0e/1o/2e blocks are tensor operations), e.g. for learned augmentation
    omega = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)

    def f(w):
        return groups.act_fields_per_graph(fields, types, groups.exp(w), batch.batch)["shape"]

    assert torch.autograd.gradcheck(f, (omega,))


def test_act_per_graph_errors():
    _, batch = _typed_batch()
    with pytest.raises(ValueError, match=r"R must be \[B=3, 3, 3\]"):
        groups.act_per_graph(batch, torch.eye(3, dtype=torch.float64)[None])
    with pytest.raises(KeyError, match="no type given"):
        groups.act_fields_per_graph({"a": batch.pos}, {}, torch.eye(3)[None].repeat(3, 1, 1), batch.batch)
    with pytest.raises(ValueError, match="'q' has leading dimension"):
        groups.act_fields_per_graph(
            {"q": torch.zeros(2, 3)}, {"q": ("graph", "1o")}, torch.eye(3)[None].repeat(3, 1, 1), batch.batch
        )
    with pytest.raises(ValueError, match="declared as 1x2e"):
        groups.act_fields_per_graph(
            {"q": torch.zeros(3, 3)}, {"q": ("graph", "2e")}, torch.eye(3)[None].repeat(3, 1, 1), batch.batch
        )
