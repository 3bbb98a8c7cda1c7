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
