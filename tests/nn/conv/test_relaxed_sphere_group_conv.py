import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.nn import RelaxedSphereGroupConv, SphereGroupConv
from gdl.nn.conv._anchor_kernel import default_radial
from gdl.testing.data import random_molecule

from ._anchor_layers import check_exact_permutation, relative

O = groups.icosahedron_vertices()
G = groups.icosahedral()


def make_layer(relax: float = 0.0) -> RelaxedSphereGroupConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        layer = RelaxedSphereGroupConv(
            4, 5, num_anchors=12, radial=default_radial(4), radial_hidden=8
        ).double()
    with torch.no_grad():
        layer.relaxed_weights.add_(relax * torch.randn(12, 2, dtype=torch.float64))
    return layer


def features(n: int, anchors: torch.Tensor, c: int = 4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(n)
    return torch.randn(n, anchors.shape[0], c, generator=gen, dtype=torch.float64)


def permute(f, g, sigma):
    return f[:, sigma]


def test_repr_and_sphere_invariants():
    layer = make_layer()
    assert repr(layer).startswith("RelaxedSphereGroupConv(4, 5, num_anchors=12, num_kernels=2")
    assert isinstance(layer, SphereGroupConv) and layer.anchor_space == "sphere"
    assert layer.num_anchor_invariants == 1


def test_exact_at_zero_relaxation_and_not_when_relaxed():
    check_exact_permutation(make_layer(), features, permute, O, G)
    layer = make_layer(relax=0.1)
    data = random_molecule(7, seed=3)
    f = features(7, O)
    with default_dtype(torch.float64):
        out = layer(f, data.pos, data.edge_index, anchors=O)
        g = G[7]
        sigma = groups.anchor_permutation(g, O)
        got = layer(f[:, sigma], data.pos @ g.T, data.edge_index, anchors=O)
    assert relative(got, out[:, sigma]) > 1e-4


def test_from_sphere_conv():
    torch.manual_seed(2)
    with default_dtype(torch.float64):
        conv = SphereGroupConv(4, 5, radial=default_radial(4), radial_hidden=8).double()
        relaxed = RelaxedSphereGroupConv.from_conv(conv, num_anchors=12)
        data = random_molecule(6, seed=1)
        f = features(6, O)
        ref = conv(f, data.pos, data.edge_index, anchors=O)
        torch.testing.assert_close(relaxed(f, data.pos, data.edge_index, anchors=O), ref)
