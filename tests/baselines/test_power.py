import numpy as np
import pytest

from gdl.baselines.power import power_spectrum


@pytest.mark.parametrize("window", ["cic", "cell"])
def test_poisson_points_have_no_power_after_shot_noise_removal(window):
    box, n = 500.0, 20_000
    ps = [
        power_spectrum(np.random.default_rng(s).uniform(0, box, (n, 3)), box, 32, window=window)
        for s in range(3)
    ]
    p = np.mean([q.power for q in ps], 0)
    shot, modes = box**3 / n, ps[0].modes
    low = ps[0].k < np.pi * 32 / box / 2  # k <= k_Nyq/2
    # each mode's estimate scatters by ~ the shot noise; 5 sigma per shell, 3 sigma overall
    assert np.all(np.abs(p[low]) < 5 * shot / np.sqrt(3 * modes[low]))
    assert abs(np.average(p[low], weights=modes[low])) < 3 * shot / np.sqrt(3 * modes[low].sum())
    assert ps[0].modes.sum() > 0 and ps[0].k[0] == pytest.approx(2 * np.pi / box, rel=0.3)


def test_a_plane_wave_density_is_recovered():
    # points placed with density 1 + A cos(k x): P at that k is A²V/4 (one of the two ±k modes)
    rng = np.random.default_rng(0)
    box, n, A, m = 100.0, 400_000, 0.5, 3
    x = rng.uniform(0, box, 4 * n)
    keep = rng.uniform(0, 1 + A, 4 * n) < 1 + A * np.cos(2 * np.pi * m * x / box)
    pts = np.c_[x[keep], rng.uniform(0, box, (keep.sum(), 2))]
    ps = power_spectrum(pts, box, 16, edges=np.array([m - 0.5, m + 0.5]) * 2 * np.pi / box)
    # the shell holds 2 of its ~90 half-grid modes with power; the rest carry none
    expected = A**2 * box**3 / 4 * 2 / ps.modes[0]
    assert ps.power[0] == pytest.approx(expected, rel=0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="window"):
        power_spectrum(np.zeros((3, 3)), 1.0, 8, window="ngp")
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        power_spectrum(np.zeros((0, 3)), 1.0, 8)
    with pytest.raises(ValueError, match="NaN"):
        power_spectrum(np.full((3, 3), np.nan), 1.0, 8)


def test_point_modes_are_the_exact_fourier_sums():
    from gdl.baselines.power import point_modes

    rng = np.random.default_rng(0)
    pos = rng.random((300, 3)) * 200.0
    m, d = point_modes(pos, 200.0, 3 * 2 * np.pi / 200.0, chunk=128)
    assert (m[:, 2] >= 0).all() and len(m) == len({tuple(r) for r in m})
    k = m * 2 * np.pi / 200.0
    direct = np.exp(-1j * pos @ k.T).sum(0) * 200.0**3 / 300
    np.testing.assert_allclose(d, direct, rtol=1e-10, atol=1e-6)


def test_point_power_of_uniform_points_is_zero_after_shot_noise():
    from gdl.baselines.power import point_power

    rng = np.random.default_rng(1)
    box, n = 500.0, 2000
    kf = 2 * np.pi / box
    vals = [point_power(rng.random((n, 3)) * box, box, np.array([1, 4, 8]) * kf).power for _ in range(20)]
    # Poisson points: E[P] = 0 once V/n is removed; scatter per bin ~ (V/n)/sqrt(modes · 20)
    assert np.all(np.abs(np.mean(vals, 0)) < 0.1 * box**3 / n)
