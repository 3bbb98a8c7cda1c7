"""Checks shared by the tests of the anchor layers (LiftingConv, GroupConv and their sphere variants).

A layer is called as ``layer(inp, pos, edge_index, anchors=anchors, **kw)``; ``make_input(n, anchors)``
builds ``inp`` (node features for liftings, ``[N, A, C]`` features for convolutions) and
``rotate_input(inp, g, sigma)`` how the input transforms under a rotation ``g`` that permutes the
anchors by ``sigma``.
"""

from __future__ import annotations

import torch

from gdl.dtype import default_dtype
from gdl.groups import anchor_permutation, haar
from gdl.testing import assert_equivariant
from gdl.testing.data import random_molecule


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / max(float(a.norm()), float(b.norm()), 1e-300))


def rotate_anchors(anchors: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``g R_a`` (so3) or ``g o_a`` (sphere)."""
    return g @ anchors if anchors.dim() == 3 else anchors @ g.T


def check_exact_permutation(
    layer, make_input, rotate_input, anchors: torch.Tensor, group: torch.Tensor, n: int = 7
):
    """Rotating the input by g in the anchor group permutes the output over anchors exactly."""
    with default_dtype(torch.float64):
        data = random_molecule(n, seed=3)
        inp = make_input(n, anchors)
        out = layer(inp, data.pos, data.edge_index, anchors=anchors)
        assert out.shape[:2] == (n, anchors.shape[0])
        for g in group[1:8]:
            sigma = anchor_permutation(g, anchors)
            got = layer(rotate_input(inp, g, sigma), data.pos @ g.T, data.edge_index, anchors=anchors)
            assert relative(got, out[:, sigma]) < 1e-12, relative(got, out[:, sigma])


def check_joint_rotation_invariance(layer, make_input, rotate_input, anchors: torch.Tensor, n: int = 6):
    """For any anchors, rotating the input and the anchors together leaves the output unchanged."""
    with default_dtype(torch.float64):
        data = random_molecule(n, seed=4)
        inp = make_input(n, anchors)
        out = layer(inp, data.pos, data.edge_index, anchors=anchors)
        for g in haar(3, 7, dtype=torch.float64):
            identity = torch.arange(anchors.shape[0])
            got = layer(
                rotate_input(inp, g, identity),
                data.pos @ g.T,
                data.edge_index,
                anchors=rotate_anchors(anchors, g),
            )
            assert relative(got, out) < 1e-12


def check_translation_and_permutation(layer, inp, anchors: torch.Tensor, n: int, inp_rep: str = "invariant"):
    """Translation invariance and node-permutation equivariance with the gdl checker (no rotations:
    the anchors stay fixed, so rotations permute anchors and are tested separately)."""
    data = random_molecule(n, seed=5)
    inputs = {"inp": inp, "pos": data.pos, "edge_index": data.edge_index, "anchors": anchors}
    assert_equivariant(
        lambda inp, pos, edge_index, anchors: layer(inp, pos, edge_index, anchors=anchors),
        inputs,
        in_types={"inp": ("node", inp_rep), "anchors": ("graph", "invariant")},
        out_types=("node", "invariant"),
        group=torch.eye(3, dtype=torch.float64)[None],
    )


def check_edge_vec(layer, inp, anchors: torch.Tensor, n: int = 6):
    """Given ``edge_vec`` replaces ``pos[j] - pos[i]`` (minimum image in a periodic box): shifting a
    node by a box vector while keeping ``edge_vec`` leaves the output unchanged."""
    with default_dtype(torch.float64):
        data = random_molecule(n, seed=6)
        j, i = data.edge_index
        ev = data.pos[j] - data.pos[i]
        out = layer(inp, data.pos, data.edge_index, anchors=anchors)
        torch.testing.assert_close(layer(inp, data.pos, data.edge_index, anchors=anchors, edge_vec=ev), out)
        shifted = data.pos.clone()
        shifted[0] += torch.tensor([10.0, 0.0, 0.0], dtype=torch.float64)
        torch.testing.assert_close(layer(inp, shifted, data.edge_index, anchors=anchors, edge_vec=ev), out)
        assert not torch.allclose(layer(inp, shifted, data.edge_index, anchors=anchors), out)


def check_gradcheck(layer, inp, anchors: torch.Tensor, n: int = 3):
    data = random_molecule(n, seed=8)
    inp = inp.clone().requires_grad_(True)
    pos = data.pos.clone().requires_grad_(True)
    with default_dtype(torch.float64):
        assert torch.autograd.gradcheck(
            lambda a, p: layer(a, p, data.edge_index, anchors=anchors),
            (inp, pos),
            eps=1e-6,
            atol=1e-5,
            rtol=1e-4,
        )


def check_reset_parameters(layer):
    before = [p.detach().clone() for p in layer.parameters()]
    torch.manual_seed(123)
    layer.reset_parameters()
    after = list(layer.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def check_chunked_force_training(stored, chunked, inp: torch.Tensor, anchors: torch.Tensor, n: int = 7):
    """Second derivatives through the chunked, recomputed message sum: a loss on forces
    ``F = -dE/dpos`` (``create_graph=True``) has the same gradients (input, anchors, parameters) as
    with the messages stored (``edge_chunk=None`` on ``stored``)."""
    data = random_molecule(n, seed=5)
    anchors = anchors.clone().requires_grad_(True)
    inp = inp.clone().requires_grad_(True)
    grads = []
    for layer in (stored, chunked):
        pos = data.pos.clone().requires_grad_(True)
        out = layer(inp, pos, data.edge_index, anchors=anchors)
        energy = (out * torch.tanh(out)).sum()
        forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
        grads.append(torch.autograd.grad(forces.pow(2).sum(), [inp, anchors, *layer.parameters()]))
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
