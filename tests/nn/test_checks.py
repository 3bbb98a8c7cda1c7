import pytest
import torch

from gdl.nn._checks import check_edge_index, check_edge_vec, check_features, check_pos
from gdl.nn.geometry import edge_vectors


def test_pos_checks():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        check_pos(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        check_pos(torch.tensor([[0.0, float("nan"), 0.0]]))
    with pytest.raises(TypeError, match="floating"):
        check_pos(torch.zeros(2, 3, dtype=torch.long))


def test_edge_checks():
    with pytest.raises(ValueError, match="entries in"):
        check_edge_index(torch.tensor([[0, 5], [1, 0]]), num_nodes=3)
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        check_edge_index(torch.tensor([0, 1]), num_nodes=3)
    with pytest.raises(ValueError, match="2 edges"):
        check_edge_vec(torch.zeros(3, 3), num_edges=2)
    with pytest.raises(ValueError, match=r"\[N, 7\]"):
        check_features(torch.zeros(3, 6), 3, 7)


def test_edge_vectors():
    pos = torch.tensor([[0.0, 0, 0], [1.0, 2, 3]])
    ei = torch.tensor([[0], [1]])
    torch.testing.assert_close(edge_vectors(pos, ei), torch.tensor([[-1.0, -2, -3]]))
    given = torch.tensor([[9.0, 9, 9]])
    torch.testing.assert_close(edge_vectors(pos, ei, given), given)
