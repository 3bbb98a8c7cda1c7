import pytest
import torch
from torch_geometric.data import Data

from gdl.models import GDLModel, check_batch
from gdl.testing.data import random_molecule


def test_check_batch_messages():
    data = random_molecule(4)
    check_batch(data)
    with pytest.raises(ValueError, match="needs `edge_index`.*RadiusGraph"):
        check_batch(Data(pos=data.pos))
    with pytest.raises(ValueError, match="NaN"):
        check_batch(Data(pos=data.pos * float("nan"), edge_index=data.edge_index))
    with pytest.raises(ValueError, match="empty graph"):
        check_batch(Data(pos=torch.zeros(0, 3), edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="edge_vec has 1 rows"):
        check_batch(Data(pos=data.pos, edge_index=data.edge_index, edge_vec=torch.zeros(1, 3)))


def test_targets_are_declared():
    class M(GDLModel):
        def __init__(self):
            super().__init__(["homo", "velocity"])
            self.check_targets(["0e", "1o"])

    m = M()
    assert m.target_names == ["homo", "velocity"]
    assert "homo:graph:1x0e" in repr(m)
