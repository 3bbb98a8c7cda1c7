"""Fourier analysis on anchors: readout bases, resolved degrees, least-squares weights."""

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
