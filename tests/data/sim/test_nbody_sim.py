"""The charged N-body simulator: the NRI/EGNN integrator, forces, energy conservation, symmetry
with and without the field, and the symmetry breaking by the protocol's force clip."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from gdl.data.sim.nbody_sim import (
    NBodyConfig,
    charged_energy,
    charged_forces,
    initial_conditions,
    simulate_charged,
)
from gdl.groups import axis_angle_to_matrix, haar

CFG = NBodyConfig()


def reference_trajectory(loc, vel, q, cfg, n_steps, field=0.0):
    """The NRI/EGNN generator's loop for one system, written independently in numpy:
    loc, vel [3, n] (NRI layout), q [n]. Returns the positions after every step, [n_steps + 1, 3, n]."""
    loc, vel = loc.copy(), vel.copy()
    n = q.size
    edges = np.outer(q, q)

    def force(x):
        d = x[:, :, None] - x[:, None, :]  # [3, n, n] x_i - x_j
        r3 = ((d**2).sum(0)) ** 1.5
        np.fill_diagonal(r3, np.inf)
        f = (cfg.interaction * edges / r3 * d).sum(-1)
        f[2] += field * q
        return np.clip(f, -cfg.max_force, cfg.max_force)

    out = [loc.copy()]
    vel += cfg.dt * force(loc)
    for _ in range(n_steps):
        loc += cfg.dt * vel
        out.append(loc.copy())
        vel += cfg.dt * force(loc)
    return np.stack(out), n


@pytest.mark.parametrize("field", [0.0, 0.7])
def test_matches_reference_loop(field):
    cfg = dataclasses.replace(CFG, field_strength=field, save_every=10, frame_in=4, frame_out=29)
    pos, vel, q = initial_conditions(4, torch.Generator().manual_seed(5), cfg)
    out = simulate_charged(pos, vel, q, cfg, frames=[0, 4, 29])
    for s in range(4):
        ref, _ = reference_trajectory(pos[s].T.numpy(), vel[s].T.numpy(), q[s].numpy(), cfg, 300, field)
        for k, f in enumerate((0, 4, 29)):
            step = cfg.step_of_frame(f)
            np.testing.assert_allclose(out["pos"][s, k].numpy(), ref[step].T, rtol=1e-9, atol=1e-10)


def test_inputs_are_not_modified():
    cfg = dataclasses.replace(CFG, frame_in=0, frame_out=1)
    pos, vel, q = initial_conditions(6, torch.Generator().manual_seed(1), cfg)
    # coordinate-major storage, the layout the integrator works in: it must still copy
    pos_t, vel_t = pos.permute(2, 1, 0).contiguous(), vel.permute(2, 1, 0).contiguous()
    pos2, vel2 = pos_t.permute(2, 1, 0), vel_t.permute(2, 1, 0)
    out = simulate_charged(pos2, vel2, q, cfg)
    assert torch.equal(pos2, pos) and torch.equal(vel2, vel)
    torch.testing.assert_close(out["pos"], simulate_charged(pos, vel, q, cfg)["pos"], rtol=0, atol=0)


def test_initial_conditions_protocol():
    pos, vel, q = initial_conditions(20_000, torch.Generator().manual_seed(0), CFG)
    assert pos.shape == vel.shape == (20_000, 5, 3) and q.shape == (20_000, 5)
    torch.testing.assert_close(vel.norm(dim=-1), torch.full((20_000, 5), 0.5, dtype=torch.float64))
    assert set(q.unique().tolist()) == {-1.0, 1.0} and abs(float(q.mean())) < 0.02
    assert abs(float(pos.std()) - 1.0) < 0.01 and abs(float(pos.mean())) < 0.01


def test_forces_are_coulomb_and_clipped():
    pos = torch.tensor([[[0.0, 0, 0], [2.0, 0, 0]], [[0.0, 0, 0], [0.05, 0, 0]]], dtype=torch.float64)
    q = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    cfg = dataclasses.replace(CFG, num_particles=2)
    f, clipped = charged_forces(pos, q, cfg)
    torch.testing.assert_close(
        f[0, 0], torch.tensor([-0.25, 0, 0], dtype=torch.float64)
    )  # like charges repel
    torch.testing.assert_close(f[0].sum(0), torch.zeros(3, dtype=torch.float64))  # Newton's third law
    torch.testing.assert_close(
        f[1, 0], torch.tensor([100.0, 0, 0], dtype=torch.float64)
    )  # 400 clipped to 100
    assert clipped.tolist() == [False, True]
    f, _ = charged_forces(pos, q, dataclasses.replace(cfg, field_strength=0.5))
    torch.testing.assert_close(f[1, :, 2], 0.5 * q[1])


def _synced_energy(out, q, cfg):
    """Energy at the saved frames with velocities moved half a step forward to the positions."""
    s, nf = out["pos"].shape[:2]
    x = out["pos"].reshape(s * nf, -1, 3)
    qq = q[:, None].expand(s, nf, q.shape[1]).reshape(s * nf, -1)
    f, _ = charged_forces(x, qq, cfg)
    v = out["vel"].reshape(s * nf, -1, 3) + 0.5 * cfg.dt * f
    return charged_energy(x, v, qq, cfg).reshape(s, nf)


@pytest.mark.parametrize("field", [0.0, 0.5])
def test_energy_drift_is_small(field):
    """Bound tested: over frames 0..48 (4,800 steps of Δt = 0.001) the total energy of every system
    in which no force was clipped stays within 1e-2 of its value at frame 0 (median drift < 1e-4;
    typical |E| ~ 1). Systems where clipping occurred do not conserve energy (the protocol's clip)."""
    cfg = dataclasses.replace(CFG, field_strength=field)
    pos, vel, q = initial_conditions(300, torch.Generator().manual_seed(11), cfg)
    out = simulate_charged(pos, vel, q, cfg, frames=list(range(49)))
    energy = _synced_energy(out, q, cfg)
    drift = (energy - energy[:, :1]).abs().amax(1)
    ok = ~out["clipped"]
    assert int(ok.sum()) > 100
    assert float(drift[ok].max()) < 1e-2
    assert float(drift[ok].median()) < 1e-4
    assert float(drift[~ok].median()) > 10 * float(drift[ok].median())  # the check can fail


SHORT = dataclasses.replace(CFG, frame_in=10, frame_out=20)  # 2,100 steps: enough to test symmetry


def _rotated_run(cfg, R, n=50, seed=3):
    pos, vel, q = initial_conditions(n, torch.Generator().manual_seed(seed), cfg)
    a = simulate_charged(pos, vel, q, cfg)
    b = simulate_charged(pos @ R.T, vel @ R.T, q, cfg)
    ok = ~(a["clipped"] | b["clipped"])
    err = (b["pos"] - a["pos"] @ R.T).flatten(1).norm(dim=1) / a["pos"].flatten(1).norm(dim=1)
    return err, ok


def test_symmetry_without_field():
    """ε = 0: rotating (or reflecting) the initial state rotates the trajectory (systems without clipping)."""
    for R in (haar(1, 0, dtype=torch.float64)[0], -haar(1, 1, dtype=torch.float64)[0]):
        err, ok = _rotated_run(SHORT, R)
        assert int(ok.sum()) > 15 and float(err[ok].max()) < 1e-6


def test_field_breaks_symmetry_to_rotations_about_z():
    """ε > 0: only rotations about z commute with the dynamics; a tilted axis changes the trajectories."""
    cfg = dataclasses.replace(SHORT, field_strength=1.0)
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    err, ok = _rotated_run(cfg, axis_angle_to_matrix(z, torch.tensor(1.1)))
    assert int(ok.sum()) > 15 and float(err[ok].max()) < 1e-6
    x = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    err, ok = _rotated_run(cfg, axis_angle_to_matrix(x, torch.tensor(1.1)))
    assert int(ok.sum()) > 15 and float(err[ok].median()) > 1e-2
    # a small field breaks it by a small amount
    err_small, ok_small = _rotated_run(
        dataclasses.replace(cfg, field_strength=0.01), axis_angle_to_matrix(x, 1.1)
    )
    assert 1e-6 < float(err_small[ok_small].median()) < float(err[ok].median())


def test_clipping_breaks_equivariance_of_the_protocol_map():
    """The map frame 30 -> frame 40 (restarting from the saved state reproduces the data exactly)
    is equivariant for systems without clipping in between, and not for the others."""
    pos, vel, q = initial_conditions(300, torch.Generator().manual_seed(9), CFG)
    run = simulate_charged(pos, vel, q, CFG)
    x30, v30, x40 = run["pos"][:, 0], run["vel"][:, 0], run["pos"][:, 1]
    restart = dataclasses.replace(CFG, frame_in=0, frame_out=9)  # frame 9 = 1,000 steps later
    again = simulate_charged(x30, v30, q, restart, frames=[9])
    assert torch.equal(again["pos"][:, 0], x40) and torch.equal(again["clipped"], run["clipped_between"])
    R = haar(1, 0, dtype=torch.float64)[0]
    rotated = simulate_charged(x30 @ R.T, v30 @ R.T, q, restart, frames=[9])
    err = (rotated["pos"][:, 0] - x40 @ R.T).flatten(1).norm(dim=1)
    clipped = run["clipped_between"] | rotated["clipped"]
    assert 0.05 < float(clipped.float().mean()) < 0.35
    assert float(err[~clipped].max()) < 1e-10
    assert float(err[clipped].median()) > 1e-3
    # no clipping, no symmetry breaking
    free = dataclasses.replace(restart, max_force=math.inf)
    a = simulate_charged(x30, v30, q, free, frames=[9])
    b = simulate_charged(x30 @ R.T, v30 @ R.T, q, free, frames=[9])
    assert not bool(a["clipped"].any())
    err = (b["pos"][:, 0] - a["pos"][:, 0] @ R.T).flatten(1).norm(dim=1)
    # rounding only, amplified in the closest encounters (r ~ 1e-2 without the clip)
    assert float(err.median()) < 1e-10 and float(err.max()) < 1e-3
