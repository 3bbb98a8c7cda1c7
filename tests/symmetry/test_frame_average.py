"""FrameAverage: exact O(3)/SO(3) equivariance around any backbone (PlainNet included), the batched
copies equal a loop over frames, and what happens on degenerate spectra (measured)."""

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl.dtype import default_dtype
from gdl.groups import GroupElement, act, act_on_data, field_type
from gdl.symmetry import FrameAverage, pca_frames
from gdl.testing import assert_equivariant, equivariance_error, float64_atol
from gdl.testing.data import fully_connected_edge_index

from ._models import batch, make_model, model_params, train_steps


def molecule(pos, z=None) -> Batch:
    pos = torch.as_tensor(pos, dtype=torch.float64)
    n = pos.shape[0]
    z = torch.arange(1, n + 1) % 5 + 1 if z is None else torch.as_tensor(z)
    return Batch.from_data_list([Data(pos=pos, z=z, edge_index=fully_connected_edge_index(n))])


def whitened(n: int, dims: int, seed: int) -> torch.Tensor:
    """A random cloud without symmetry whose covariance is isotropic in its first ``dims`` axes
    (2: planar with two equal eigenvalues, 3: all three equal)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    x[:, dims:] = 0
    x = x - x.mean(0)
    C = x[:, :dims].T @ x[:, :dims]
    evals, evecs = torch.linalg.eigh(C)
    x[:, :dims] = x[:, :dims] @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T * 2.0
    return x


@pytest.mark.parametrize("name", model_params())
@pytest.mark.parametrize("group", ["O3"])
def test_exactly_equivariant_around_any_backbone(name, group):
    fa = FrameAverage(make_model(name), group=group)
    assert_equivariant(fa, batch(), group=group, tol=1e-9)


@pytest.mark.parametrize("name", model_params(["PlainNet", "EGNN"]))
def test_exactly_so3_equivariant_with_four_frames(name):
    fa = FrameAverage(make_model(name), group="SO3")
    assert fa.num_frames == 4
    assert_equivariant(fa, batch(), group="SO3", tol=1e-9)


def test_so3_frames_do_not_give_reflection_equivariance_around_plainnet():
    fa = FrameAverage(make_model("PlainNet"), group="SO3")
    errors = equivariance_error(fa, batch(), group="O3")
    assert max(errors.by_transform("reflection").values()) > 1e-2
    assert max(errors.by_transform("rotation").values()) < 1e-9
    # and the average really changes the backbone
    assert equivariance_error(make_model("PlainNet"), batch(), group="SO3").max() > 1e-2


@pytest.mark.parametrize("group", ["O3", "SO3"])
def test_frames(group):
    data = batch()
    F, c, degenerate = pca_frames(data.pos, data.batch, data.num_graphs, group)
    K = 8 if group == "O3" else 4
    assert F.shape == (K, 3, 3, 3) and c.shape == (3, 3) and not degenerate.any()
    eye = torch.eye(3, dtype=torch.float64)
    # eigenvectors of a symmetric 3 x 3 matrix (eigh is backward stable): orthonormal to rounding
    torch.testing.assert_close(F.transpose(-1, -2) @ F, eye.expand_as(F), atol=float64_atol(terms=27), rtol=0)
    det = torch.linalg.det(F)
    if group == "SO3":
        torch.testing.assert_close(det, torch.ones_like(det))
    else:
        assert (det > 0).sum() == (det < 0).sum() == 4 * 3
    # distinct frames per graph
    flat = F.transpose(0, 1).flatten(2)  # [B, K, 9]
    assert (torch.cdist(flat, flat) + 10 * torch.eye(K, dtype=torch.float64)).min() > 1.0


def test_batched_copies_equal_a_loop_over_frames():
    model = make_model("PlainNet")
    fa = FrameAverage(model, group="O3")
    data = batch()
    data.vel = torch.randn(data.num_nodes, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model_v = make_model("PlainNet", vector_inputs=("vel",))
    fa_v = FrameAverage(model_v, group="O3")
    with default_dtype(torch.float64):
        out = fa_v(data)
        F, c, _ = pca_frames(data.pos, data.batch, data.num_graphs, "O3")
        for g, graph in enumerate(data.to_data_list()):
            graph.vel = data.vel[data.batch == g]
            acc = {t.name: 0.0 for t in model_v.targets}
            for k in range(8):
                Fk = F[k, g]
                canon = act_on_data(graph, GroupElement(Fk.T, -Fk.T @ c[g]))
                pred = model_v(Batch.from_data_list([canon]))
                for t in model_v.targets:
                    acc[t.name] = acc[t.name] + act(pred[t.name], field_type(t), GroupElement(Fk)) / 8
            for t in model_v.targets:
                got = out[t.name][g : g + 1] if t.level == "graph" else out[t.name][data.batch == g]
                torch.testing.assert_close(got, acc[t.name], atol=1e-12, rtol=1e-10)
    assert fa.num_frames == 8 and fa_v.symmetry_report()["degenerate_fraction"] == 0.0


# -- degenerate spectra (what the class docstring states, measured around PlainNet) -------------
def _finite_backward(fa, data):
    data = data.clone()
    data.pos.requires_grad_(True)
    with default_dtype(torch.float64):
        out = fa(data)
    sum(v.pow(2).sum() for v in out.values()).backward()
    assert torch.isfinite(data.pos.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in fa.parameters() if p.grad is not None)
    return out


@pytest.mark.parametrize("group", ["O3", "SO3"])
def test_single_point(group):
    fa = FrameAverage(make_model("PlainNet"), group=group)
    data = molecule([[0.3, 0.1, -0.2]])
    out = _finite_backward(fa, data)
    assert fa.symmetry_report()["degenerate_fraction"] == 1.0
    assert torch.equal(out["dipole"], torch.zeros_like(out["dipole"]))  # the sign flips cancel 1o
    assert torch.equal(out["force"], torch.zeros_like(out["force"]))
    errors = equivariance_error(fa, data, group=group)
    assert errors["energy"] < 1e-12 and errors["charge"] < 1e-12
    assert errors["quadrupole"] > 0.1 and errors["shape"] > 0.1  # 2e: not zero, not equivariant


@pytest.mark.parametrize("group", ["O3", "SO3"])
def test_linear_molecule(group):
    fa = FrameAverage(make_model("PlainNet"), group=group)
    data = molecule([[0.0, 0.0, -1.2], [0.0, 0.0, 0.1], [0.0, 0.0, 1.3]])
    _finite_backward(fa, data)
    errors = equivariance_error(fa, data, group=group, n_samples=5)
    for k in ("energy", "charge", "dipole", "force"):  # canonical positions are unique
        assert errors[k] < 1e-9, (k, errors)
    for k in ("quadrupole", "shape"):  # components about the axis follow the arbitrary frame
        assert errors[k] > 0.1, (k, errors)


@pytest.mark.parametrize("dims", [2, 3], ids=["two-equal", "three-equal"])
def test_isotropic_clouds_are_approximate_around_plainnet_and_exact_around_egnn(dims):
    data = molecule(whitened(6, dims, seed=dims))
    fa = FrameAverage(make_model("PlainNet"))
    _finite_backward(fa, data)
    assert fa.symmetry_report()["degenerate_fraction"] == 1.0
    errors = equivariance_error(fa, data, n_samples=5)
    assert errors.max() > 1e-3 and all(math.isfinite(v) for v in errors.values())
    # an equivariant backbone stays exact whatever frame is picked
    assert_equivariant(FrameAverage(make_model("EGNN")), data, tol=1e-9)


def test_degenerate_graphs_do_not_disturb_the_others():
    lin = Data(
        pos=torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 0.5]], dtype=torch.float64),
        z=torch.tensor([1, 2]),
        edge_index=fully_connected_edge_index(2),
    )
    generic = batch(num_graphs=2).to_data_list()
    mixed = Batch.from_data_list([generic[0], lin, generic[1]])
    fa = FrameAverage(make_model("PlainNet"))
    _finite_backward(fa, mixed)
    assert fa.symmetry_report()["degenerate_fraction"] == pytest.approx(1 / 3)
    with default_dtype(torch.float64):
        alone = fa(Batch.from_data_list(generic))
        together = fa(mixed)
    # batched with another graph vs alone: BLAS may block and sum differently, so relative rounding
    torch.testing.assert_close(together["energy"][[0, 2]], alone["energy"], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", model_params())
def test_trains_without_nan(name):
    fa = FrameAverage(make_model(name))
    train_steps(fa)
    assert fa.symmetry_report() == {
        "strategy": "frame_average",
        "group": "O3",
        "num_frames": 8,
        "degenerate_fraction": 0.0,
    }


def test_bad_arguments_and_repr():
    model = make_model("PlainNet")
    with pytest.raises(ValueError, match="group must be one of"):
        FrameAverage(model, group="E3")
    with pytest.raises(ValueError, match="degenerate_tol must be >= 0"):
        FrameAverage(model, degenerate_tol=-1.0)
    with pytest.raises(ValueError, match="needs `edge_index`"):
        FrameAverage(model)(Data(pos=torch.zeros(2, 3)))
    text = repr(FrameAverage(model, group="SO3"))
    assert "FrameAverage(" in text and "num_frames=4" in text and "PlainNet(" in text
