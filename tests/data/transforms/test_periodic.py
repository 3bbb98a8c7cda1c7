import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gdl.data.transforms.periodic import (
    PeriodicKNNGraph,
    PeriodicRadiusGraph,
    minimum_image,
    periodic_knn_graph,
    periodic_radius_graph,
)
from gdl.groups import GroupElement, act, cube_group
from gdl.testing import edge

L = 10.0


def _brute(pos, box):
    d = pos[None, :, :] - pos[:, None, :]  # d[i, j] = x_j - x_i
    d -= box * np.round(d / box)
    return d, np.linalg.norm(d, axis=-1)


def _edge_dict(edge_index, edge_vec):
    return {(int(j), int(i)): v for (j, i), v in zip(edge_index.T.tolist(), edge_vec.numpy())}


def test_knn_matches_brute_force():
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, L, (60, 3))
    ei, ev = periodic_knn_graph(torch.tensor(pos), L, 5)
    d, dist = _brute(pos, L)
    np.fill_diagonal(dist, np.inf)
    assert ei.shape == (2, 300) and ev.dtype == torch.float64
    assert torch.equal(torch.bincount(ei[1]), torch.full((60,), 5))
    for i in range(60):
        expect = set(np.argsort(dist[i])[:5].tolist())
        assert set(ei[0, ei[1] == i].tolist()) == expect
    for (j, i), v in _edge_dict(ei, ev).items():
        np.testing.assert_allclose(v, d[i, j], atol=1e-12)
        assert np.linalg.norm(v) <= L * np.sqrt(3) / 2


def test_radius_matches_brute_force_and_max_neighbours():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, L, (80, 3))
    ei, ev = periodic_radius_graph(pos, np.array([L, L, L]), 2.5)
    _, dist = _brute(pos, L)
    np.fill_diagonal(dist, np.inf)
    expect = {(j, i) for i, j in zip(*np.nonzero(dist < 2.5))}
    assert set(_edge_dict(ei, ev)) == expect
    assert ev.dtype == torch.get_default_dtype()
    capped, _ = periodic_radius_graph(pos, L, 2.5, max_num_neighbors=2)
    counts = torch.bincount(capped[1], minlength=80)
    assert counts.max() <= 2
    for i in range(80):  # the nearest two survive
        kept = capped[0, capped[1] == i].tolist()
        nearest = [j for j in np.argsort(dist[i]) if dist[i, j] < 2.5][:2]
        assert sorted(kept) == sorted(nearest)


def test_edges_across_the_boundary_use_the_minimum_image():
    pos = torch.tensor([[0.5, 5.0, 5.0], [9.5, 5.0, 5.0], [5.0, 5.0, 5.0]], dtype=torch.float64)
    ei, ev = periodic_radius_graph(pos, L, 1.5)
    e = _edge_dict(ei, ev)
    np.testing.assert_allclose(e[(1, 0)], [-1.0, 0, 0])  # x_1 - x_0 seen from 0 is one step to the left
    np.testing.assert_allclose(e[(0, 1)], [1.0, 0, 0])
    assert (2, 0) not in e
    np.testing.assert_allclose(minimum_image(np.array([9.0, -9.0, 4.0]), L), [-1.0, 1.0, 4.0])
    t = minimum_image(torch.tensor([[6.0, 0.0, 0.0]]), torch.tensor([L, L, L]))
    assert torch.allclose(t, torch.tensor([[-4.0, 0.0, 0.0]]))


def test_graph_is_translation_invariant_and_cube_equivariant():
    rng = np.random.default_rng(2)
    pos = rng.uniform(0, L, (50, 3))
    ei, ev = periodic_knn_graph(pos, L, 4)
    base = _edge_dict(ei, ev)
    shifted = np.mod(pos + np.array([3.3, -7.1, 12.4]), L)
    ei2, ev2 = periodic_knn_graph(shifted, L, 4)
    moved = _edge_dict(ei2, ev2)
    assert set(moved) == set(base)
    for key in base:
        np.testing.assert_allclose(moved[key], base[key], atol=1e-12)
    for R in cube_group()[[5, 17, 40]]:
        rotated = np.mod(pos @ R.numpy().T, L)
        ei3, ev3 = periodic_knn_graph(rotated, L, 4)
        expected = act(ev, edge("1o"), GroupElement(R))
        got = _edge_dict(ei3, ev3)
        assert set(got) == set(base)
        for n, key in enumerate(_edge_dict(ei, expected)):
            np.testing.assert_allclose(got[key], expected[n].numpy(), atol=1e-12)


def test_transforms_read_the_box_and_wrap_outside_points():
    data = Data(pos=torch.tensor([[0.5, 5, 5], [10.5, 5, 5], [5, 5, 5.0]]), box=torch.tensor([[L, L, L]]))
    with pytest.warns(UserWarning, match="wrapped"):
        out = PeriodicRadiusGraph(1.5)(data.clone())
    assert out.edge_index.shape[1] == 2 and out.edge_vec.dtype == torch.float32
    out = PeriodicKNNGraph(2)(Data(pos=torch.rand(5, 3) * L, box=torch.tensor([[L, L, L]])))
    assert out.edge_index.shape == (2, 10)
    assert repr(PeriodicKNNGraph(10)) == "PeriodicKNNGraph(k=10)"
    assert repr(PeriodicRadiusGraph(100.0)) == "PeriodicRadiusGraph(r=100.0, max_num_neighbors=None)"
    with pytest.raises(KeyError, match="data.box"):
        PeriodicKNNGraph(2)(Data(pos=torch.rand(5, 3)))


def test_coincident_points_never_link_to_themselves():
    pos = np.array([[1.0, 1, 1]] * 4 + [[5.0, 5, 5]])
    ei, _ = periodic_knn_graph(pos, L, 3)
    assert not (ei[0] == ei[1]).any() and ei.shape[1] == 15


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: periodic_knn_graph(np.zeros((3, 3)), L, 3), "more than k points"),
        (lambda: periodic_knn_graph(np.zeros((3, 2)), L, 1), r"\[N, 3\]"),
        (lambda: periodic_knn_graph(np.full((3, 3), np.nan), L, 1), "NaN"),
        (lambda: periodic_radius_graph(np.zeros((3, 3)), L, 5.0), "below half"),
        (lambda: periodic_radius_graph(np.zeros((3, 3)), 0.0, 1.0), "must be > 0"),
        (lambda: periodic_radius_graph(np.zeros((3, 3)), L, -1.0), "must be > 0"),
        (lambda: PeriodicKNNGraph(0), "positive integer"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
