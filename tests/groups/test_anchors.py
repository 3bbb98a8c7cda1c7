import copy

import pytest
import torch

from gdl import groups
from gdl.groups import anchors as A
from gdl.testing import float64_atol

# --------------------------------------------------------------------------------------------
# bases, invariants, permutations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("irrep", ["0e", "1o", "2e", "1e", "3o"])
def test_anchor_basis_matches_wigner_D_on_O3(irrep):
    R = groups.haar_o3(16, 3, dtype=torch.float64)
    # two polynomial formulas in R (tensor contractions / Clebsch-Gordan recursion): rounding only
    tol = float64_atol(terms=27)
    torch.testing.assert_close(A.anchor_basis(R, irrep), groups.wigner_D(irrep, R), atol=tol, rtol=0)


def test_sphere_basis_is_a_unit_harmonic_that_rotates():
    o = groups.random_sphere(10, 1)
    g = groups.haar(1, 2, dtype=torch.float64)[0]
    for irrep in ("1o", "2e"):
        Y = A.anchor_basis(o, irrep)  # [A, d, 1]
        torch.testing.assert_close(Y.norm(dim=(1, 2)), torch.ones(10, dtype=torch.float64))
        # Y(g o) = D(g) Y(o)
        torch.testing.assert_close(A.anchor_basis(o @ g.T, irrep), groups.wigner_D(irrep, g) @ Y)
    with pytest.raises(ValueError, match="sphere anchors give readouts of type 0e, 1o and 2e"):
        A.anchor_basis(o, "3o")


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


# --------------------------------------------------------------------------------------------
# which degrees an anchor set resolves
# --------------------------------------------------------------------------------------------
# first degree each finite group cannot resolve: the lowest l whose D^l has an invariant vector
FIRST_UNRESOLVED = [
    ("C4", lambda: groups.cyclic(4), 1),
    ("D3", lambda: groups.dihedral(3), 2),
    ("T", groups.tetrahedral, 3),
    ("O", groups.octahedral, 4),
    ("I", groups.icosahedral, 6),
]


@pytest.mark.parametrize("name,make,first_bad", FIRST_UNRESOLVED, ids=[c[0] for c in FIRST_UNRESOLVED])
def test_finite_groups_resolve_degrees_below_their_first_invariant(name, make, first_bad):
    anchors = A.GroupAnchors(make())
    for l in range(1, first_bad):
        assert anchors.resolves(f"{l}e"), l
        assert anchors.bias(f"{l}e") < 1e-12
    assert not anchors.resolves(f"{first_bad}e")
    assert anchors.bias(f"{first_bad}e") == pytest.approx(1.0)


def test_check_degree_errors_name_the_problem():
    with pytest.raises(
        ValueError, match=r"GroupAnchors\(order=4\) cannot resolve target 'mu' of type 1o.*2 of the 3"
    ):
        A.GroupAnchors(groups.cyclic(4)).check_degree("1o", what="target 'mu'")
    # too few anchors
    with pytest.raises(ValueError, match="cannot resolve a readout of type 2e"):
        A.FixedAnchors(groups.haar(2, 0, dtype=torch.float64)).check_degree("2e")
    with pytest.raises(ValueError, match="1 of the 3|0 of the 3"):
        A.FixedAnchors(torch.eye(3, dtype=torch.float64)[None]).check_degree("1o")
    # the octahedron's 6 vertices span only the diagonal 2e components; the cuboctahedron spans all
    octa = A.SphereAnchors.orbit(groups.octahedral(), (1.0, 0.0, 0.0))
    assert octa.num_anchors == 6 and octa.resolves("1o") and A.anchor_rank(octa.reference(), "2e") == 2
    with pytest.raises(ValueError, match="spans only 2 of the 5"):
        octa.check_degree("2e")
    assert A.SphereAnchors.orbit(groups.octahedral(), (1.0, 1.0, 0.0)).resolves("2e")
    assert A.SphereAnchors.icosahedron().resolves("2e")
    # redrawn sets: checked on a representative draw; A - 1 >= 2l + 1 points are needed on the sphere
    assert not A.UniformSphereAnchors(5).resolves("2e")
    assert A.UniformSphereAnchors(6).resolves("2e")
    assert A.HaarAnchors(3).resolves("2e") and not A.HaarAnchors(2).resolves("1o")
    # random and quasi-random sets of the sizes used in the anchor-count tests resolve 0e, 1o, 2e
    for anchors in (A.RandomAnchors(12), A.SuperFibonacciAnchors(12)):
        assert all(anchors.resolves(ir) for ir in ("0e", "1o", "2e"))


# --------------------------------------------------------------------------------------------
# providers
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# least-squares Fourier weights
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("irrep", ["1o", "2e"])
def test_fourier_weights_are_plain_quadrature_on_an_exact_design(irrep):
    # a least-squares solve (eigh of the 34 x 34 Gram matrix, condition fourier_condition) on sums
    # over the anchors
    for S in (groups.icosahedral(), groups.icosahedron_vertices()):
        Q = A.anchor_basis(S, irrep) / S.shape[0]
        tol = float64_atol(float(Q.abs().max()), cond=A.fourier_condition(S, irrep), terms=34 * S.shape[0])
        torch.testing.assert_close(A.fourier_weights(S, irrep), Q, atol=tol, rtol=0)


def _band_limited(R: torch.Tensor, coef: dict[str, torch.Tensor]) -> torch.Tensor:
    """u(R) = sum over degrees of <c_l, D^l(R)>: ``[A, k]`` with k output channels."""
    return sum(torch.einsum("amn,mnk->ak", A.anchor_basis(R, ir), c) for ir, c in coef.items())


def test_fourier_weights_integrate_band_limited_signals_exactly_on_random_anchors():
    # on 40 random anchors (>= 35 basis functions of degrees 0..2), the transform of a signal of
    # degree <= 2 equals its Haar integral exactly; plain quadrature does not
    g = torch.Generator().manual_seed(0)
    coef = {
        ir: torch.randn(2 * l + 1, 2 * l + 1, 2 * l + 1, generator=g, dtype=torch.float64)
        for ir, l in (("0e", 0), ("1o", 1), ("2e", 2))
    }
    coef["0e"] = torch.randn(1, 1, 5, generator=g, dtype=torch.float64)
    R = groups.haar(40, 1, dtype=torch.float64)
    for ir, l in (("1o", 1), ("2e", 2)):
        d = 2 * l + 1
        u = _band_limited(R, {"0e": coef["0e"][..., :d], ir: coef[ir]})  # [A, d]
        exact = torch.einsum("mnn->m", coef[ir]) / d  # Schur orthogonality: int D_mn D_pq = delta / d
        torch.testing.assert_close(torch.einsum("amn,an->m", A.fourier_weights(R, ir), u), exact)
        plain = torch.einsum("amn,an->m", A.anchor_basis(R, ir) / 40, u)
        assert (plain - exact).norm() > 1e-2 * exact.norm()
    with pytest.raises(ValueError, match="l >= 1"):
        A.fourier_weights(R, "0e")


def test_fourier_weights_remove_the_anchor_mean_and_rotate_with_the_anchors():
    R = groups.haar(12, 2, dtype=torch.float64)  # fewer anchors than basis functions: min-norm fit
    g = groups.haar(1, 3, dtype=torch.float64)[0]
    for ir in ("1o", "2e"):
        W = A.fourier_weights(R, ir)
        tol = float64_atol(float(W.abs().max()), cond=A.fourier_condition(R, ir), terms=34 * 12)
        assert W.sum(0).abs().max() < tol  # constants are annihilated
        D = groups.wigner_D(ir, g)
        torch.testing.assert_close(A.fourier_weights(g @ R, ir), D @ W, atol=tol, rtol=0)


@pytest.mark.parametrize("irrep", ["1o", "2e"])
def test_fourier_weights_are_continuous_next_to_a_rank_deficient_group(irrep):
    # octahedral anchors do not resolve every degree-1/2 basis function: their design is rank
    # deficient, and a hard pseudo-inverse would amplify the 1e-6 singular values of a nearby design
    G = A.GroupAnchors.named("octahedral")(torch.float64, "cpu")
    moved = (
        groups.exp(1e-6 * torch.randn(24, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
        @ G
    )
    w0, w1 = A.fourier_weights(G, irrep), A.fourier_weights(moved, irrep)
    assert (w1 - w0).abs().max() < 1e-6  # a hard pseudo-inverse gives O(1e3) here
    assert w1.abs().max() < 1.0


@pytest.mark.parametrize(
    "group,irrep,gains",
    [
        ("icosahedral", "1o", [1.0] * 3),
        ("icosahedral", "2e", [1.0] * 5),
        ("octahedral", "1o", [1.0] * 3),
        ("octahedral", "2e", [0.4, 0.4, 0.6, 0.6, 0.6]),  # D^2 = E + T2 on O: 2/5 and 3/5
        ("cube_group", "2e", [0.4, 0.4, 0.6, 0.6, 0.6]),
        ("tetrahedral", "1o", [0.375] * 3),  # T shared by D^1 and D^2: 3 / (3 + 5)
        ("tetrahedral", "2e", [0.2, 0.2, 0.375, 0.375, 0.375]),  # E = two complex 1-d pieces: 1/5
    ],
)
def test_fourier_weights_on_a_finite_group_are_quadrature_times_a_gain_per_irreducible_piece(
    group, irrep, gains
):
    # W_a = M B_l(a) / A with M equivariant and eigenvalues d_rho / sum(2l' + 1) (fourier_weights)
    G = getattr(groups, group)().to(torch.float64)
    W, Q = A.fourier_weights(G, irrep), A.anchor_basis(G, irrep) / G.shape[0]
    d = W.shape[1]
    Qs, Ws = Q.permute(1, 0, 2).reshape(d, -1), W.permute(1, 0, 2).reshape(d, -1)
    M = Ws @ torch.linalg.pinv(Qs)
    tol = float64_atol(1.0, cond=2.5, terms=G.shape[0] * d)
    torch.testing.assert_close(M @ Qs, Ws, atol=tol, rtol=0)  # a fixed map on the output side
    D = groups.wigner_D(irrep, G)
    torch.testing.assert_close(D @ M, M @ D, atol=tol, rtol=0)  # which commutes with the group
    torch.testing.assert_close(torch.linalg.eigvalsh((M + M.T) / 2), torch.tensor(gains, dtype=torch.float64))
    if gains != [1.0] * d:  # where the pieces have gains != 1, quadrature is another function
        assert (W - Q).abs().max() > 0.1 * Q.abs().max()
