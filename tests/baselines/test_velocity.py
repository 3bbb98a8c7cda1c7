import numpy as np
import pytest
import torch

from gdl.baselines.regression import r2_score
from gdl.baselines.velocity import LinearTheoryVelocity, linear_displacement
from gdl.data import make_generator
from gdl.groups import cube_group
from gdl.testing import assert_equivariant, node


def test_displacement_is_cube_equivariant():
    """Exact under the cube group acting about the origin (periodic painting makes the box
    invariant); generic translations are not exact on a grid, so they are not claimed."""
    pos = np.random.default_rng(0).uniform(0, 200.0, (400, 3))

    def fn(p: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(linear_displacement(p.numpy(), 200.0, grid=16, smoothing=20.0))

    assert_equivariant(
        fn,
        torch.as_tensor(pos),
        in_types=node("pos"),
        out_types=node("1o"),
        group=cube_group(),
        translation=False,
        n_samples=6,
        tol=1e-10,
    )


def test_displacement_points_towards_a_cluster():
    rng = np.random.default_rng(1)
    cluster = np.array([50.0, 50.0, 50.0]) + rng.normal(0, 3.0, (300, 3))
    probes = np.array([[30.0, 50, 50], [70.0, 50, 50], [50.0, 30, 50]])
    psi = linear_displacement(np.vstack([cluster, probes, rng.uniform(0, 100, (300, 3))]), 100.0, 32, 8.0)[
        300:303
    ]
    assert psi[0, 0] > 0 and psi[1, 0] < 0 and psi[2, 1] > 0


def test_fit_on_training_clouds_predicts_test_velocities():
    gen = make_generator(dict(num_points=4000, grid=32), seed=0)
    clouds = [gen(i) for i in range(6)]
    model = LinearTheoryVelocity(grid=32).fit((c.pos, c.velocity, c.box_size) for c in clouds[:4])
    assert set(model.train_r2_) == {31.25 * f for f in (1.0, 1.5, 2.0, 3.0, 4.0)}
    assert model.beta_ > 0 and model.smoothing_ in model.train_r2_
    pred = np.concatenate([model.predict(c.pos, c.box_size) for c in clouds[4:]])
    true = np.concatenate([c.velocity for c in clouds[4:]])
    assert r2_score(true, pred, pooled=True) > 0.1
    assert "beta=" in repr(model)


def test_bad_input():
    pos = np.random.default_rng(0).uniform(0, 100.0, (50, 3))
    with pytest.raises(ValueError, match="grid too coarse for the requested smoothing"):
        linear_displacement(pos, 100.0, grid=8, smoothing=5.0)
    with pytest.raises(ValueError, match="grid too coarse"):
        LinearTheoryVelocity(grid=8, smoothing=[20.0, 5.0]).fit([(pos, pos, 100.0)])
    with pytest.raises(ValueError, match="NaN"):
        LinearTheoryVelocity(grid=8).fit([(pos, np.full((50, 3), np.nan), 100.0)])
    with pytest.raises(ValueError, match="at least one"):
        LinearTheoryVelocity().fit([])
    with pytest.raises(ValueError, match="share one box"):
        LinearTheoryVelocity(grid=8).fit([(pos, pos, 100.0), (pos, pos, 200.0)])
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearTheoryVelocity().predict(pos, 100.0)


def test_truncation_keeps_only_the_matter_within_the_radius():
    """A probe 20 Mpc/h from a cluster feels it through a kernel cut at 30 Mpc/h and not through one
    cut at 10 Mpc/h; a radius far beyond the box is the untruncated displacement."""
    rng = np.random.default_rng(1)
    cluster = np.array([50.0, 50.0, 50.0]) + rng.normal(0, 1.0, (300, 3))
    probes = np.array([[30.0, 50, 50], [70.0, 50, 50], [50.0, 30, 50]])
    pos = np.vstack([cluster, probes, rng.uniform(0, 100, (300, 3))])

    def pull(truncation):  # the probes' displacement towards the cluster
        psi = linear_displacement(pos, 100.0, 64, 3.0, truncation)[300:303]
        return np.array([psi[0, 0], -psi[1, 0], psi[2, 1]])

    full, far, near = pull(None), pull(30.0), pull(10.0)
    assert (full > 0).all() and (far > 0).all()
    # the cluster is outside 10 Mpc/h: what is left is the background's noise, not the cluster's pull
    assert (np.abs(near) < 0.2 * far).all(), (near, far)
    np.testing.assert_allclose(pull(1e7), full, rtol=1e-4)


def test_a_truncated_fit_says_so_and_refuses_a_bad_radius():
    gen = make_generator(dict(num_points=4000, grid=32), seed=0)
    c = gen(0)
    cut = LinearTheoryVelocity(grid=32, truncation=40.0).fit([(c.pos, c.velocity, c.box_size)])
    assert "truncation=40" in repr(cut) and cut.truncation == 40.0
    np.testing.assert_allclose(
        cut.predict(c.pos, c.box_size),
        cut.beta_ * linear_displacement(c.pos, c.box_size, 32, cut.smoothing_, 40.0),
    )
    with pytest.raises(ValueError, match="truncation must be a radius > 0"):
        LinearTheoryVelocity(truncation=0.0)
    with pytest.raises(ValueError, match="truncation must be a radius > 0"):
        linear_displacement(c.pos, c.box_size, 32, None, -1.0)
