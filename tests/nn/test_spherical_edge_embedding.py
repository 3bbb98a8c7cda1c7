import pytest
import torch
from e3nn import o3

from gdl.nn import BesselBasis, GaussianBasis, RadialEmbedding, SphericalEdgeEmbedding
from gdl.testing import assert_equivariant, edge


def test_values_and_normalisation():
    emb = SphericalEdgeEmbedding(3)
    assert str(emb.irreps_sh) == "1x0e+1x1o+1x2e+1x3o" and emb.parity and emb.l_max == 3
    vec = torch.randn(10, 3, dtype=torch.float64)
    sh, radial = emb(vec)
    assert sh.shape == (10, 16) and radial.shape == (10, 8)
    torch.testing.assert_close(sh[:, 0], torch.ones(10, dtype=torch.float64))  # Y^0 = 1
    torch.testing.assert_close(sh[:, 1:4], vec / vec.norm(dim=1, keepdim=True) * 3**0.5)  # (x, y, z)
    # "component" normalisation: |Y^l|^2 = 2l + 1
    torch.testing.assert_close(sh[:, 9:16].pow(2).sum(1), torch.full((10,), 7.0, dtype=torch.float64))


def test_equivariance_so3_labels_and_zero_vector():
    emb = SphericalEdgeEmbedding(2)
    vec = torch.randn(7, 3, dtype=torch.float64)
    assert_equivariant(emb, vec, in_types=edge("1o"), out_types=(edge("0e+1o+2e"), edge("invariant")))
    so3 = SphericalEdgeEmbedding("0e+1e+2e")
    assert not so3.parity
    torch.testing.assert_close(so3(vec)[0], emb(vec)[0])  # same numbers, different labels
    sh, _ = emb(torch.zeros(1, 3))
    assert torch.isfinite(sh).all() and sh[0, 1:].abs().max() == 0


def test_custom_radial_and_bad_arguments():
    emb = SphericalEdgeEmbedding(1, RadialEmbedding(GaussianBasis(5, 3.0)))
    assert emb.num_basis == 5
    with pytest.raises(TypeError, match="num_basis"):
        SphericalEdgeEmbedding(1, torch.nn.Identity())
    with pytest.raises(ValueError, match="mixes parities"):
        SphericalEdgeEmbedding("0e+1o+2o")
    with pytest.raises(ValueError, match="l_max must be an integer"):
        SphericalEdgeEmbedding(13)
    assert "irreps_sh=1x0e+1x1o" in repr(SphericalEdgeEmbedding(1, RadialEmbedding(BesselBasis(4))))
    assert o3.Irreps(SphericalEdgeEmbedding(0).irreps_sh) == o3.Irreps("0e")


def test_resolve_validates_precomputed_attributes():
    emb = SphericalEdgeEmbedding(1)
    pos = torch.randn(4, 3)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    sh, radial = emb.resolve(pos, edge_index)
    assert sh.shape == (3, 4) and radial.shape == (3, 8)
    with pytest.raises(ValueError, match=r"edge_sh must have shape \[3, 4\] for irreps_sh=1x0e\+1x1o"):
        emb.resolve(pos, edge_index, edge_sh=sh[:2], edge_radial=radial)


def test_same_function_as_e3nn_beyond_eps():
    # the guard changes nothing for edges longer than eps: e3nn's normalised harmonics, bit for bit
    emb = SphericalEdgeEmbedding(3, eps=1e-4)
    g = torch.Generator().manual_seed(0)
    vec = torch.randn(50, 3, generator=g, dtype=torch.float64)
    vec = vec * torch.logspace(-3.9, 2, 50, dtype=torch.float64).unsqueeze(1) / vec.norm(dim=1, keepdim=True)
    ref = o3.spherical_harmonics(list(range(4)), vec, normalize=True, normalization="component")
    assert torch.equal(emb.spherical_harmonics(vec), ref)


def test_smooth_damping_below_eps():
    eps = 1e-3
    emb = SphericalEdgeEmbedding(2, eps=eps)
    u = torch.tensor([[0.6, 0.0, 0.8]], dtype=torch.float64)
    full = emb.spherical_harmonics(u)
    for r in (0.25, 0.5, 0.9):
        t = r * r
        torch.testing.assert_close(emb.spherical_harmonics(r * eps * u)[:, 1:], full[:, 1:] * t * (2 - t))
    # continuous with a continuous derivative at r = eps: one-sided difference quotients agree
    f = lambda r: emb.spherical_harmonics(r * u)[0, 1:]  # noqa: E731
    h = eps * 1e-6
    inside, outside = (f(eps) - f(eps - h)) / h, (f(eps + h) - f(eps)) / h
    assert outside.abs().max() == 0  # Y(r / |r|) does not change along r
    # inside, the quotient is f'' h / 2 with |f''| <= 8 |Y| / eps^2: O(1e-5) of the scale 1/eps
    torch.testing.assert_close(inside, outside, atol=8 * 7**0.5 * h / eps**2, rtol=0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        SphericalEdgeEmbedding(1, eps=0.0)
    assert "eps=0.001" in repr(emb) and ", eps=" not in repr(SphericalEdgeEmbedding(1))


def test_gradient_is_bounded_at_a_zero_length_edge():
    # d(edge_sh)/d(edge_vec) at r = 0 and just inside eps: bounded (old code: ~1e12 at r = 0)
    emb = SphericalEdgeEmbedding(3)
    for r in (0.0, 0.5 * emb.eps):
        vec = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
        vec = (vec / vec.norm() * r).requires_grad_(True)
        J = torch.autograd.functional.jacobian(lambda v: emb(v)[0], vec)
        assert torch.isfinite(J).all() and J.abs().max() <= 10 / emb.eps
        if r == 0.0:
            assert J.abs().max() == 0  # damped quadratically: no direction, no gradient
