import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups import anchor_permutation
from gdl.nn import LiftingConv
from gdl.nn.conv._anchor_kernel import default_radial
from gdl.testing.data import random_molecule

from ._anchor_layers import (
    check_chunked_force_training,
    check_edge_vec,
    check_exact_permutation,
    check_gradcheck,
    check_joint_rotation_invariance,
    check_reset_parameters,
    check_translation_and_permutation,
    relative,
)


def make_layer(vector_channels: int = 0) -> LiftingConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return LiftingConv(
            3, 5, vector_channels=vector_channels, radial=default_radial(4), radial_hidden=8
        ).double()


def node_features(n: int, anchors: torch.Tensor) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(n), dtype=torch.float64)


def unchanged(x, g, sigma):
    return x


def test_repr_and_reset():
    layer = make_layer(vector_channels=2)
    assert repr(layer) == (
        "LiftingConv(3, 5, vector_channels=2, num_basis=4, cutoff=5.0, radial_hidden=8, aggr='sum')"
    )
    check_reset_parameters(layer)


@pytest.mark.parametrize("make", [groups.octahedral, groups.icosahedral], ids=["O24", "I60"])
def test_lifted_features_permute_exactly_as_the_group_acts_on_anchors(make):
    G = make()
    check_exact_permutation(make_layer(), node_features, unchanged, G, G)


@pytest.mark.parametrize("make", [groups.octahedral, groups.icosahedral], ids=["O24", "I60"])
def test_vectors_enter_in_each_anchor_frame(make):
    G = make()
    layer = make_layer(vector_channels=2)
    data = random_molecule(6, seed=2)
    x = node_features(6, G)
    vec = torch.randn(6, 2, 3, dtype=torch.float64)
    with default_dtype(torch.float64):
        out = layer(x, data.pos, data.edge_index, anchors=G, vec=vec)
        for g in G[1:8]:
            sigma = anchor_permutation(g, G)
            got = layer(x, data.pos @ g.T, data.edge_index, anchors=G, vec=vec @ g.T)
            assert relative(got, out[:, sigma]) < 1e-12
        # the vectors matter
        assert relative(layer(x, data.pos, data.edge_index, anchors=G, vec=2 * vec), out) > 1e-3


def test_invariant_under_joint_rotation_of_input_and_anchors():
    check_joint_rotation_invariance(
        make_layer(), node_features, unchanged, groups.haar(9, 1, dtype=torch.float64)
    )


def test_translation_and_permutation():
    R = groups.haar(5, 2, dtype=torch.float64)
    check_translation_and_permutation(make_layer(), node_features(7, R), R, 7)


def test_edge_vec_and_gradcheck():
    R = groups.octahedral()
    check_edge_vec(make_layer(), node_features(6, R), R)
    check_gradcheck(make_layer(), node_features(3, R), groups.haar(5, 0, dtype=torch.float64))


def test_bad_inputs():
    data = random_molecule(4, seed=0)
    R = groups.octahedral()
    x = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x must have shape \[N, 3\]"):
        make_layer()(torch.zeros(4, 2, dtype=torch.float64), data.pos, data.edge_index, anchors=R)
    with pytest.raises(ValueError, match="pass vec"):
        make_layer(vector_channels=1)(x, data.pos, data.edge_index, anchors=R)
    with pytest.raises(ValueError, match=r"vec must have shape \[4, 1, 3\]"):
        make_layer(vector_channels=1)(
            x, data.pos, data.edge_index, anchors=R, vec=torch.zeros(4, 3, dtype=torch.float64)
        )
    with pytest.raises(ValueError, match="vector_channels=0 but got vec"):
        make_layer()(x, data.pos, data.edge_index, anchors=R, vec=torch.zeros(4, 1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="empty"):
        make_layer()(x, data.pos, data.edge_index, anchors=torch.zeros(0, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="invalid sizes"):
        LiftingConv(3, 5, vector_channels=-1)
    with pytest.raises(TypeError, match="RadialEmbedding"):
        LiftingConv(3, 5, radial=torch.nn.Identity())


@pytest.mark.slow
def test_compile_matches_eager():
    torch.manual_seed(0)
    layer = LiftingConv(3, 4, vector_channels=1, radial=default_radial(4), radial_hidden=8)
    data = random_molecule(6, seed=2, dtype=torch.float32)
    R = groups.octahedral().float()
    x, vec = torch.randn(6, 3), torch.randn(6, 1, 3)
    eager = layer(x, data.pos, data.edge_index, anchors=R, vec=vec)
    compiled = torch.compile(layer, dynamic=True)(x, data.pos, data.edge_index, anchors=R, vec=vec)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 50])
def test_chunked_recomputed_messages_match_the_stored_ones(chunk):
    anchors = groups.octahedral()
    data = random_molecule(7, seed=5)
    x = node_features(7, anchors).requires_grad_(True)
    stored, chunked = make_layer(), make_layer()
    stored.edge_chunk, chunked.edge_chunk = None, chunk
    outs, grads = [], []
    for layer in (stored, chunked):
        out = layer(x, data.pos, data.edge_index, anchors=anchors)
        grads.append(torch.autograd.grad(out.pow(2).sum(), [x, *layer.parameters()]))
        outs.append(out)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_chunked_force_training_matches_the_stored_path():
    anchors = groups.octahedral()
    stored, chunked = make_layer(), make_layer()
    stored.edge_chunk, chunked.edge_chunk = None, 100
    check_chunked_force_training(stored, chunked, node_features(7, anchors), anchors)
