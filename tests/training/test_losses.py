import pytest
import torch

from gdl.groups import haar_o3, wigner_D
from gdl.training.losses import irreps_blocks, typed_loss


def test_scalar_losses_are_the_usual_ones():
    p, t = torch.tensor([[1.0], [2.0], [-1.0]]), torch.tensor([[0.0], [4.0], [-1.5]])
    assert typed_loss(p, t, "0e", "mse").item() == pytest.approx((1 + 4 + 0.25) / 3)
    assert typed_loss(p, t, "0e", "l1").item() == pytest.approx((1 + 2 + 0.5) / 3)


def test_vector_losses_use_the_norm_of_the_error():
    p, t = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]), torch.zeros(2, 3)
    assert typed_loss(p, t, "1o", "mse").item() == pytest.approx((25 + 1) / 2)
    assert typed_loss(p, t, "1o", "l1").item() == pytest.approx((5 + 1) / 2)


@pytest.mark.parametrize("irreps", ["0e", "1o", "2e", "2x0e+1o+2e"])
@pytest.mark.parametrize("kind", ["mse", "l1"])
def test_losses_are_rotation_and_reflection_invariant(irreps, kind):
    g = torch.Generator().manual_seed(0)
    dim = sum(m * d for _, m, d in irreps_blocks(irreps))
    p, t = (
        torch.randn(7, dim, generator=g, dtype=torch.float64),
        torch.randn(7, dim, generator=g, dtype=torch.float64),
    )
    for R in haar_o3(3, g, dtype=torch.float64):
        D = wigner_D(irreps, R)
        torch.testing.assert_close(typed_loss(p @ D.T, t @ D.T, irreps, kind), typed_loss(p, t, irreps, kind))


def test_l1_gradient_is_finite_at_zero_error():
    p = torch.zeros(2, 3, requires_grad=True)
    typed_loss(p, torch.zeros(2, 3), "1o", "l1").backward()
    assert torch.isfinite(p.grad).all()


def test_bad_input():
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        typed_loss(torch.zeros(1, 1), torch.zeros(1, 1), "0e", "huber")
    with pytest.raises(ValueError, match=r"\[R, 3\]"):
        typed_loss(torch.zeros(2, 1), torch.zeros(2, 1), "1o")
