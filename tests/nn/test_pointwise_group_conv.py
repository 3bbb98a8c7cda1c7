"""PointwiseGroupConv: the formula, the joint-rotation law at any anchors, independence of the anchor
numbering, exact permutation on a finite group, bad input."""

import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups import anchor_permutation, haar
from gdl.nn import PointwiseGroupConv


def _layer(c_in=5, c_out=4) -> PointwiseGroupConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return PointwiseGroupConv(c_in, c_out, kernel_channels=6)


def _shrunk(R: torch.Tensor, scale: float) -> torch.Tensor:
    return groups.so3.exp(scale * groups.so3.log(R))


def _features(n, a, c, seed=0):
    return torch.randn(n, a, c, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_matches_the_formula():
    layer = _layer()
    R_in, R_out = haar(7, 1, dtype=torch.float64), haar(5, 2, dtype=torch.float64)
    f = _features(3, 7, 5)
    out = layer(f, R_in, R_out)
    assert out.shape == (3, 5, 4)
    want = torch.zeros(3, 5, 4, dtype=torch.float64)
    for a in range(5):
        for b in range(7):
            kappa = layer.kernel((R_out[a].T @ R_in[b]).reshape(9))
            want[:, a] += layer.lin(kappa * f[:, b]) / 7
    torch.testing.assert_close(out, want, atol=1e-12, rtol=1e-10)


def test_left_multiplying_both_anchor_sets_leaves_the_output_unchanged():
    # the law the stage-to-stage shortcut must obey, at anchors not closed under any group
    # (octahedral rotations shrunk to theta = 0.4 pi and 0.7 pi)
    layer = _layer()
    G = groups.octahedral()
    R_in, R_out = _shrunk(G, 0.4), _shrunk(G, 0.7)
    f = _features(4, 24, 5)
    out = layer(f, R_in, R_out)
    for g in haar(4, 3, dtype=torch.float64):
        torch.testing.assert_close(layer(f, g @ R_in, g @ R_out), out, atol=1e-12, rtol=1e-10)
    assert (layer(f, R_in @ haar(1, 4, dtype=torch.float64)[0], R_out) - out).abs().max() > 1e-3


def test_does_not_depend_on_the_anchor_numbering():
    layer = _layer()
    R_in, R_out = haar(9, 5, dtype=torch.float64), haar(6, 6, dtype=torch.float64)
    f = _features(3, 9, 5)
    out = layer(f, R_in, R_out)
    p_in, p_out = torch.randperm(9), torch.randperm(6)
    got = layer(f[:, p_in], R_in[p_in], R_out[p_out])
    torch.testing.assert_close(got, out[:, p_out], atol=1e-12, rtol=1e-10)


def test_exactly_permuted_on_a_finite_group_listed_in_two_orders():
    # input anchors G, output anchors G in another order: a group element permutes both sets, and
    # the output is permuted exactly as the features over the output anchors must be
    layer = _layer()
    G = groups.octahedral()
    G_out = G[torch.randperm(24, generator=torch.Generator().manual_seed(2))]
    f = _features(3, 24, 5)
    out = layer(f, G, G_out)
    for g in G[1:6]:
        sigma_in, sigma_out = anchor_permutation(g, G), anchor_permutation(g, G_out)
        torch.testing.assert_close(layer(f[:, sigma_in], G, G_out), out[:, sigma_out], atol=1e-12, rtol=1e-10)


def test_gradients_and_bad_input():
    layer = _layer()
    R = haar(4, 0, dtype=torch.float64)
    f = _features(2, 4, 5).requires_grad_(True)
    layer(f, R, R).pow(2).sum().backward()
    assert torch.isfinite(f.grad).all() and all(p.grad.abs().max() > 0 for p in layer.parameters())
    with pytest.raises(ValueError, match=r"x must have shape \[N, B, in_channels=5\]"):
        layer(torch.zeros(2, 4, 3, dtype=torch.float64), R, R)
    with pytest.raises(ValueError, match="x has 4 anchors .* but `anchors` has 3"):
        layer(f, R[:3], R)
    with pytest.raises(ValueError, match="anchors_out must be"):
        layer(f, R, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="must be >= 1"):
        PointwiseGroupConv(0, 4)
    assert repr(layer) == "PointwiseGroupConv(5, 4, kernel_channels=6)"
