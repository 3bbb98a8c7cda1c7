import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups import anchor_permutation
from gdl.nn import SphereLiftingConv
from gdl.nn.conv._anchor_kernel import default_radial
from gdl.testing.data import random_molecule

from ._anchor_layers import (
    check_edge_vec,
    check_exact_permutation,
    check_gradcheck,
    check_joint_rotation_invariance,
    check_translation_and_permutation,
    relative,
)


def make_layer(vector_channels: int = 0) -> SphereLiftingConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return SphereLiftingConv(
            3, 5, vector_channels=vector_channels, radial=default_radial(4), radial_hidden=8
        ).double()


def node_features(n: int, anchors: torch.Tensor) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(n), dtype=torch.float64)


def unchanged(x, g, sigma):
    return x


def test_repr():
    assert repr(make_layer(1)).startswith("SphereLiftingConv(3, 5, vector_channels=1,")
    assert make_layer(1).lin_vec.in_features == 2  # [o.v, |v_perp|] per vector


def test_lifted_features_permute_exactly_for_the_icosahedron():
    check_exact_permutation(
        make_layer(), node_features, unchanged, groups.icosahedron_vertices(), groups.icosahedral()
    )


def test_vectors_enter_through_their_invariants_with_each_orientation():
    o, G = groups.icosahedron_vertices(), groups.icosahedral()
    layer = make_layer(vector_channels=2)
    data = random_molecule(6, seed=2)
    x = node_features(6, o)
    vec = torch.randn(6, 2, 3, dtype=torch.float64)
    with default_dtype(torch.float64):
        out = layer(x, data.pos, data.edge_index, anchors=o, vec=vec)
        for g in G[1:8]:
            sigma = anchor_permutation(g, o)
            got = layer(x, data.pos @ g.T, data.edge_index, anchors=o, vec=vec @ g.T)
            assert relative(got, out[:, sigma]) < 1e-12


def test_invariance_translation_permutation_edge_vec_gradcheck():
    o = groups.random_sphere(7, 1)
    check_joint_rotation_invariance(make_layer(), node_features, unchanged, o)
    check_translation_and_permutation(make_layer(), node_features(6, o), o, 6)
    check_edge_vec(make_layer(), node_features(6, o), o)
    check_gradcheck(make_layer(), node_features(3, o), o)


def test_bad_anchors():
    data = random_molecule(4, seed=0)
    with pytest.raises(ValueError, match=r"\[A, 3\] unit vectors for sphere anchors"):
        make_layer()(node_features(4, None), data.pos, data.edge_index, anchors=groups.octahedral())
