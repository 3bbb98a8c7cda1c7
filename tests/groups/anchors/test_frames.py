"""Anchor invariants (frame and sphere components) and the permutations of closed anchor sets."""

import pytest
import torch

from gdl import groups
from gdl.groups import anchors as A


def test_frame_and_sphere_components_are_invariant():
    v = torch.randn(5, 3, dtype=torch.float64)
    R = groups.haar(7, 0, dtype=torch.float64)
    o = groups.random_sphere(7, 0)
    g = groups.haar(1, 1, dtype=torch.float64)[0]
    torch.testing.assert_close(A.frame_components(v @ g.T, g @ R), A.frame_components(v, R))
    torch.testing.assert_close(A.sphere_components(v @ g.T, o @ g.T), A.sphere_components(v, o))
    c = A.sphere_components(v, o)
    assert c.shape == (5, 7, 2)
    torch.testing.assert_close(c[..., 0] ** 2 + c[..., 1] ** 2, (v * v).sum(-1, keepdim=True).expand(5, 7))
    rel = A.relative_rotations(R, R)
    torch.testing.assert_close(rel, A.relative_rotations(g @ R, g @ R))
    torch.testing.assert_close(rel[2, 5], R[2].T @ R[5])


def test_sphere_components_have_finite_gradient_when_parallel():
    o = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    v = torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    A.sphere_components(v, o).sum().backward()
    assert torch.isfinite(v.grad).all()


@pytest.mark.parametrize("make", [groups.octahedral, groups.icosahedral])
def test_anchor_permutation_of_a_group(make):
    G = make()
    for g in G[1:6]:
        sigma = A.anchor_permutation(g, G)
        assert sorted(sigma.tolist()) == list(range(len(G)))
        torch.testing.assert_close(G[sigma], g.T @ G)
    with pytest.raises(ValueError, match="not elements of the group"):
        A.anchor_permutation(groups.haar(1, 0, dtype=torch.float64)[0], G)


def test_anchor_permutation_of_an_orbit():
    o = groups.icosahedron_vertices()
    for g in groups.icosahedral()[1:8]:
        sigma = A.anchor_permutation(g, o)
        torch.testing.assert_close(o[sigma], o @ g)  # rows g^T o_a
    with pytest.raises(ValueError, match="leave the set"):
        A.anchor_permutation(groups.haar(1, 0, dtype=torch.float64)[0], o)
