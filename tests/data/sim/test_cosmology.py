import math

import numpy as np
import pytest

from gdl.data.sim.cosmology import (
    Cosmology,
    LinearPower,
    growth_rate,
    sigma_tophat,
    tophat_window,
    transfer_eisenstein_hu,
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


def test_growth_rate_is_exact_lcdm():
    assert growth_rate(1.0) == pytest.approx(1.0, abs=1e-9)  # Einstein-de Sitter
    # Ωm^0.55 is a fit: 0.6% low at Ωm = 0.3, 3.2% high at Ωm = 0.1
    assert growth_rate(0.3) == pytest.approx(0.3**0.55, rel=1e-2)
    assert 0.1**0.55 / growth_rate(0.1) == pytest.approx(1.032, abs=2e-3)
    # against an independent integration of the growth ODE D'' + (2 + dlnH/dlna) D' = 1.5 Ωm(a) D
    from scipy.integrate import solve_ivp

    om = 0.2
    E2 = lambda a: om / a**3 + 1 - om  # noqa: E731

    def rhs(lna, y):
        a = np.exp(lna)
        dlnh = -1.5 * om / a**3 / E2(a)
        return [y[1], -(2 + dlnh) * y[1] + 1.5 * om / a**3 / E2(a) * y[0]]

    a0 = 1e-3
    sol = solve_ivp(rhs, [np.log(a0), 0.0], [a0, a0], rtol=1e-10, atol=1e-13)
    assert sol.y[1, -1] / sol.y[0, -1] == pytest.approx(growth_rate(om), rel=1e-4)
    with pytest.raises(ValueError):
        growth_rate(0.0)


def test_eisenstein_hu_wiggles_against_colossus():
    colossus = pytest.importorskip("colossus.cosmology.power_spectrum")
    k = np.geomspace(1e-3, 5, 200)
    for om, ob, h in [(0.1, 0.049, 0.6711), (0.3, 0.04, 0.7), (0.5, 0.06, 0.6)]:
        ref = colossus.modelEisenstein98(k, h, om, ob, 2.7255)  # k in h/Mpc
        np.testing.assert_allclose(transfer_eisenstein_hu(k, Cosmology(om, 0.8, h, ob)), ref, rtol=1e-10)


def test_wiggles_oscillate_around_the_no_wiggle_form():
    c = Cosmology(0.3, 0.8)
    k = np.linspace(0.02, 0.4, 2000)
    r = transfer_eisenstein_hu(k, c) / transfer_no_wiggle(k, c)
    assert 0.9 < r.min() and r.max() < 1.1
    assert np.sum(np.diff(np.sign(np.diff(r))) != 0) >= 6  # several acoustic peaks


@pytest.mark.slow
@pytest.mark.parametrize("om", [0.1, 0.2, 0.3, 0.5])
def test_camb_source_matches_camb_within_one_percent(om):
    """The clouds' input P(k) with power='camb' against a direct CAMB run normalised by CAMB's
    own σ8 (checks the cache, the interpolation and the σ8 normalisation), 0.01–1 h/Mpc."""
    camb = pytest.importorskip("camb")
    h, ob, ns, s8 = 0.6711, 0.049, 0.9624, 0.8
    pars = camb.set_params(
        H0=100 * h,
        ombh2=ob * h * h,
        omch2=(om - ob) * h * h,
        mnu=0.0,
        num_massive_neutrinos=0,
        ns=ns,
        As=2.1e-9,
        WantTransfer=True,
        kmax=5.0,
        redshifts=[0.0],
    )
    res = camb.get_results(pars)
    kh, _, pk = res.get_matter_power_spectrum(minkh=0.01, maxkh=1.0, npoints=150)
    ref = pk[0] * (s8 / res.get_sigma8_0()) ** 2
    ours = LinearPower(Cosmology(om, s8, h, ob, ns), source="camb")(kh)
    np.testing.assert_allclose(ours / ref, 1.0, atol=0.01)


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "camb", None)
    with pytest.raises(ImportError, match="galaxy"):
        LinearPower(Cosmology(0.3, 0.8, h=0.5123), source="camb")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(omega_m=0.04, sigma_8=0.8), "omega_b < omega_m"),
        (dict(omega_m=-0.3, sigma_8=0.8), "omega_m must be a positive"),
        (dict(omega_m=0.3, sigma_8=math.nan), "sigma_8"),
        (dict(omega_m=1.2, sigma_8=0.8), "<= 1"),
        (dict(omega_m=0.3, sigma_8=0.0), "sigma_8 must be a positive"),
        (dict(omega_m=0.3, sigma_8=0.8, h=3.0), r"h must lie in \[0.2, 1.5\]"),
        (dict(omega_m=0.3, sigma_8=0.8, n_s=0.1), "n_s must lie in"),
    ],
)
def test_bad_cosmology(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Cosmology(**kwargs)


def test_power_source_validity():
    with pytest.raises(ValueError, match="omega_b=0.07 > omega_m/2"):
        LinearPower(Cosmology(0.1, 0.8, omega_b=0.07))
    with pytest.raises(ValueError, match="power source must be one of"):
        LinearPower(Cosmology(0.3, 0.8), source="class")


def test_negative_k_rejected():
    with pytest.raises(ValueError, match="k must be >= 0"):
        LinearPower(Cosmology(0.3, 0.8))(np.array([-0.1]))
