import numpy as np
import pytest
import torch

from gdl.groups import haar_o3, wigner_D
from gdl.keys import Target
from gdl.training.metrics import METRICS, UNITS, TypedErrors, unit_of


def feed(metric, pred, true, chunks=3):
    for p, t in zip(pred.chunk(chunks), true.chunk(chunks)):
        metric.update(p, t)
    return {k: float(v) for k, v in metric.compute().items()}


def test_scalar_metrics_match_numpy():
    g = torch.Generator().manual_seed(0)
    pred, true = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g)
    out = feed(TypedErrors(Target("y", "2x0e"), METRICS), pred, true)
    p, t = pred.double().numpy(), true.double().numpy()
    assert out["mae"] == pytest.approx(np.abs(p - t).mean())
    assert out["mse"] == pytest.approx(((p - t) ** 2).mean())
    assert out["rmse"] == pytest.approx(np.sqrt(((p - t) ** 2).mean()))
    assert out["r2"] == pytest.approx(1 - ((p - t) ** 2).sum() / ((t - t.mean(0)) ** 2).sum())


def test_vector_mae_is_the_mean_norm_of_the_error_and_units_scale():
    pred, true = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]), torch.zeros(2, 3)
    out = feed(TypedErrors(Target("v", "1o"), ["mae", "mse"], factor=1000.0), pred, true, chunks=1)
    assert out["mae"] == pytest.approx(1000 * 5 / 2)
    assert out["mse"] == pytest.approx(1e6 * 25 / 6)


@pytest.mark.parametrize("irreps", ["1o", "2e"])
def test_metrics_are_rotation_invariant(irreps):
    g = torch.Generator().manual_seed(1)
    t = Target("x", irreps)
    pred, true = (
        torch.randn(20, t.dim, generator=g, dtype=torch.float64),
        torch.randn(20, t.dim, generator=g, dtype=torch.float64),
    )
    ref = feed(TypedErrors(t, METRICS), pred, true)
    D = wigner_D(irreps, haar_o3(1, g, dtype=torch.float64)[0])
    rot = feed(TypedErrors(t, METRICS), pred @ D.T, true @ D.T)
    assert rot == pytest.approx(ref)


def test_units():
    assert UNITS["homo"] == ("meV", 1000.0)
    assert unit_of("dipole_vec") == ("D", 1.0)
    assert unit_of("unknown") == ("", 1.0)
    assert unit_of("homo", {"homo": ["eV", 1]}) == ("eV", 1.0)
    with pytest.raises(ValueError, match="unknown metric"):
        TypedErrors(Target("homo"), ["accuracy"])
