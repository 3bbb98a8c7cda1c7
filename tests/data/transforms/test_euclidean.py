"""Euclidean transforms: typed random rotations and centring."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl.data import Center, RandomRotation
from gdl.groups import GroupElement, act_on_data, haar, haar_o3
from gdl.testing import assert_equivariant, node

from ._clouds import cloud


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
