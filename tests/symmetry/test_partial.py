"""Partial: exact at theta = pi on a finite anchor group, an error that vanishes as theta -> pi and is
non-zero below, the learned-angle provider, refusals, training."""

import math

import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups.anchors import GroupAnchors, HaarAnchors, SphereAnchors
from gdl.models import EGNN
from gdl.symmetry import Partial, PartialAnchors
from gdl.testing import assert_equivariant, equivariance_error

from ._models import OCTAHEDRAL, batch, make_model, train_steps


def test_exact_at_theta_pi_and_the_same_function():
    model = make_model("GroupConvNet")
    partial = Partial(model)
    assert isinstance(partial.model.anchors, PartialAnchors) and isinstance(model.anchors, GroupAnchors)
    data = batch()
    with default_dtype(torch.float64):
        out, ref = partial(data), model(data)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], atol=1e-12, rtol=1e-12)
    assert_equivariant(partial, data, group=OCTAHEDRAL, tol=1e-9)
    report = partial.symmetry_report()
    assert report["theta_max_mean"] == pytest.approx(math.pi)
    assert [report[f"theta_max/layer{t}"] for t in range(2)] == pytest.approx([math.pi] * 2)
    assert "theta_max/layer2" not in report  # the last convolution maps onto the full group


def test_error_vanishes_as_theta_approaches_pi_and_is_reported():
    data = batch()
    errors = []
    for theta in (math.pi - 1e-4, math.pi - 1e-2, 2.0, 1.0):
        partial = Partial(make_model("GroupConvNet"), theta=theta)
        assert partial.symmetry_report()["theta_max/layer1"] == pytest.approx(theta)
        errors.append(equivariance_error(partial, data, group=OCTAHEDRAL).max())
    # continuous at pi: linear in pi - theta (measured 1.7e-3 and 0.17), then of order one
    assert 0 < errors[0] < 1e-2 and 50 < errors[1] / errors[0] < 200, errors
    assert errors[1] < errors[2] and errors[3] > 0.1 and all(math.isfinite(e) for e in errors)


def test_per_layer_angles():
    partial = Partial(make_model("GroupConvNet"), theta=2.5)
    with torch.no_grad():
        partial.anchors.raw_theta.copy_(torch.tensor([3.0, 0.01], dtype=torch.float64))
    report = partial.symmetry_report()
    assert [report[f"theta_max/layer{t}"] for t in range(2)] == pytest.approx([3.0, 0.1])  # clamped
    stages = partial.anchors(torch.float64)
    assert len(stages) == 3 and all(s.shape == (24, 3, 3) for s in stages)
    torch.testing.assert_close(stages[2], OCTAHEDRAL)  # readouts on the full group
    for s, theta in zip(stages, (3.0, 0.1)):
        assert groups.is_rotation(s, atol=1e-12).all()
        assert groups.rotation_angle(s).max() <= theta + 1e-12
    with default_dtype(torch.float64):
        out = partial(batch())
    assert all(torch.isfinite(v).all() for v in out.values())


def test_theta_is_learned_through_the_anchors():
    partial = Partial(make_model("GroupConvNet"))
    with default_dtype(torch.float64):
        out = partial(batch())
    sum(v.pow(2).sum() for v in out.values()).backward()
    grad = partial.anchors.raw_theta.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().min() > 0  # also at theta = pi


def test_haar_base_is_redrawn_once_for_all_stages():
    anchors = PartialAnchors(HaarAnchors(10, seed=1), num_learned=2)
    assert anchors.redraws and anchors.num_anchors == 10
    a, b = anchors(torch.float64), anchors(torch.float64)
    torch.testing.assert_close(a[0], a[2], atol=1e-12, rtol=0)  # theta = pi everywhere: the base draw
    assert not torch.allclose(a[0], b[0])


def test_refusals():
    with pytest.raises(TypeError, match=r"'partial' \(Partial\) cannot wrap EGNN; it supports: GroupConvNet"):
        Partial(EGNN(["homo"], hidden_channels=8, num_layers=1))
    with pytest.raises(ValueError, match="SO\\(3\\) anchors"):
        Partial(make_model("GroupConvNet", anchors=SphereAnchors.icosahedron()))
    with pytest.raises(ValueError, match="0 < theta_min <= theta <= pi"):
        Partial(make_model("GroupConvNet"), theta=4.0)
    with pytest.raises(ValueError, match="num_layers >= 1"):
        Partial(make_model("GroupConvNet", num_layers=0))
    partial = Partial(make_model("GroupConvNet"))
    with pytest.raises(ValueError, match="already has partial anchors"):
        Partial(partial.model)


def test_trains_without_nan():
    partial = Partial(make_model("GroupConvNet"), theta=2.5)
    before = partial.anchors.theta.detach().clone()
    train_steps(partial, lr=0.05)
    assert not torch.equal(partial.anchors.theta.detach().to(before.dtype), before)  # the angles moved
    assert float(partial.regularizer()) == 0.0
    assert "PartialAnchors(base=GroupAnchors(order=24), theta=[" in repr(partial)
