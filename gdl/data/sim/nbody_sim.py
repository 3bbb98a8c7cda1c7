r"""The charged N-body simulator of the NRI / EGNN papers, vectorised over systems, with an
optional constant external field along z.

Kipf et al. 2018 (NRI) wrote the generator that the EGNN paper (Satorras et al. 2021) ran in 3D;
this is an independent reimplementation of its protocol: Coulomb forces between
charges ±1 with every Cartesian component clipped to ±100, no walls, kick–drift leapfrog with
Δt = 0.001. Systems are integrated together in a coordinate-major layout ``[3, N, S]`` so that each
operation acts on long contiguous rows. :class:`gdl.data.NBodyCharged` builds datasets on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import torch

__all__ = ["NBodyConfig", "charged_energy", "charged_forces", "initial_conditions", "simulate_charged"]


@dataclass(frozen=True)
class NBodyConfig:
    """Parameters of the simulation (defaults: the EGNN / NRI charged system).

    Args:
        num_particles: particles per system. Default ``5``.
        dt: leapfrog time step. Default ``0.001``.
        save_every: steps between saved frames. Default ``100``.
        frame_in: saved frame used as input. Default ``30`` (step 3,100).
        frame_out: saved frame used as target. Default ``40`` (step 4,100).
        max_force: force components are clipped to ``±max_force``. Default ``100.0`` (NRI's 0.1 / dt).
        loc_std: standard deviation of initial positions. Default ``1.0``.
        vel_norm: norm of initial velocities. Default ``0.5``.
        interaction: Coulomb constant. Default ``1.0``.
        field_strength: ε, strength of a constant field along z (force ``q ε ẑ``). Default ``0.0``.
        chunk: trajectories simulated together; generation and caching work in whole chunks, each
            seeded on its own, so a smaller set is a prefix of a larger one. Default ``1000``.
    """

    num_particles: int = 5
    dt: float = 1e-3
    save_every: int = 100
    frame_in: int = 30
    frame_out: int = 40
    max_force: float = 100.0
    loc_std: float = 1.0
    vel_norm: float = 0.5
    interaction: float = 1.0
    field_strength: float = 0.0
    chunk: int = 1000

    def __post_init__(self) -> None:
        if not 0 <= self.frame_in < self.frame_out:
            raise ValueError(f"need 0 <= frame_in < frame_out, got {self.frame_in}, {self.frame_out}")
        if self.num_particles < 2 or self.chunk < 1 or self.save_every < 1 or self.dt <= 0:
            raise ValueError(f"invalid N-body configuration {self}")

    def step_of_frame(self, frame: int) -> int:
        """Saved frame ``f`` is the state after ``(f + 1) * save_every`` steps (NRI's saving rule)."""
        return (frame + 1) * self.save_every

    def key(self) -> str:
        """A short name of the physics and frames (folder of the cache)."""
        d = asdict(self)
        blob = json.dumps(d, sort_keys=True).encode()
        return f"eps{self.field_strength:g}_{hashlib.sha1(blob).hexdigest()[:10]}"


def _incidence(n: int, dtype: torch.dtype, device: torch.device | str | None = None) -> torch.Tensor:
    """The ``[n, P]`` incidence matrix of the pairs ``i < j`` of ``n`` particles (+1 at i, -1 at j)."""
    i, j = torch.triu_indices(n, n, offset=1, device=device)
    inc = torch.zeros(n, i.numel(), dtype=dtype, device=device)
    p = torch.arange(i.numel(), device=device)
    inc[i, p], inc[j, p] = 1.0, -1.0
    return inc


def _pair_products(charges: torch.Tensor, cfg: NBodyConfig) -> torch.Tensor:
    """``k q_i q_j`` of the pairs ``i < j``, ``[P, S]`` for ``charges [S, N]``."""
    i, j = torch.triu_indices(charges.shape[1], charges.shape[1], offset=1, device=charges.device)
    return (cfg.interaction * charges[:, i] * charges[:, j]).T.contiguous()


def _forces(
    x: torch.Tensor, kqq: torch.Tensor, charges_t: torch.Tensor, inc: torch.Tensor, cfg: NBodyConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped forces in the coordinate-major layout ``x [3, N, S]`` (fast for small N, large S)."""
    diff = torch.matmul(inc.T, x)  # [3, P, S]: x_i - x_j for the pairs i < j
    r2 = (diff * diff).sum(0)  # [P, S]
    force = torch.matmul(inc, diff * (kqq * r2.rsqrt() / r2))  # [3, N, S]: +pair force on i, -on j
    if cfg.field_strength:
        force[2] += cfg.field_strength * charges_t
    clipped = force.abs().amax((0, 1)) > cfg.max_force
    return force.clamp_(-cfg.max_force, cfg.max_force), clipped


def charged_forces(
    pos: torch.Tensor, charges: torch.Tensor, cfg: NBodyConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Coulomb forces plus the field, each component clipped to ``±max_force``:
    :math:`F_i = k\sum_{j\ne i} q_i q_j (x_i - x_j)/|x_i - x_j|^3 + q_i\,\varepsilon\,\hat z`.

    ``pos [S, N, 3]``, ``charges [S, N]`` → ``(F [S, N, 3], clipped [S] bool)`` where ``clipped``
    marks systems in which some component hit the clip."""
    inc = _incidence(pos.shape[1], pos.dtype, pos.device)
    x = pos.permute(2, 1, 0).contiguous()
    force, clipped = _forces(x, _pair_products(charges, cfg), charges.T.contiguous(), inc, cfg)
    return force.permute(2, 1, 0), clipped


def charged_energy(
    pos: torch.Tensor, vel: torch.Tensor, charges: torch.Tensor, cfg: NBodyConfig
) -> torch.Tensor:
    r"""Total energy of systems ``[..., N, 3]`` (unit masses):
    :math:`\tfrac12\sum_i |v_i|^2 + \tfrac k2\sum_{i\ne j} q_iq_j/|x_i-x_j| - \varepsilon\sum_i q_i z_i`."""
    diff = pos[..., :, None, :] - pos[..., None, :, :]
    r = diff.norm(dim=-1)
    eye = torch.eye(pos.shape[-2], dtype=torch.bool, device=pos.device)
    qq = charges[..., :, None] * charges[..., None, :]
    pot = (
        0.5 * cfg.interaction * torch.where(eye, torch.zeros_like(r), qq / r.clamp_min(1e-300)).sum((-1, -2))
    )
    kin = 0.5 * (vel * vel).sum((-1, -2))
    return kin + pot - cfg.field_strength * (charges * pos[..., 2]).sum(-1)


def initial_conditions(
    num: int, generator: torch.Generator, cfg: NBodyConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``num`` systems as in the NRI generator: positions ~ N(0, loc_std²), velocities of random
    direction and norm ``vel_norm``, charges ±1 with probability ½; positions beyond ±5 are
    reflected into the NRI box with the velocity component turned inwards (NRI applies its walls to
    the initial state only; this happens with probability ~1e-5 per system). Float64."""
    n = cfg.num_particles
    pos = torch.randn(num, n, 3, generator=generator, dtype=torch.float64) * cfg.loc_std
    vel = torch.randn(num, n, 3, generator=generator, dtype=torch.float64)
    vel = vel * (cfg.vel_norm / vel.norm(dim=-1, keepdim=True))
    charges = torch.randint(0, 2, (num, n), generator=generator).to(torch.float64) * 2 - 1
    box = 5.0
    over, under = pos > box, pos < -box
    pos = torch.where(over, 2 * box - pos, torch.where(under, -2 * box - pos, pos))
    vel = torch.where(over, -vel.abs(), torch.where(under, vel.abs(), vel))
    return pos, vel, charges


def simulate_charged(
    pos: torch.Tensor,
    vel: torch.Tensor,
    charges: torch.Tensor,
    cfg: NBodyConfig,
    frames: list[int] | None = None,
) -> dict[str, torch.Tensor]:
    r"""Integrate systems ``pos, vel [S, N, 3]``, ``charges [S, N]`` as the NRI generator does:
    a first kick :math:`v \leftarrow v + \Delta t\,F(x)`, then for each step a drift
    :math:`x \leftarrow x + \Delta t\,v` followed by a kick. A saved frame holds the positions after
    the drift and the velocity that produced them (half a step behind the positions, as in NRI).

    Returns ``pos [S, F, N, 3]``, ``vel [S, F, N, 3]`` at the requested saved ``frames`` (default:
    ``[frame_in, frame_out]``), ``clipped [S]``, whether any force component was clipped, and
    ``clipped_between [S]``, whether one was clipped from the first requested frame on (then the
    later frames are not exactly rotation-equivariant functions of the first).
    Runs on one thread (restored afterwards): with two threads on a loaded 2-core machine the
    small per-step operations ran 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors of a few thousand numbers: threads cost more than they save
    try:
        return _integrate(pos, vel, charges, cfg, frames)
    finally:
        torch.set_num_threads(threads)


def _integrate(
    pos: torch.Tensor, vel: torch.Tensor, charges: torch.Tensor, cfg: NBodyConfig, frames: list[int] | None
) -> dict[str, torch.Tensor]:
    frames = sorted(frames if frames is not None else [cfg.frame_in, cfg.frame_out])
    if not frames or frames[0] < 0:
        raise ValueError(f"frames must be a non-empty list of saved-frame indices >= 0, got {frames}")
    wanted = {cfg.step_of_frame(f): k for k, f in enumerate(frames)}
    # coordinate-major layout [3, N, S]: every operation acts on long contiguous rows
    # copies (never views: the integration below updates them in place)
    x = pos.permute(2, 1, 0).clone(memory_format=torch.contiguous_format)
    v = vel.permute(2, 1, 0).clone(memory_format=torch.contiguous_format)
    inc = _incidence(pos.shape[1], x.dtype, x.device)
    kqq, q_t = _pair_products(charges, cfg), charges.T.contiguous()
    out_x = x.new_empty(len(frames), *x.shape)
    out_v = torch.empty_like(out_x)
    first = min(wanted)
    force, clipped = _forces(x, kqq, q_t, inc, cfg)
    between = torch.zeros_like(clipped)
    v += cfg.dt * force
    for step in range(1, max(wanted) + 1):
        x += cfg.dt * v
        if step in wanted:
            out_x[wanted[step]], out_v[wanted[step]] = x, v
        force, c = _forces(x, kqq, q_t, inc, cfg)
        clipped |= c
        if step >= first:
            between |= c
        v += cfg.dt * force
    out_x, out_v = out_x.permute(3, 0, 2, 1), out_v.permute(3, 0, 2, 1)  # [S, F, N, 3]
    return {"pos": out_x, "vel": out_v, "clipped": clipped, "clipped_between": between}
