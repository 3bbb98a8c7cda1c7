"""Augerino: equivariant in expectation at full width (the error of the K-average falls as 1/sqrt(K);
a narrower distribution plateaus: the test can fail), the identity at zero width, exact around
equivariant models, the learned width and its regulariser, training."""

import math

import pytest
import torch

from gdl.dtype import default_dtype
from gdl.groups import act_fields_per_graph, act_per_graph, haar, rotation_angle
from gdl.symmetry import RPP, Augerino, LearnedAugmentation, shrunk_haar
from gdl.testing import float64_atol

from ._models import (
    O3_EQUIVARIANT,
    SCALAR_AND_VECTOR,
    batch,
    make_model,
    model_params,
    relative,
    train_steps,
)


def skewed_backbone():
    """A non-equivariant model with a sizeable equivariant part (EGNN + PlainNet): its Haar average
    is far from zero, so relative errors of the average are well conditioned (PlainNet's own dipole
    averages to almost zero over SO(3))."""
    residual = make_model("PlainNet", targets=SCALAR_AND_VECTOR)
    return RPP(make_model("EGNN", targets=SCALAR_AND_VECTOR), residual=residual)


def averaged_error(backbone, width: float, K: int) -> dict[str, float]:
    """Mean over 3 rotations g of |f_K(g x) - g f_K(x)| / |g f_K(x)|, independent draws."""
    aug = Augerino(backbone, num_samples=K, width=width, seed=1).eval()
    data = batch(num_graphs=2)
    types = {t.name: t for t in backbone.targets}
    errors: dict[str, float] = {}
    with default_dtype(torch.float64), torch.no_grad():
        for g in haar(3, 11, dtype=torch.float64):
            R = g.expand(2, 3, 3)
            out, moved = aug(data), aug(act_per_graph(data, R))
            expected = act_fields_per_graph(out, types, R, data.batch)
            for k in out:
                errors[k] = errors.get(k, 0.0) + relative(moved[k], expected[k]) / 3
    return errors


def test_full_width_is_equivariant_in_expectation():
    """At width = pi the draws are Haar, E[f_K(g x)] = g E[f_K(x)] and the error is pure Monte-Carlo
    noise: it falls as 1/sqrt(K) (measured: dipole 0.30, 0.099, 0.032 for K = 16, 128, 1024). A
    distribution that is not invariant keeps a bias: at width 0.9 pi the same measurement plateaus
    (0.33, 0.13, 0.10), so this test fails for a wrong distribution or a wrong inverse map."""
    backbone = skewed_backbone()
    full = {K: averaged_error(backbone, math.pi, K) for K in (16, 128, 1024)}
    for k in ("energy", "dipole"):  # (energy: 1.9e-3, 3.7e-4, 1.5e-4; fewer components, noisier)
        assert full[16][k] > 1e-4  # not trivially exact: the average is random
        assert full[1024][k] / full[16][k] < 0.25, (k, full)  # 1/8 = 0.125
    assert 0.2 < full[128]["dipole"] / full[16]["dipole"] < 0.6, full  # 1/sqrt(8) = 0.35
    narrow = {K: averaged_error(backbone, 0.9 * math.pi, K) for K in (16, 1024)}
    assert narrow[1024]["dipole"] / narrow[16]["dipole"] > 0.25  # the bias floor
    assert narrow[1024]["dipole"] > 2 * full[1024]["dipole"]


def test_shrunk_haar():
    gen = torch.Generator().manual_seed(0)
    w = torch.tensor([math.pi, math.pi, math.pi], dtype=torch.float64)
    R = shrunk_haar(w, 200, gen)
    ref = haar(200, torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(R, ref, rtol=1e-10, atol=float64_atol(terms=9))  # the Haar draws
    R = shrunk_haar(torch.tensor([0.3, 0.3, 0.3], dtype=torch.float64), 500, gen)
    assert rotation_angle(R).max() <= 0.3 + 1e-12 and rotation_angle(R).max() > 0.25
    Rz = shrunk_haar(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), 50, gen)
    torch.testing.assert_close(Rz[:, 2, 2], torch.ones(50, dtype=torch.float64))  # about z only
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    shrunk_haar(w, 10, gen).sum().backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().min() > 0


def test_zero_width_is_the_model_and_small_width_is_approximate():
    model = make_model("PlainNet")
    data = batch()
    with default_dtype(torch.float64):
        out = Augerino(model, width=0.0, num_samples=4)(data)
        ref = model(data)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], atol=1e-15, rtol=1e-14)
    aug = Augerino(model, width=0.3, num_samples=4)
    assert aug.symmetry_report() == {
        "strategy": "learned",
        "width_x": pytest.approx(0.3),
        "width_y": pytest.approx(0.3),
        "width_z": pytest.approx(0.3),
        "width_mean": pytest.approx(0.3),
        "num_samples": 4,
    }
    # stochastic at test time too: two calls average different draws, and for a smooth model the
    # spread between them is linear in the width (measured 0.0027, 0.027, 0.081 at 0.01, 0.1, 0.3);
    # a width that were ignored would give the same spread at every width
    spread = {}
    for w in (0.01, 0.1, 0.3):
        aug = Augerino(model, width=w, num_samples=4)
        with default_dtype(torch.float64):
            a, b = aug(data), aug(data)
        spread[w] = relative(a["dipole"], b["dipole"])
    assert spread[0.3] > 1e-2
    assert 0.05 < spread[0.01] / spread[0.1] < 0.2 and 0.2 < spread[0.1] / spread[0.3] < 0.5


@pytest.mark.parametrize("name", model_params(O3_EQUIVARIANT))
def test_exact_around_an_equivariant_model(name):
    model = make_model(name)
    data = batch()
    aug = Augerino(model, width=(0.5, 1.0, 3.0), num_samples=3)
    with default_dtype(torch.float64):
        out, ref = aug(data), model(data)
    for k in ref:
        assert relative(out[k], ref[k]) < 1e-9, (k, relative(out[k], ref[k]))


def test_regularizer_favours_wider_distributions_and_is_bounded():
    aug = Augerino(make_model("PlainNet"), width=(0.5, 1.0, 2.0), regularization=0.1)
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    assert float(aug.regularizer().detach()) == pytest.approx(-0.1 * float((w / math.pi).pow(2).mean()))
    aug.regularizer().backward()
    assert (aug.raw_width.grad < 0).all()  # gradient descent widens
    with torch.no_grad():
        aug.raw_width.fill_(5.0)
    assert aug.width.tolist() == pytest.approx([math.pi] * 3)
    assert float(aug.regularizer().detach()) == pytest.approx(-0.1)


def test_seeded():
    model = make_model("PlainNet")
    data = batch()
    a, b = Augerino(model, seed=4), Augerino(model, seed=4)
    first = a(data)["energy"]
    assert torch.equal(first, b(data)["energy"])
    assert not torch.equal(first, a(data)["energy"])
    a.reset()
    assert torch.equal(first, a(data)["energy"])


@pytest.mark.parametrize("name", model_params())
def test_trains_without_nan(name):
    aug = Augerino(make_model(name), width=0.5, num_samples=2, regularization=0.1)
    before = aug.width.detach().clone()
    train_steps(aug, lr=0.05)
    assert not torch.equal(aug.width.detach().to(before.dtype), before)  # the width is learned
    assert aug.symmetry_report()["num_samples"] == 2


def test_bad_arguments_and_names():
    model = make_model("PlainNet")
    with pytest.raises(ValueError, match="width must be one or three angles in"):
        Augerino(model, width=4.0)
    with pytest.raises(ValueError, match="width must be one or three angles in"):
        Augerino(model, width=(0.1, 0.2))
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        Augerino(model, num_samples=0)
    assert LearnedAugmentation is Augerino and Augerino.name == "learned"
    assert "num_samples=4, width=[0.500, 0.500, 0.500]" in repr(Augerino(model))
