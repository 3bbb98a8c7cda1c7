import pytest
import torch

from gdl.nn import RadialMLP


def test_shapes_no_bias_and_vanishing_at_zero_input():
    mlp = RadialMLP(8, 30, hidden_channels=16, num_layers=3)
    assert [tuple(w.shape) for w in mlp.weights] == [(8, 16), (16, 16), (16, 30)]
    assert mlp(torch.randn(5, 8)).shape == (5, 30)
    # no biases and act(0) = 0: a radial embedding that vanishes at the cutoff gives zero weights there
    assert torch.equal(mlp(torch.zeros(2, 8)), torch.zeros(2, 30))


def test_unit_variance_initialisation():
    torch.manual_seed(0)
    mlp = RadialMLP(16, 64, hidden_channels=128, num_layers=3)
    out = mlp(torch.randn(4000, 16))
    assert 0.5 < out.var().item() < 2.0


def test_single_layer_is_linear_and_reset_and_errors():
    mlp = RadialMLP(4, 3, num_layers=1)
    x = torch.randn(6, 4)
    torch.testing.assert_close(mlp(2 * x), 2 * mlp(x))
    before = mlp.weights[0].detach().clone()
    mlp.reset_parameters()
    assert not torch.equal(before, mlp.weights[0])
    assert repr(mlp) == "RadialMLP(4 -> 3, hidden_channels=64, num_layers=1)"
    with pytest.raises(ValueError, match="sizes must be >= 1"):
        RadialMLP(4, 0)
