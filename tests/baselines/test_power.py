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
