"""Anchor providers: validation, casting, seeded redraws, super-Fibonacci sets."""

import copy

import pytest
import torch

from gdl import groups
from gdl.groups import anchors as A


def test_super_fibonacci():
    R = A.super_fibonacci(100)
    assert R.shape == (100, 3, 3)
    assert groups.is_rotation(R, atol=1e-12).all()
    torch.testing.assert_close(R, A.super_fibonacci(100))  # deterministic
    # low discrepancy: its degree-1 and 2 averages are far smaller than a random set's
    for irrep in ("1o", "2e"):
        assert A.anchor_bias(R, irrep) < 0.05 < A.anchor_bias(groups.haar(100, 0, dtype=torch.float64), irrep)
    with pytest.raises(ValueError, match="n must be >= 1"):
        A.super_fibonacci(0)


def test_bad_anchor_sets_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        A.FixedAnchors(torch.zeros(0, 3, 3))
    with pytest.raises(ValueError, match=r"rotation matrices \(orthogonal with det = \+1\).*entries \[1\]"):
        A.FixedAnchors(torch.stack([torch.eye(3), -torch.eye(3)]).double())
    with pytest.raises(ValueError, match="entries \\[0\\]"):
        A.FixedAnchors(torch.eye(3)[None] * 1.1)
    with pytest.raises(
        ValueError, match=r"must be \[A, 3, 3\] rotations for so3 anchors, got shape \(3, 3\)"
    ):
        A.FixedAnchors(torch.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        A.FixedAnchors(torch.full((2, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="not closed under products"):
        A.GroupAnchors(groups.haar(5, 0, dtype=torch.float64))
    with pytest.raises(ValueError, match="unit vectors.*entries \\[1\\]"):
        A.SphereAnchors(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]]))
    with pytest.raises(ValueError, match="empty"):
        A.SphereAnchors(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="leave the set"):
        A.SphereAnchors(groups.fibonacci_sphere(12), group=groups.octahedral())
    with pytest.raises(ValueError, match="n >= 1"):
        A.HaarAnchors(0)
    # reflections only when asked for
    with pytest.raises(ValueError, match="det = \\+1"):
        A.GroupAnchors(groups.cube_group())
    assert A.GroupAnchors(groups.cube_group(), allow_reflections=True).num_anchors == 48


def test_fixed_providers_cast_and_keep_float64_masters():
    anchors = A.GroupAnchors.named("icosahedral")
    assert repr(anchors) == "GroupAnchors('icosahedral', order=60)"
    assert not anchors.redraws and anchors.group is not None
    R32 = anchors(torch.float32)
    assert R32.dtype == torch.float32 and R32.shape == (60, 3, 3)
    R64 = anchors(torch.float64)
    assert R64.dtype == torch.float64 and groups.is_rotation(R64, atol=1e-13).all()
    torch.testing.assert_close(anchors(torch.float64), R64)  # same anchors every call
    assert A.RandomAnchors(12, seed=3)(torch.float64).equal(A.RandomAnchors(12, seed=3)(torch.float64))
    assert repr(A.SuperFibonacciAnchors(24)) == "SuperFibonacciAnchors(num_anchors=24)"
    s = A.SphereAnchors.icosahedron()
    assert s.space == "sphere" and s(torch.float64).shape == (12, 3) and s.group.shape == (60, 3, 3)
    assert (
        A.SphereAnchors.fibonacci(20).num_anchors == 20 and A.SphereAnchors.random(7, seed=1).num_anchors == 7
    )


@pytest.mark.parametrize(
    "make", [lambda: A.HaarAnchors(8, seed=5), lambda: A.UniformSphereAnchors(8, seed=5)]
)
def test_redrawn_providers_are_seeded_and_reproducible(make):
    p = make()
    assert p.redraws and "redrawn per call" in repr(p)
    a, b = p(torch.float64), p(torch.float64)
    assert not torch.allclose(a, b)  # a new draw every call
    p.reset()
    torch.testing.assert_close(p(torch.float64), a)  # reset restarts the sequence
    torch.testing.assert_close(make()(torch.float64), a)  # same seed, same draws
    q = copy.deepcopy(p)  # models are deep-copied by the equivariance checker: the state is copied too
    torch.testing.assert_close(q(torch.float64), p(torch.float64))
    A.check_anchors(p(torch.float32))
    # reference() does not advance the generator
    p.reset()
    p.reference()
    torch.testing.assert_close(p(torch.float64), a)
