import pytest
import torch
from torch_geometric.data import Data

from gdl import groups
from gdl.groups import FieldType, GroupElement, act, act_on_data, field_type
from gdl.keys import Target


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
