"""Transforms: typed random rotations, centring, graphs, target selection."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl.data import (
    Center,
    ChargeProducts,
    FullyConnected,
    KNNGraph,
    RadiusGraph,
    RandomRotation,
    SelectTargets,
    fully_connected_index,
)
from gdl.data import transforms as transforms_module
from gdl.groups import GroupElement, act_on_data, haar, haar_o3
from gdl.keys import QM9_TARGETS
from gdl.testing import assert_equivariant, node


def cloud(n=7, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return Data(
        pos=torch.randn(n, 3, generator=g, dtype=dtype) * 2,
        pos_target=torch.randn(n, 3, generator=g, dtype=dtype),
        vel=torch.randn(n, 3, generator=g, dtype=dtype),
        quadrupole=torch.randn(1, 5, generator=g, dtype=dtype),
        x=torch.randn(n, 1, generator=g, dtype=dtype),
        y=torch.randn(1, 19, generator=g, dtype=dtype),
    )


# --- rotations -------------------------------------------------------------------------------------
@pytest.mark.parametrize("group,draw", [("SO3", haar), ("O3", haar_o3)])
def test_random_rotation_is_act_on_data_with_haar_draws(group, draw):
    d = cloud()
    t = RandomRotation(group, seed=42)
    gen = torch.Generator().manual_seed(42)
    for _ in range(4):
        out = t(d)
        R = draw(1, gen, dtype=torch.float64)[0]
        ref = act_on_data(d, GroupElement(R))
        for k in ("pos", "pos_target", "vel", "quadrupole", "x", "y"):
            torch.testing.assert_close(out[k], ref[k])
    assert repr(t) == f"RandomRotation(group={group!r})"


def test_random_rotation_seeding_and_types():
    d = cloud()
    a, b, c = RandomRotation(seed=1)(d), RandomRotation(seed=1)(d), RandomRotation(seed=2)(d)
    assert torch.equal(a.pos, b.pos) and not torch.allclose(a.pos, c.pos)
    assert torch.equal(a.x, d.x) and torch.equal(a.y, d.y)  # invariants untouched
    torch.testing.assert_close(a.pos.norm(dim=1), d.pos.norm(dim=1))
    # reflections flip vectors, not 2e tensors
    t = RandomRotation("O3", seed=0)
    flips = []
    for _ in range(8):
        R = t.sample()
        flips.append(bool(torch.linalg.det(R) < 0))
    assert any(flips) and not all(flips)
    # an unregistered field is invariant unless declared
    d.f = torch.randn(7, 3, dtype=torch.float64)
    assert torch.equal(RandomRotation(seed=3)(d).f, d.f)
    assert not torch.allclose(RandomRotation(seed=3, types={"f": "1o"})(d).f, d.f)
    with pytest.raises(ValueError, match="'SO3' or 'O3'"):
        RandomRotation("SE3")


# --- centring ---------------------------------------------------------------------------------------
def test_center_data_and_batch():
    d = cloud()
    c = Center()(d)
    torch.testing.assert_close(c.pos.mean(0), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(c.pos_target - d.pos_target, c.pos - d.pos)  # same shift for every pos field
    assert torch.equal(c.vel, d.vel) and torch.equal(c.quadrupole, d.quadrupole)
    b = Batch.from_data_list([cloud(5, 1), cloud(8, 2), cloud(3, 3)])
    cb = Center()(b)
    for g in range(3):
        torch.testing.assert_close(cb.pos[cb.batch == g].mean(0), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"data.pos must be a \[N, 3\] tensor"):
        Center()(Data(x=torch.zeros(3, 1)))


def test_center_is_translation_invariant_and_rotation_equivariant():
    b = Batch.from_data_list([cloud(5, 1), cloud(8, 2)])
    b = Batch.from_data_list([Data(pos=b.pos[b.batch == g]) for g in range(2)])
    assert_equivariant(lambda d: Center()(d).pos, b, out_types=node("1o"), tol=1e-10)


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


# --- target selection -------------------------------------------------------------------------------
def test_select_targets():
    b = Batch.from_data_list([cloud(3, 1), cloud(4, 2)])
    out = SelectTargets(["homo", "U0_atom", "quadrupole"])(b)
    assert torch.equal(out.homo, b.y[:, 2:3]) and out.homo.shape == (2, 1)
    assert torch.equal(out.U0_atom, b.y[:, QM9_TARGETS.index("U0_atom") : QM9_TARGETS.index("U0_atom") + 1])
    assert torch.equal(out.quadrupole, b.quadrupole)
    with pytest.raises(KeyError, match="neither a field"):
        SelectTargets("dipole_vec")(b)
    with pytest.raises(ValueError, match="at least one"):
        SelectTargets([])
    assert repr(SelectTargets("gap")) == "SelectTargets(['gap'])"
    assert "torch_cluster" not in transforms_module.__dict__  # imported lazily, inside the transforms
