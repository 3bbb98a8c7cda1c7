import pytest
import torch

import gdl
from gdl.nn._checks import check_edge_index, check_edge_vec, check_features, check_pos, check_types
from gdl.nn.geometry import edge_vectors


def test_pos_checks():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        check_pos(torch.zeros(4, 2))
    nan = torch.tensor([[0.0, float("nan"), 0.0]])
    check_pos(nan)  # values are checked only when asked (models) or under gdl.debug()
    with pytest.raises(ValueError, match="NaN"):
        check_pos(nan, values=True)
    with gdl.debug(), pytest.raises(ValueError, match="NaN"):
        check_pos(nan)
    with pytest.raises(TypeError, match="floating"):
        check_pos(torch.zeros(2, 3, dtype=torch.long))


def test_edge_checks():
    bad = torch.tensor([[0, 5], [1, 0]])
    check_edge_index(bad, num_nodes=3)
    with pytest.raises(ValueError, match="entries in"):
        check_edge_index(bad, num_nodes=3, values=True)
    with gdl.debug(), pytest.raises(ValueError, match="entries in"):
        check_edge_index(bad, num_nodes=3)
    with pytest.raises(ValueError, match="NaN"):
        check_edge_vec(torch.full((2, 3), float("inf")), num_edges=2, values=True)
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        check_types(torch.tensor([0, 4]), 2, 4, values=True)
    with pytest.raises(ValueError, match="integer"):
        check_types(torch.zeros(2), 2, 4)
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


def test_debug_switch_restores_and_decorates():
    assert not gdl.is_debug_enabled()
    with gdl.debug():
        assert gdl.is_debug_enabled()
        with gdl.debug():
            pass
        assert gdl.is_debug_enabled()  # the inner block restores the outer setting
    assert not gdl.is_debug_enabled()

    @gdl.debug()
    def f():
        return gdl.is_debug_enabled()

    assert f() and not gdl.is_debug_enabled()


def test_message_passing_kwargs():
    from gdl.nn._checks import check_message_passing_kwargs as mp

    assert mp("L", {}, aggr=("sum", "mean")) == {"aggr": "sum", "flow": "source_to_target"}
    assert mp("L", {"aggr": "mean"}, aggr=("sum", "mean"))["aggr"] == "mean"
    with pytest.raises(ValueError, match="aggr='max'"):
        mp("L", {"aggr": "max"}, aggr=("sum",))
    with pytest.raises(ValueError, match="flow='target_to_source'"):
        mp("L", {"flow": "target_to_source"})
