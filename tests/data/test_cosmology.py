import math

import numpy as np
import pytest

from gdl.data.cosmology import (
    Cosmology,
    LinearPower,
    growth_rate,
    sigma_tophat,
    tophat_window,
    transfer_no_wiggle,
)


def test_sigma8_normalisation():
    for om, s8 in [(0.1, 0.6), (0.3175, 0.834), (0.5, 1.0)]:
        P = LinearPower(Cosmology(om, s8))
        assert sigma_tophat(P, 8.0) == pytest.approx(s8, rel=1e-10)


def test_transfer_function_limits_and_shape():
    c = Cosmology(0.3, 0.8)
    k = np.geomspace(1e-5, 10, 400)
    T = transfer_no_wiggle(k, c)
    assert T[0] == pytest.approx(1.0, abs=1e-3)
    assert np.all(np.diff(T) < 0)  # monotonically suppressed
    # small scales: T ~ ln(k)/k², so k² T / ln k flattens
    assert T[-1] < 1e-3


def test_power_peak_moves_with_omega_m():
    # the turnover is set by the horizon at equality: k_eq grows with Omega_m h
    k = np.geomspace(1e-3, 1, 2000)
    peaks = [k[np.argmax(LinearPower(Cosmology(om, 0.8))(k))] for om in (0.15, 0.3, 0.45)]
    assert peaks[0] < peaks[1] < peaks[2]
    assert 0.008 < peaks[1] < 0.03


def test_planck_like_amplitude():
    # P(k=0.1 h/Mpc) of a Planck-like cosmology is ~6000 (Mpc/h)^3 at z = 0
    p = LinearPower(Cosmology(0.3175, 0.834))(np.array([0.1]))[0]
    assert 4500 < p < 7500


def test_tophat_window_small_argument():
    x = np.array([0.0, 1e-4, 1e-2, 1.0])
    w = tophat_window(x)
    exact = 3 * (np.sin(x[2:]) - x[2:] * np.cos(x[2:])) / x[2:] ** 3
    assert w[0] == 1.0 and w[1] == pytest.approx(1.0)
    np.testing.assert_allclose(w[2:], exact, rtol=1e-10)


def test_growth_rate():
    assert growth_rate(0.3) == pytest.approx(0.3**0.55)
    assert growth_rate(1.0) == 1.0
    with pytest.raises(ValueError):
        growth_rate(0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(omega_m=0.04, sigma_8=0.8), "omega_b < omega_m"),
        (dict(omega_m=-0.3, sigma_8=0.8), "omega_m must be a positive"),
        (dict(omega_m=0.3, sigma_8=math.nan), "sigma_8"),
        (dict(omega_m=1.2, sigma_8=0.8), "<= 1"),
    ],
)
def test_bad_cosmology(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Cosmology(**kwargs)


def test_negative_k_rejected():
    with pytest.raises(ValueError, match="k must be >= 0"):
        LinearPower(Cosmology(0.3, 0.8))(np.array([-0.1]))
