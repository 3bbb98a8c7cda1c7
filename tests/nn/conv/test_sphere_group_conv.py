import pytest
import torch

import gdl
from gdl import groups
from gdl.dtype import default_dtype
from gdl.nn import SphereGroupConv
from gdl.nn.conv._anchor_kernel import default_radial
from gdl.testing.data import random_molecule

from ._anchor_layers import (
    check_edge_vec,
    check_exact_permutation,
    check_gradcheck,
    check_joint_rotation_invariance,
    check_reset_parameters,
    check_translation_and_permutation,
)


def make_layer(c_in: int = 4, c_out: int = 5) -> SphereGroupConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return SphereGroupConv(c_in, c_out, radial=default_radial(4), radial_hidden=8).double()


def features(n: int, anchors: torch.Tensor, c: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, anchors.shape[0], c, generator=g, dtype=torch.float64)


def permute(f, g, sigma):
    return f[:, sigma]


def test_repr_and_reset():
    layer = make_layer()
    assert repr(layer) == "SphereGroupConv(4, 5, num_basis=4, cutoff=5.0, radial_hidden=8, aggr='sum')"
    assert layer.anchor_space == "sphere" and layer.num_point_invariants == 2
    check_reset_parameters(layer)


@pytest.mark.parametrize(
    "points,group",
    [
        (groups.icosahedron_vertices, groups.icosahedral),
        (lambda: groups.orbit(groups.octahedral(), torch.tensor([1.0, 1.0, 0.0])), groups.octahedral),
        (lambda: groups.orbit(groups.icosahedral(), torch.tensor([0.1, 0.3, 0.9])), groups.icosahedral),
    ],
    ids=["icosahedron12", "cuboctahedron12", "generic-orbit60"],
)
def test_exactly_permutes_anchors_for_an_orbit(points, group):
    check_exact_permutation(make_layer(), features, permute, points(), group())


def test_invariant_under_joint_rotation_of_input_and_anchors():
    check_joint_rotation_invariance(make_layer(), features, permute, groups.random_sphere(10, 1))


def test_translation_and_permutation():
    o = groups.fibonacci_sphere(8)
    check_translation_and_permutation(make_layer(), features(7, o), o, 7)


def test_edge_vec_and_gradcheck():
    o = groups.icosahedron_vertices()
    check_edge_vec(make_layer(), features(6, o), o)
    check_gradcheck(make_layer(), features(3, o[:4]), o[:4])


def test_invariants():
    layer = make_layer()
    o = groups.random_sphere(5, 0)
    inv = layer.anchor_invariants(o, o)
    assert inv.shape == (5, 5, 1)
    torch.testing.assert_close(inv[..., 0].diagonal(), torch.ones(5, dtype=torch.float64))
    r = torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64)
    z = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    # |r_perp| = sqrt(|r_perp|^2 + 1e-12): 1e-6 instead of 0 when parallel (finite gradient)
    torch.testing.assert_close(layer.point_invariants(r, z)[0], expected, atol=2e-6, rtol=0)


def test_bad_anchors():
    layer = make_layer()
    data = random_molecule(4, seed=0)
    with pytest.raises(ValueError, match=r"\[A, 3\] unit vectors for sphere anchors"):
        layer(
            torch.zeros(4, 24, 4, dtype=torch.float64), data.pos, data.edge_index, anchors=groups.octahedral()
        )
    o = groups.fibonacci_sphere(6) * 2
    with gdl.debug(), pytest.raises(ValueError, match="unit vectors"):  # a value check: under debug
        layer(torch.zeros(4, 6, 4, dtype=torch.float64), data.pos, data.edge_index, anchors=o)


@pytest.mark.slow
def test_compile_matches_eager():
    torch.manual_seed(0)
    layer = SphereGroupConv(4, 4, radial=default_radial(4), radial_hidden=8)
    data = random_molecule(6, seed=2, dtype=torch.float32)
    o = groups.icosahedron_vertices(torch.float32)
    f = torch.randn(6, 12, 4)
    eager = layer(f, data.pos, data.edge_index, o)
    compiled = torch.compile(layer, dynamic=True)(f, data.pos, data.edge_index, o)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-4)
