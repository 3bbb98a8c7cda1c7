import math

import pytest
import torch
from scipy import stats

from gdl import groups
from gdl.groups.so3 import _angle_cdf

# The maps tested here (exp, log, quaternions, e3nn's axis-angle) are closed forms on entries of size
# <= 1: a few dozen float64 operations per entry, no solve, no reduction longer than 3 terms, so
# their rounding error is a few tens of eps whatever the BLAS. The tolerance keeps a 100x margin over
# that (4096 eps = 9.1e-13); a wrong formula is off by >= 1e-8 (the log near theta = pi, the worst
# conditioned case, is checked in omega separately).
CLOSED_FORM = dict(atol=4096 * torch.finfo(torch.float64).eps, rtol=0.0)


def test_haar_angles_follow_haar_density():
    R = groups.haar(20_000, generator=1234, dtype=torch.float64)
    theta = groups.rotation_angle(R).numpy()
    p = stats.kstest(theta, lambda t: _angle_cdf(torch.as_tensor(t)).numpy()).pvalue
    assert p > 0.01, p


def test_haar_axes_are_uniform():
    R = groups.haar(20_000, generator=7, dtype=torch.float64)
    axis, _ = groups.matrix_to_axis_angle(R)
    # each axis component of a uniform unit vector is uniform on [-1, 1]
    for c in range(3):
        assert stats.kstest(axis[:, c].numpy(), stats.uniform(-1, 2).cdf).pvalue > 0.01


def test_haar_is_seeded_and_valid():
    a = groups.haar(50, generator=3, dtype=torch.float64)
    b = groups.haar(50, generator=3, dtype=torch.float64)
    assert torch.equal(a, b)
    assert not torch.equal(a, groups.haar(50, generator=4, dtype=torch.float64))
    assert groups.is_rotation(a, atol=1e-12).all()
    o = groups.haar_o3(200, generator=0, dtype=torch.float64)
    det = torch.linalg.det(o)
    assert groups.is_orthogonal(o, atol=1e-12).all() and (det > 0).any() and (det < 0).any()


def test_exp_log_round_trip():
    g = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(2000, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(2000, generator=g, dtype=torch.float64) * math.pi
    angle[:5] = torch.tensor([0.0, 1e-9, math.pi, math.pi - 1e-9, 1e-4], dtype=torch.float64)
    omega = axis * angle[:, None]
    R = groups.exp(omega)
    assert groups.is_rotation(R, atol=1e-12).all()
    back = groups.log(R)
    # at θ = π, ω and -ω are the same rotation
    same = (back - omega).norm(dim=-1)
    flipped = (back + omega).norm(dim=-1)
    err = torch.where(angle > math.pi - 1e-6, torch.minimum(same, flipped), same)
    assert err.max() < 1e-7
    torch.testing.assert_close(groups.exp(back), R, **CLOSED_FORM)
    Rh = groups.haar(2000, generator=5, dtype=torch.float64)
    torch.testing.assert_close(groups.exp(groups.log(Rh)), Rh, **CLOSED_FORM)


def test_exp_matches_e3nn_and_is_differentiable_everywhere():
    g = torch.Generator().manual_seed(1)
    omega = torch.randn(500, 3, generator=g, dtype=torch.float64) * 2
    ref = groups.axis_angle_to_matrix(omega, omega.norm(dim=-1))  # e3nn
    torch.testing.assert_close(groups.exp(omega), ref, **CLOSED_FORM)
    # e3nn's angle-based map has NaN gradients at 0 and for axes along y; this one has none
    for w in ([0.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 2e-4, 0.0], [0.1, -0.3, 0.2], [0.0, 0.0, 3.1]):
        w = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(groups.exp, (w,))
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    groups.exp(w).sum().backward()
    assert torch.equal(w.grad, torch.zeros(3, dtype=torch.float64))  # d/dω of the entries of [ω]x sum to 0


def test_quaternion_round_trip_at_every_angle():
    R = groups.haar(1000, generator=9, dtype=torch.float64)
    q = groups.matrix_to_quaternion(R)
    assert (q[:, 0] >= 0).all()
    torch.testing.assert_close(groups.quaternion_to_matrix(q), R, **CLOSED_FORM)
    flip = groups.axis_angle_to_matrix(
        torch.tensor([0.3, -0.2, 0.9], dtype=torch.float64), torch.tensor(math.pi)
    )
    torch.testing.assert_close(
        groups.quaternion_to_matrix(groups.matrix_to_quaternion(flip)), flip, **CLOSED_FORM
    )


def test_geodesic_distance():
    R = groups.haar(10, generator=2, dtype=torch.float64)
    assert groups.geodesic_distance(R, R).max() < 1e-7
    Rz = groups.axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.tensor(0.7))
    torch.testing.assert_close(
        groups.geodesic_distance(R, R @ Rz), torch.full((10,), 0.7, dtype=torch.float64)
    )


def test_check_rotations_errors():
    with pytest.raises(ValueError, match="empty"):
        groups.check_rotations(torch.zeros(0, 3, 3))
    with pytest.raises(ValueError, match="det"):
        groups.check_rotations(-torch.eye(3)[None])
    with pytest.raises(ValueError, match="det"):
        groups.check_rotations(2 * torch.eye(3)[None])
    with pytest.raises(ValueError, match=r"\[A, 3, 3\]"):
        groups.check_rotations(torch.eye(3))
    groups.check_rotations(-torch.eye(3)[None], proper=False)


# e3nn builds D(R) from Euler angles and float64 constants (matrix exponentials of the generators):
# entries of norm <= 1 to a few hundred ulps, whatever the BLAS; a float32 path would be off by ~1e-7
WIGNER_FLOAT64 = dict(atol=512 * torch.finfo(torch.float64).eps, rtol=64 * torch.finfo(torch.float64).eps)


def test_wigner_D_is_float64_exact_under_float32_default():
    assert torch.get_default_dtype() == torch.float32
    R = groups.haar(4, generator=0, dtype=torch.float64)
    D = groups.wigner_D("1o", R)
    assert D.dtype == torch.float64
    torch.testing.assert_close(D, R, **WIGNER_FLOAT64)
    D2 = groups.wigner_D("2e", R)
    # homomorphism: D(R1 R2) = D(R1) D(R2)
    torch.testing.assert_close(groups.wigner_D("2e", R[0] @ R[1]), D2[0] @ D2[1], **WIGNER_FLOAT64)
    assert torch.get_default_dtype() == torch.float32
    # parity
    torch.testing.assert_close(groups.wigner_D("1o", -R[0]), -R[0], **WIGNER_FLOAT64)
    torch.testing.assert_close(groups.wigner_D("2e", -R[0]), D2[0], **WIGNER_FLOAT64)


# rounding of a float64 product of a few 3x3 / (2l+1)x(2l+1) matrices of norm 1: a few ulps per
# entry and recursion step; 64 ulps leaves a margin for any BLAS and summation order
ULPS64 = 64 * torch.finfo(torch.float64).eps


def test_wigner_D_is_accurate_at_gimbal_lock():
    # half-turns and quarter-turns of the octahedral group sit at Euler beta in {0, pi}, where the
    # angle route (e3nn's D_from_matrix) loses ~1e-11 (and ~1e-8 at some Haar draws); the
    # Clebsch-Gordan recursion is polynomial in R and exact to rounding at every rotation
    G = groups.octahedral().to(torch.float64)
    R = groups.haar(200, generator=0, dtype=torch.float64)
    for ir in ("1o", "1e", "2e", "2o", "3o", "4e"):
        l, n = int(ir[0]), 2 * int(ir[0]) + 1
        for S in (G, R):
            D = groups.wigner_D(ir, S)
            eye = torch.eye(n, dtype=torch.float64).expand_as(D)
            torch.testing.assert_close(D @ D.transpose(-1, -2), eye, atol=(l + 1) * n * ULPS64, rtol=0)
        DG = groups.wigner_D(ir, G)
        prod = groups.wigner_D(ir, G[:, None] @ G[None, :])  # [24, 24, n, n]
        torch.testing.assert_close(prod, DG[:, None] @ DG[None, :], atol=(l + 1) * n * ULPS64, rtol=0)
    torch.testing.assert_close(groups.wigner_D("1o", G), G, atol=0, rtol=0)  # D^1o(R) = R, exactly
    torch.testing.assert_close(groups.wigner_D("1o", R), R, atol=0, rtol=0)


def test_wigner_D_is_in_e3nns_basis():
    from e3nn import o3

    from gdl.dtype import default_dtype

    # same basis and parity conventions as e3nn; the tolerance is the accuracy of e3nn's Euler-angle
    # route (measured up to 1e-7 in float64 at Haar draws: its D^1o(R) differs from R by 5e-8)
    R = groups.haar_o3(50, 1).to(torch.float64)  # with reflections
    irreps = "0e+0o+1o+1e+2e+2o+3o+4e"
    with default_dtype(torch.float64):
        ref = o3.Irreps(irreps).D_from_matrix(R)
    torch.testing.assert_close(groups.wigner_D(irreps, R), ref, atol=1e-6, rtol=0)
