import pytest
import torch

from gdl.nn import EquivariantNorm
from gdl.testing import assert_equivariant, default_dtype


def test_equivariance_with_every_parity():
    with default_dtype(torch.float64):
        norm = EquivariantNorm("4x0e+3x0o+2x1o+3x1e+2x2e+1x3o")
        torch.nn.init.normal_(norm.weight)
        torch.nn.init.normal_(norm.bias)
    x = norm.irreps.randn(6, -1, dtype=torch.float64)
    assert_equivariant(norm, x, in_types=str(norm.irreps), out_types=str(norm.irreps), tol=1e-12)


def test_layer_norm_of_scalars_and_norms():
    norm = EquivariantNorm("5x0e+4x1o", act=lambda t: t).double()  # identity activation: pure layer norm
    x = norm.irreps.randn(3, -1, dtype=torch.float64)
    out = norm(x)
    scalars = out[:, :5]
    torch.testing.assert_close(scalars.mean(1), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(
        scalars.var(1, unbiased=False), torch.ones(3, dtype=torch.float64), rtol=1e-6, atol=0
    )
    vec_in, vec_out = x[:, 5:].reshape(3, 4, 3), out[:, 5:].reshape(3, 4, 3)
    n_in, n_out = vec_in.norm(dim=-1), vec_out.norm(dim=-1)
    # directions are kept, new norms are the layer-normalised old norms (sign flips allowed)
    cos = (vec_in * vec_out).sum(-1) / (n_in * n_out)
    torch.testing.assert_close(cos.abs(), torch.ones(3, 4, dtype=torch.float64))
    ln = (n_in - n_in.mean(1, keepdim=True)) / n_in.var(1, unbiased=False, keepdim=True).sqrt()
    torch.testing.assert_close(n_out, ln.abs(), rtol=1e-6, atol=1e-6)


def test_zero_features_stay_zero_and_finite_gradients():
    norm = EquivariantNorm("2x0e+3x1o")
    x = torch.zeros(2, 11, requires_grad=True)
    out = norm(x)
    assert out[:, 2:].abs().max() == 0
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_repr_and_bad_input():
    norm = EquivariantNorm("2x0e+1x1o")
    assert repr(norm) == "EquivariantNorm(2x0e+1x1o, act=silu, eps=1e-08)"
    with pytest.raises(ValueError, match=r"expects features \[..., 5\]"):
        norm(torch.zeros(2, 4))
