"""ResidualPathwayPrior: exact with the residual path zeroed, an error bounded by the output-norm
ratio otherwise, the prior's ratio, the report, and training."""

import math

import pytest
import torch

from gdl.dtype import default_dtype
from gdl.keys import Target
from gdl.models import EGNN, NodeInputs, PlainNet
from gdl.symmetry import RPP, ResidualPathwayPrior, default_residual
from gdl.testing import assert_equivariant, equivariance_error

from ._models import EQUIVARIANT, batch, make_model, model_group, model_params, train_steps


def zero_(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()


def scale_(module: torch.nn.Module, factor: float) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(factor)


@pytest.mark.parametrize("name", model_params(EQUIVARIANT))
def test_exact_with_the_residual_path_zeroed(name):
    rpp = RPP(make_model(name))
    zero_(rpp.residual)
    assert_equivariant(rpp, batch(), group=model_group(name), tol=1e-9)


def test_error_is_bounded_by_the_output_norm_ratio_and_grows_with_it():
    """f = f_eq + f_res: per target, err <= (|f_res(gx)| + |f_res(x)|) / (|f_eq| - |f_res|), about
    2 r / (1 - r) for the norm ratio r; measured at three scales of the residual path's readout."""
    data = batch()
    errors, ratios = [], []
    for scale in (1e-4, 1e-3, 1e-2):
        torch.manual_seed(0)
        rpp = RPP(make_model("EGNN"))
        scale_(rpp.residual.readout, scale)  # the readout is linear in its last layer's weights
        with default_dtype(torch.float64):
            rpp(data)
        report = rpp.symmetry_report()
        assert report["output_norm_ratio"] == pytest.approx(rpp.output_norm_ratio(data), rel=1e-12)
        err = equivariance_error(rpp, data)
        for t in rpp.targets:
            r = report[f"output_norm_ratio/{t.name}"]
            assert 0 < err[t.name] <= 3 * r / (1 - r), (scale, t.name, err[t.name], r)
        errors.append(err.max())
        ratios.append(report["output_norm_ratio"])
    assert errors[0] < errors[1] < errors[2] and ratios[0] < ratios[1] < ratios[2]
    assert errors[0] > 1e-8  # non-zero at the smallest scale


def test_regularizer_is_the_gaussian_prior_with_the_given_ratio():
    model = make_model("EGNN")
    rpp = RPP(model, weight_decay=1e-3, prior_ratio=50.0)
    eq = sum(float(p.detach().pow(2).sum()) for p in rpp.model.parameters())
    res = sum(float(p.detach().pow(2).sum()) for p in rpp.residual.parameters())
    assert float(rpp.regularizer().detach()) == pytest.approx(1e-3 * (eq + 50.0 * res), rel=1e-12)
    rpp.regularizer().backward()
    p_eq = next(rpp.model.parameters())
    p_res = next(rpp.residual.parameters())
    torch.testing.assert_close(p_eq.grad, 2e-3 * p_eq.detach())
    torch.testing.assert_close(p_res.grad, 2e-3 * 50.0 * p_res.detach())


def test_report_and_default_residual():
    model = make_model("EGNN", inputs=NodeInputs(vector_inputs=("vel",)), reduce="mean")
    rpp = RPP(model)
    res = rpp.residual
    assert isinstance(res, PlainNet) and res.targets == model.targets
    assert res.vector_inputs == ("vel",) and res.reduce == "mean" and res.num_types == 10
    report = rpp.symmetry_report()
    assert report["strategy"] == "rpp" and report["prior_ratio"] == 1000.0 and report["weight_decay"] == 1e-6
    assert math.isnan(report["output_norm_ratio"])  # no forward pass yet
    assert report["residual_weight_norm"] > 0 and report["equivariant_weight_norm"] > 0
    assert ResidualPathwayPrior is RPP and "prior_ratio=1000.0" in repr(rpp)
    assert default_residual(model, hidden_channels=4).hidden_channels == 4


def test_given_residual_and_bad_input():
    model = make_model("EGNN")
    custom = PlainNet(model.targets, hidden_channels=4, num_layers=1).double()
    assert RPP(model, residual=custom).residual is custom
    other = PlainNet([Target("other")], hidden_channels=4, num_layers=1)
    with pytest.raises(ValueError, match="residual path predicts"):
        RPP(model, residual=other)
    with pytest.raises(TypeError, match="residual must be a GDLModel"):
        RPP(model, residual=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="prior_ratio > 0"):
        RPP(model, prior_ratio=0.0)


@pytest.mark.parametrize("name", model_params(EQUIVARIANT))
def test_trains_without_nan(name):
    rpp = RPP(make_model(name), weight_decay=1e-3)
    train_steps(rpp)
    assert rpp.symmetry_report()["output_norm_ratio"] > 0


def test_the_prior_shrinks_the_residual_path_first():
    """Minimising the regularizer alone: the residual weights shrink ``prior_ratio`` times faster."""
    torch.manual_seed(0)
    rpp = RPP(EGNN(["homo"], hidden_channels=8, num_layers=1), weight_decay=1e-3, prior_ratio=100.0)
    before = rpp.symmetry_report()
    opt = torch.optim.SGD(rpp.parameters(), lr=1.0)
    for _ in range(5):
        opt.zero_grad()
        rpp.regularizer().backward()
        opt.step()
    after = rpp.symmetry_report()
    res = after["residual_weight_norm"] / before["residual_weight_norm"]
    eq = after["equivariant_weight_norm"] / before["equivariant_weight_norm"]
    assert res == pytest.approx((1 - 2 * 1e-3 * 100) ** 5, rel=1e-6)
    assert eq == pytest.approx((1 - 2 * 1e-3) ** 5, rel=1e-6)
