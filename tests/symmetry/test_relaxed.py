"""Relaxed: exact at zero relaxation (octahedral and icosahedral-sphere anchors), an error that grows
linearly with the relaxation (reported), the penalty, refusals, training."""

import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups.anchors import HaarAnchors, SphereAnchors
from gdl.models import EGNN, GroupConvNet
from gdl.nn import GroupConv, RelaxedGroupConv, RelaxedSphereGroupConv
from gdl.symmetry import Relaxed
from gdl.testing import assert_equivariant, equivariance_error

from ._models import OCTAHEDRAL, batch, make_model, train_steps


def sphere_model() -> GroupConvNet:
    return make_model("GroupConvNet", anchors=SphereAnchors.icosahedron())


def test_exact_at_zero_relaxation_and_the_same_function():
    model = make_model("GroupConvNet")
    relaxed = Relaxed(model)
    assert all(isinstance(c, RelaxedGroupConv) for c in relaxed.model.convs)
    assert all(type(c) is GroupConv for c in model.convs)  # the model passed in is unchanged
    data = batch()
    with default_dtype(torch.float64):
        out, ref = relaxed(data), model(data)
    for k in ref:
        # the same function through another code path (RelaxedGroupConv): a deep chain of sums over
        # anchors and channels, so a relative tolerance far above rounding, far below any real change
        torch.testing.assert_close(out[k], ref[k], atol=1e-12, rtol=1e-10)
    assert_equivariant(relaxed, data, group=OCTAHEDRAL, tol=1e-9)
    assert relaxed.symmetry_report()["relaxation_norm"] == 0.0


def test_sphere_anchors_exact_at_zero_relaxation():
    relaxed = Relaxed(sphere_model())
    assert all(isinstance(c, RelaxedSphereGroupConv) for c in relaxed.model.convs)
    assert_equivariant(relaxed, batch(), group=groups.icosahedral(), tol=1e-9)
    assert (
        equivariance_error(
            Relaxed(sphere_model(), init_relaxation=0.1), batch(), group=groups.icosahedral()
        ).max()
        > 1e-4
    )


def test_error_grows_linearly_with_the_relaxation_and_is_reported():
    data = batch()
    errors, norms = [], []
    for init in (1e-4, 1e-3, 1e-2):
        torch.manual_seed(0)  # the extra kernels are initialised from torch's global generator
        relaxed = Relaxed(make_model("GroupConvNet"), init_relaxation=init, seed=3)
        report = relaxed.symmetry_report()
        errors.append(equivariance_error(relaxed, data, group=OCTAHEDRAL).max())
        norms.append(report["relaxation_norm"])
        layers = [report["relaxation_norm/layer1"], report["relaxation_norm/layer2"]]
        assert report["relaxation_norm"] == pytest.approx((layers[0] ** 2 + layers[1] ** 2) ** 0.5)
        # the norm of an N(0, init^2) deviation over 24 anchors x 2 kernels, minus its anchor mean
        assert 0.5 * init * 46**0.5 < layers[0] < 1.5 * init * 46**0.5
    assert errors[0] > 1e-7
    for k in (0, 1):  # both grow tenfold per step (linear regime)
        assert 8 < norms[k + 1] / norms[k] < 12
        assert 8 < errors[k + 1] / errors[k] < 12, errors
    # bounded by the relaxation: relative error per unit of relaxation norm is of order one
    assert all(e / n < 1.0 for e, n in zip(errors, norms))


def test_penalty_pulls_the_relaxation_back():
    relaxed = Relaxed(make_model("GroupConvNet"), penalty=0.1, init_relaxation=0.1)
    expected = 0.1 * sum(float(c.relaxation_penalty().detach()) for c in relaxed.relaxed_layers)
    assert float(relaxed.regularizer().detach()) == pytest.approx(expected, rel=1e-12)
    before = relaxed.symmetry_report()["relaxation_norm"]
    opt = torch.optim.SGD(relaxed.parameters(), lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        relaxed.regularizer().backward()
        opt.step()
    assert relaxed.symmetry_report()["relaxation_norm"] == pytest.approx(before * 0.8**3, rel=1e-6)


def test_refuses_other_models_and_redrawn_anchors():
    with pytest.raises(TypeError, match=r"'relaxed' \(Relaxed\) cannot wrap EGNN; it supports: GroupConvNet"):
        Relaxed(EGNN(["homo"], hidden_channels=8, num_layers=1))
    with pytest.raises(ValueError, match="anchors must be a fixed set"):
        Relaxed(GroupConvNet(["homo"], hidden_channels=8, num_layers=1, anchors=HaarAnchors(12)))
    with pytest.raises(ValueError, match="penalty >= 0"):
        Relaxed(make_model("GroupConvNet"), penalty=-1.0)


@pytest.mark.parametrize("sphere", [False, True], ids=["so3", "sphere"])
def test_trains_without_nan(sphere):
    relaxed = Relaxed(sphere_model() if sphere else make_model("GroupConvNet"), penalty=1e-2)
    train_steps(relaxed)
    report = relaxed.symmetry_report()
    assert report["relaxation_norm"] > 0  # the task loss moved the per-anchor weights
    assert report["strategy"] == "relaxed" and report["num_kernels"] == 2 and report["penalty"] == 1e-2
    assert "RelaxedGroupConv(" in repr(relaxed) or "RelaxedSphereGroupConv(" in repr(relaxed)
