"""Checks of GALAXY.md "How to know the generator is right"."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from gdl.baselines.power import bin_modes, mode_power
from gdl.data.galaxy_mocks import GalaxyGenerator, ZeldovichGenerator, make_generator
from gdl.data.grid import wrap_positions
from gdl.groups import GroupElement, act, cube_group
from gdl.testing import node

CUBE = cube_group().numpy()
SMALL = dict(num_points=2000, grid=32, box_size=500.0)


def _min_image(d, box):
    return d - box * np.round(d / box)


def test_power_spectrum_matches_b2_P_up_to_half_nyquist():
    """Measured P(k) (CIC, window-deconvolved, shot noise removed) within 5% of b²P(k) for
    k <= k_Nyq/2, averaged over 10 clouds (60,000 points each, so shot noise stays below the signal)."""
    g = make_generator(dict(num_points=60_000, omega_m=0.3, sigma_8=0.8), seed=1)
    ratios = []
    for i in range(10):
        params, noise = g.draw(i)
        cloud = g.realize(params, noise)
        kg, pk = mode_power(cloud.pos, cloud.box_size, g.config.grid, window="cell")
        target = params.bias**2 * g.power_grid(params)
        ratios.append(np.where(target > 0, pk / np.where(target > 0, target, 1.0), 0.0))
        assert cloud.clipped_fraction < 0.01
    # shells holding >= ~450 independent modes per cloud, up to k_Nyq/2 = 16 k_f
    edges = np.array([1.0, 6.0, 9.0, 12.0, 14.0, 16.0 + 1e-9]) * kg.k_fundamental
    assert edges[-1] <= kg.nyquist / 2 * (1 + 1e-6)
    _, ratio, modes = bin_modes(kg, np.mean(ratios, 0), edges)
    assert modes.min() > 400
    assert np.all(np.abs(ratio - 1) < 0.05), ratio


def test_density_mean_one_finite_and_clipping_reported():
    # the most clustered corner of the default prior (Omega_m = 0.5, sigma_8 = 1, b = 2)
    c = make_generator(dict(num_points=2000, omega_m=0.5, sigma_8=1.0), seed=0)(0)
    assert c.density.mean() == pytest.approx(1.0, abs=1e-12)
    assert (c.density > 0).all()
    for a in (c.pos, c.velocity, c.shape, c.density):
        assert np.isfinite(a).all()
    assert 0.0 < c.clipped_fraction < 0.02 and 0.0 < c.clipped_power < 1e-3
    assert ((c.pos >= 0) & (c.pos < 1000.0)).all()
    assert c.pos.shape == (2000, 3) and c.velocity.shape == (2000, 3) and c.shape.shape == (2000, 5)
    # beyond the prior (b = 3) clipping grows and is reported
    extreme = make_generator(dict(SMALL, omega_m=0.5, sigma_8=1.0, bias=3.0), seed=0)(0)
    assert extreme.clipped_fraction > 0.02 and 1e-3 < extreme.clipped_power < 0.02
    assert make_generator(dict(SMALL, mode="zeldovich"))(0).clipped_fraction == 0.0


def _check_cube_maps(gen, R, tol=1e-10):
    params, noise = gen.draw(3)
    base = gen.realize(params, noise)
    moved = gen.realize(params, noise.act(R))
    box = gen.config.box_size
    g = GroupElement(torch.as_tensor(R, dtype=torch.float64))
    expected_pos = wrap_positions(base.pos @ R.T, box)
    expected_vel = act(torch.as_tensor(base.velocity), node("1o"), g).numpy()
    expected_shape = act(torch.as_tensor(base.shape), node("2e"), g).numpy()
    return (
        np.abs(_min_image(moved.pos - expected_pos, box)).max() / box,
        np.abs(moved.velocity - expected_vel).max() / np.abs(expected_vel).max(),
        np.abs(moved.shape - expected_shape).max() / np.abs(expected_shape).max(),
    )


@pytest.mark.parametrize("mode", ["lognormal", "zeldovich"])
def test_cube_symmetry_of_the_noise_maps_points_exactly(mode):
    """Applying a cube-group element to the white noise (and the rest of the cloud's noise) maps
    positions as points mod L, velocities as 1o and shapes as 2e, point for point."""
    gen = make_generator(dict(SMALL, mode=mode, velocity_dispersion=30.0), seed=5)
    rng = np.random.default_rng(0)
    elements = [1, 47] + list(rng.choice(np.arange(2, 47), 6, replace=False))  # rotations and reflections
    for k in elements:
        errs = _check_cube_maps(gen, CUBE[k])
        assert max(errs) < 1e-10, (k, errs)


def test_anisotropy_and_rsd_keep_only_the_z_preserving_subgroup():
    gen = make_generator(dict(SMALL, anisotropy=0.8, rsd=True), seed=2)
    keeps_z = [R for R in CUBE if abs(R[2, 2]) == 1]
    assert len(keeps_z) == 16
    for R in keeps_z[1:4] + keeps_z[-3:]:
        assert max(_check_cube_maps(gen, R)) < 1e-10
    swap_xz = next(R for R in CUBE if R[0, 2] == 1 and R[2, 0] == 1 and R[1, 1] == 1)
    assert max(_check_cube_maps(gen, swap_xz)) > 1e-3  # the check can fail


def test_mean_pairwise_velocity_is_infall():
    gen = make_generator(dict(num_points=3000), seed=0)
    means = []
    for i in range(3):
        c = gen(i)
        pairs = cKDTree(c.pos, boxsize=c.box_size).query_pairs(50.0, output_type="ndarray")
        d = _min_image(c.pos[pairs[:, 1]] - c.pos[pairs[:, 0]], c.box_size)
        rhat = d / np.linalg.norm(d, axis=1, keepdims=True)
        means.append(np.mean(np.einsum("ij,ij->i", c.velocity[pairs[:, 1]] - c.velocity[pairs[:, 0]], rhat)))
    assert np.mean(means) < -30.0  # km/s; ~ -100 at these settings


def test_anisotropy_boosts_power_along_z():
    gen = make_generator(dict(num_points=20_000, grid=32, anisotropy=1.0, omega_m=0.3, sigma_8=0.8), seed=4)
    along, across = [], []
    for i in range(2):
        c = gen(i)
        kg, pk = mode_power(c.pos, c.box_size, 32, window="cell")
        low = (kg.k2 > 0) & (kg.k2 < (kg.nyquist / 2) ** 2)
        mu2 = kg.mu2()
        along.append(pk[low & (mu2 > 0.7)].mean())
        across.append(pk[low & (mu2 < 0.3)].mean())
    assert np.mean(along) > 1.3 * np.mean(across)


def test_cloud_is_a_pure_function_of_seed_and_index():
    g1, g2 = make_generator(SMALL, seed=7), make_generator(SMALL, seed=7)
    a, b = g1(4), g2(4)
    np.testing.assert_array_equal(a.pos, b.pos)
    np.testing.assert_array_equal(a.shape, b.shape)
    assert a.params == b.params
    assert not np.array_equal(g1(5).pos, a.pos)
    assert not np.array_equal(make_generator(SMALL, seed=8)(4).pos, a.pos)
    with pytest.raises(IndexError):
        g1(-1)


def test_params_ranges_and_bias_range():
    gen = make_generator(dict(SMALL, bias=(1.5, 2.5)), seed=0)
    ps = [gen.draw(i)[0] for i in range(20)]
    assert all(0.1 <= p.omega_m <= 0.5 and 0.6 <= p.sigma_8 <= 1.0 and 1.5 <= p.bias <= 2.5 for p in ps)
    assert len({p.bias for p in ps}) == 20


def test_rsd_moves_points_along_z_by_vz_over_100():
    real = make_generator(SMALL, seed=1)(0)
    red = make_generator(dict(SMALL, rsd=True), seed=1)(0)
    np.testing.assert_allclose(red.velocity, real.velocity)
    shift = real.pos.copy()
    shift[:, 2] += real.velocity[:, 2] / 100.0
    np.testing.assert_allclose(_min_image(red.pos - shift, 500.0), 0, atol=1e-9)


def test_noise_knobs():
    quiet = make_generator(dict(SMALL, shape_noise=0.0), seed=0)(0)
    noisy = make_generator(dict(SMALL, shape_noise=2.0, velocity_dispersion=300.0), seed=0)(0)
    assert noisy.shape.std() > 1.5 * quiet.shape.std()
    assert noisy.velocity.std() > 1.2 * quiet.velocity.std()
    # no alignment: the shape is the noise alone
    params, noise = make_generator(dict(SMALL, alignment=0.0, shape_noise=0.5), seed=0).draw(0)
    only_noise = make_generator(dict(SMALL, alignment=0.0, shape_noise=0.5), seed=0).realize(params, noise)
    np.testing.assert_allclose(only_noise.shape, 0.5 * noise.shape_noise)


def test_modes_pick_their_generator():
    assert type(make_generator(SMALL)) is GalaxyGenerator
    assert type(make_generator(dict(SMALL, mode="zeldovich"))) is ZeldovichGenerator
    with pytest.raises(ValueError, match="generates mode"):
        ZeldovichGenerator(SMALL)


def test_noise_must_match_config():
    gen = make_generator(SMALL)
    params, noise = make_generator(dict(SMALL, num_points=10)).draw(0)
    with pytest.raises(ValueError, match="does not match"):
        gen.realize(params, noise)
