import pytest
import torch

import gdl
from gdl import groups
from gdl.dtype import default_dtype
from gdl.nn import GroupConv
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
    rotate_anchors,
)


def make_layer(c_in: int = 4, c_out: int = 5) -> GroupConv:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return GroupConv(c_in, c_out, radial=default_radial(4), radial_hidden=8).double()


def features(n: int, anchors: torch.Tensor, c: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, anchors.shape[0], c, generator=g, dtype=torch.float64)


def permute(f, g, sigma):
    return f[:, sigma]


def test_repr_and_reset():
    layer = make_layer()
    assert repr(layer) == "GroupConv(4, 5, num_basis=4, cutoff=5.0, radial_hidden=8, aggr='sum')"
    check_reset_parameters(layer)


@pytest.mark.parametrize("make", [groups.octahedral, groups.icosahedral], ids=["O24", "I60"])
def test_exactly_permutes_anchors_for_a_group(make):
    G = make()
    check_exact_permutation(make_layer(), features, permute, G, G)


def test_invariant_under_joint_rotation_of_input_and_anchors():
    check_joint_rotation_invariance(make_layer(), features, permute, groups.haar(10, 1, dtype=torch.float64))


def test_translation_and_permutation():
    R = groups.haar(6, 2, dtype=torch.float64)
    check_translation_and_permutation(make_layer(), features(7, R), R, 7)


def test_edge_vec():
    R = groups.octahedral()
    check_edge_vec(make_layer(), features(6, R), R)


def test_gradcheck():
    R = groups.haar(4, 3, dtype=torch.float64)
    check_gradcheck(make_layer(), features(3, R), R)


def test_anchors_out_maps_between_anchor_sets():
    layer = make_layer()
    data = random_molecule(6, seed=1)
    R_in, R_out = groups.haar(8, 1, dtype=torch.float64), groups.haar(5, 2, dtype=torch.float64)
    f = features(6, R_in)
    with default_dtype(torch.float64):
        out = layer(f, data.pos, data.edge_index, anchors=R_in, anchors_out=R_out)
        assert out.shape == (6, 5, 5)
        torch.testing.assert_close(
            layer(f, data.pos, data.edge_index, anchors=R_in, anchors_out=R_in),
            layer(f, data.pos, data.edge_index, anchors=R_in),
        )
        g = groups.haar(1, 9, dtype=torch.float64)[0]
        rotated = layer(
            f,
            data.pos @ g.T,
            data.edge_index,
            anchors=rotate_anchors(R_in, g),
            anchors_out=rotate_anchors(R_out, g),
        )
        assert relative(rotated, out) < 1e-12


def test_float32_and_differentiable_anchors():
    torch.manual_seed(0)
    layer = GroupConv(4, 4, radial=default_radial(4), radial_hidden=8)
    data = random_molecule(5, seed=2, dtype=torch.float32)
    R = groups.haar(6, 0, dtype=torch.float32).requires_grad_(True)
    out = layer(torch.randn(5, 6, 4), data.pos, data.edge_index, anchors=R)
    assert out.dtype == torch.float32
    out.square().sum().backward()
    assert R.grad is not None and torch.isfinite(R.grad).all()  # anchors may come from a learned provider


def test_bad_inputs():
    layer = make_layer()
    data = random_molecule(5, seed=0)
    R = groups.octahedral()
    with pytest.raises(ValueError, match=r"x must have shape \[N=5, A, in_channels=4\], got \(5, 24, 3\)"):
        layer(torch.zeros(5, 24, 3, dtype=torch.float64), data.pos, data.edge_index, anchors=R)
    with pytest.raises(ValueError, match="x has 12 anchors .* `anchors` has 24"):
        layer(torch.zeros(5, 12, 4, dtype=torch.float64), data.pos, data.edge_index, anchors=R)
    # value checks (rotations, edge_index bounds) synchronise: only under gdl.debug()
    layer(torch.zeros(5, 24, 4, dtype=torch.float64), data.pos, data.edge_index, anchors=R * 2)
    with gdl.debug(), pytest.raises(ValueError, match="orthogonal"):
        layer(torch.zeros(5, 24, 4, dtype=torch.float64), data.pos, data.edge_index, anchors=R * 2)
    with pytest.raises(ValueError, match=r"\[A, 3, 3\] rotations for so3 anchors"):
        layer(
            torch.zeros(5, 6, 4, dtype=torch.float64),
            data.pos,
            data.edge_index,
            anchors=groups.octahedron_vertices(),
        )
    with gdl.debug(), pytest.raises(ValueError, match="edge_index has entries in"):
        layer(torch.zeros(5, 24, 4, dtype=torch.float64), data.pos, data.edge_index + 3, anchors=R)
    with pytest.raises(ValueError, match="must be >= 1"):
        GroupConv(0, 4)
    with pytest.raises(ValueError, match="aggr"):
        GroupConv(4, 4, aggr="mul")


def test_inside_a_plain_pyg_model_with_knn_graph():
    from torch_cluster import knn_graph

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GroupConv(3, 8, radial=default_radial(8, 3.0))
            self.conv2 = GroupConv(8, 2, radial=default_radial(8, 3.0))

        def forward(self, f, pos, edge_index, anchors):
            h = torch.relu(self.conv1(f, pos, edge_index, anchors=anchors))
            return self.conv2(h, pos, edge_index, anchors=anchors).mean(dim=1)  # pool over anchors: invariant

    pos = torch.randn(30, 3)
    edge_index = knn_graph(pos, k=6)
    R = groups.octahedral().float()
    f = torch.randn(30, 1, 3).expand(30, 24, 3)  # invariant node features, constant over anchors
    net = Net()
    out = net(f, pos, edge_index, anchors=R)
    assert out.shape == (30, 2)
    g = R[5]
    torch.testing.assert_close(net(f, pos @ g.T, edge_index, anchors=R), out, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_compile_matches_eager():
    torch.manual_seed(0)
    layer = GroupConv(4, 4, radial=default_radial(4), radial_hidden=8)
    data = random_molecule(6, seed=2, dtype=torch.float32)
    R = groups.octahedral().float()
    f = torch.randn(6, 24, 4)
    eager = layer(f, data.pos, data.edge_index, anchors=R)
    compiled = torch.compile(layer, dynamic=True)(f, data.pos, data.edge_index, anchors=R)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 13, 200])
def test_chunked_recomputed_messages_match_the_stored_ones(chunk):
    anchors = groups.octahedral()
    data = random_molecule(7, seed=5)
    f = features(7, anchors).requires_grad_(True)
    stored, chunked = make_layer(), make_layer()
    stored.edge_chunk, chunked.edge_chunk = None, chunk  # chunk: (edge, anchor) pairs per chunk
    outs, grads = [], []
    for layer in (stored, chunked):
        out = layer(f, data.pos, data.edge_index, anchors=anchors)
        grads.append(torch.autograd.grad(out.pow(2).sum(), [f, *layer.parameters()]))
        outs.append(out)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert "edge_chunk=13" in repr(make_layer().__class__(4, 5, edge_chunk=13))
    with pytest.raises(ValueError, match="edge_chunk must be >= 1 or None"):
        GroupConv(4, 5, edge_chunk=0)


def test_chunked_force_training_matches_the_stored_path():
    anchors = groups.octahedral()
    stored, chunked = make_layer(), make_layer()
    stored.edge_chunk, chunked.edge_chunk = None, 100
    check_chunked_force_training(stored, chunked, features(7, anchors), anchors)
