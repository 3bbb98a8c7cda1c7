import math

import pytest
import torch

from gdl.nn import BesselBasis, CosineCutoff, GaussianBasis, PolynomialCutoff, RadialEmbedding


def test_bessel_matches_formula_and_is_finite_at_zero():
    b = BesselBasis(4, cutoff=5.0)
    d = torch.tensor([0.0, 0.5, 2.0, 4.9], dtype=torch.float64)
    out = b(d)
    n = torch.arange(1, 5, dtype=torch.float64)
    ref = math.sqrt(2 / 5.0) * torch.sin(n * math.pi * d[1:, None] / 5.0) / d[1:, None]
    torch.testing.assert_close(out[1:], ref)
    torch.testing.assert_close(out[0], math.sqrt(2 / 5.0) * n * math.pi / 5.0)
    d0 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b(d0).sum().backward()
    assert torch.isfinite(d0.grad).all()


def test_gaussian_basis():
    g = GaussianBasis(5, cutoff=4.0)
    out = g(torch.tensor([0.0, 1.0, 4.0]))
    assert out.shape == (3, 5)
    assert out[0, 0] == 1.0 and out[1, 1] == pytest.approx(1.0) and out[2, 4] == 1.0


@pytest.mark.parametrize("cut", [CosineCutoff(3.0), PolynomialCutoff(3.0, p=6)])
def test_cutoffs_go_smoothly_to_zero(cut):
    d = torch.linspace(0, 4, 401, dtype=torch.float64, requires_grad=True)
    u = cut(d)
    assert u[0].item() == pytest.approx(1.0)
    assert (u[d > 3.0] == 0).all()
    (g,) = torch.autograd.grad(u.sum(), d)
    near = (d > 2.97) & (d < 3.0)
    assert u[near].abs().max() < 1e-3 and g[near].abs().max() < 0.1
    assert (u[1:] <= u[:-1] + 1e-12).all()  # monotone


def test_radial_embedding_and_repr():
    e = RadialEmbedding(BesselBasis(6, 5.0), PolynomialCutoff(5.0))
    assert e(torch.rand(10) * 6).shape == (10, 6) and e.out_dim == 6
    assert e(torch.tensor([5.5])).abs().max() == 0
    assert "BesselBasis(num_basis=6" in repr(e)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        BesselBasis(0)
    with pytest.raises(ValueError):
        GaussianBasis(4, cutoff=0.0)
    with pytest.raises(ValueError):
        PolynomialCutoff(-1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gaussian_tails_are_exact_zeros_not_subnormals(dtype):
    d = torch.linspace(0.0, 6.0, 2001, dtype=dtype, requires_grad=True)
    exact = GaussianBasis(50, 5.0)(d)
    plain = GaussianBasis(50, 5.0, exact_zero_tails=False)(d)
    tiny = torch.finfo(dtype).tiny
    subnormal = (plain > 0) & (plain < tiny)
    if dtype == torch.float32:
        assert subnormal.float().mean() > 0.01  # what the plain basis produces on [0, 6]
    assert not ((exact > 0) & (exact < tiny)).any()
    # equal wherever the value is normal, zero (and within tiny of the plain value) elsewhere
    keep = plain >= tiny
    assert torch.equal(exact[keep], plain[keep])
    assert (exact[~keep] == 0).all() and (plain[~keep] < tiny).all()
    # gradients: finite, equal where the value is normal
    (g_exact,) = torch.autograd.grad(exact.sum(), d)
    (g_plain,) = torch.autograd.grad(plain.sum(), d)
    assert torch.isfinite(g_exact).all()
    torch.testing.assert_close(g_exact, g_plain, atol=1e3 * tiny, rtol=1e-6)
    assert "exact_zero_tails=False" in repr(GaussianBasis(4, exact_zero_tails=False))
