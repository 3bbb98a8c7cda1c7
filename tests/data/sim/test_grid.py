import numpy as np
import pytest

from gdl.data.sim.grid import (
    cic_paint,
    cic_read,
    cube_act_grid,
    irfftn,
    k_grid,
    lognormal_spectrum,
    rfftn,
    wrap_positions,
)
from gdl.groups import cube_group

G = cube_group().numpy()


def test_kgrid_nyquist_is_zeroed_in_derivatives():
    kg = k_grid(8, 100.0)
    assert kg.shape == (8, 8, 5)
    assert kg.k[0][4, 0, 0] == pytest.approx(-4 * kg.k_fundamental)  # numpy's Nyquist sign
    assert kg.kd[0][4, 0, 0] == 0.0 and kg.kd[2][0, 0, 4] == 0.0
    assert kg.kd[0][3, 0, 0] == pytest.approx(3 * kg.k_fundamental)
    np.testing.assert_allclose(kg.radial(lambda k: k**2), kg.k2)
    assert kg.inv_k2[0, 0, 0] == 0.0


def test_fft_round_trip_and_batch_axes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 8, 8))
    np.testing.assert_allclose(irfftn(rfftn(x), 8), x, atol=1e-12)
    y = np.moveaxis(x, 0, -1)
    np.testing.assert_allclose(irfftn(rfftn(y, axes=(0, 1, 2)), 8, axes=(0, 1, 2)), y, atol=1e-12)


def test_cic_paint_conserves_mass_and_read_hits_nodes():
    rng = np.random.default_rng(1)
    pos = rng.uniform(-50, 150, size=(500, 3))  # outside the box too: painting is periodic
    w = rng.random(500)
    grid = cic_paint(pos, 8, 100.0, weights=w)
    assert grid.sum() == pytest.approx(w.sum())
    field = rng.standard_normal((8, 8, 8))
    nodes = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(cic_read(field, nodes * 12.5, 100.0), field.ravel(), atol=1e-12)
    # a linear interpolation between two nodes, and channels-last layout
    mid = cic_read(field, np.array([[6.25, 0, 0]]), 100.0)[0]
    assert mid == pytest.approx(0.5 * (field[0, 0, 0] + field[1, 0, 0]))
    stacked = np.stack([field, 2 * field], -1)
    np.testing.assert_allclose(
        cic_read(stacked, pos, 100.0, channels_last=True)[:, 1], 2 * cic_read(field, pos, 100.0)
    )


def test_cube_act_grid_maps_nodes():
    rng = np.random.default_rng(2)
    n = 6
    f = rng.standard_normal((n, n, n))
    idx = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    for R in G[[1, 7, 20, 30, 47]]:
        g = cube_act_grid(f, R)
        new = np.rint(idx @ R.T).astype(int) % n  # node i goes to R i mod n
        np.testing.assert_array_equal(g[tuple(new.T)], f[tuple(idx.T)])
    # a homomorphism: acting with R1 then R2 equals acting with R2 R1
    R1, R2 = G[5], G[33]
    np.testing.assert_array_equal(cube_act_grid(cube_act_grid(f, R1), R2), cube_act_grid(f, R2 @ R1))
    with pytest.raises(ValueError, match="signed permutation"):
        cube_act_grid(f, np.eye(3) * 0.5)


def test_lognormal_spectrum_small_amplitude_is_identity():
    kg = k_grid(16, 200.0)
    p = kg.radial(lambda k: 1e-3 * kg.cell**3 * np.exp(-k / 0.2))
    pg, clipped_modes, clipped_power = lognormal_spectrum(p, kg)
    assert clipped_modes == 0.0 and clipped_power == 0.0
    np.testing.assert_allclose(pg[1:4, 0, 0], p[1:4, 0, 0], rtol=5e-3)


def test_lognormal_spectrum_rejects_impossible_correlation():
    kg = k_grid(8, 100.0)
    p = np.zeros(kg.shape)
    p[1, 0, 0] = p[-1, 0, 0] = 5.0 * kg.box**3  # xi(r) = 10 cos(k r): reaches -10
    with pytest.raises(ValueError, match="<= -1"):
        lognormal_spectrum(p, kg)


def test_wrap_positions_never_returns_the_box_side():
    x = np.array([[-1e-17, 0.0, 1000.0], [999.9, -0.5, 2500.0]])
    w = wrap_positions(x, 1000.0)
    assert ((w >= 0) & (w < 1000.0)).all()
    np.testing.assert_allclose(w[1], [999.9, 999.5, 500.0])
