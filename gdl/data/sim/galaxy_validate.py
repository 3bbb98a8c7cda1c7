r"""Check synthetic galaxy clouds as a cosmologist would: ``python -m gdl.data.sim.galaxy_validate``.

For one mode and one cosmology, averaged over ``--clouds`` clouds, prints

* the points' power spectrum over the input :math:`b^2 P(k)`, per k bin up to the field grid's
  Nyquist frequency: exact direct Fourier sums over the points (no grid, no window), shot noise
  :math:`V/n` subtracted, mode by mode (:func:`gdl.baselines.power.point_power`);
* the large-scale bias: reported, auto (:math:`\sqrt{P_{gg}/P}`) and cross with the cloud's linear
  field (:math:`P_{gL}/P_{LL}`), over :math:`|k| \le 4 k_f`;
* the points' two-point function over linear theory :math:`b^2\xi_\mathrm{lin}(r)` per r bin
  (periodic pair counts, :func:`gdl.baselines.two_point.tpcf`);
* the velocity rms per component against linear theory, :math:`100 f \sigma_\psi` with
  :math:`\sigma_\psi^2 = \frac{1}{3}\int d^3k/(2\pi)^3\, P(k)/k^2` over the grid's modes;
* with ``camb`` installed, the input P(k) over CAMB's at the same cosmology.

Example: ``python -m gdl.data.sim.galaxy_validate --mode lognormal --omega-m 0.3 --sigma-8 0.8``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .cosmology import LinearPower, growth_rate
from .galaxy_config import MODES, GalaxyConfig
from .galaxy_mocks import make_generator
from .grid import cic_read, irfftn

__all__ = ["main", "validate"]


def _xi_linear(power: LinearPower, r: np.ndarray) -> np.ndarray:
    """:math:`\\xi(r) = \\int dk\\, k^2 P(k) j_0(kr)/2\\pi^2` with a Gaussian damping at 20 h/Mpc."""
    k = np.geomspace(1e-5, 20.0, 20_000)
    pk = power(k) * np.exp(-((k / 20.0) ** 2))
    out = []
    for ri in np.atleast_1d(r):
        out.append(np.trapezoid(k * k * pk * np.sinc(k * ri / np.pi), k) / (2 * math.pi**2))
    return np.asarray(out)


def validate(
    config: GalaxyConfig | dict[str, Any],
    num_clouds: int = 20,
    seed: int = 0,
    k_edges: np.ndarray | None = None,
    r_edges: np.ndarray | None = None,
    compare_camb: bool = True,
) -> dict[str, Any]:
    """Measure ``num_clouds`` clouds of ``config`` (which should fix Ωm and σ8); returns the tables
    of the module docstring as arrays (the CAMB ratio when ``compare_camb`` and camb is installed)."""
    from ...baselines.power import point_modes, point_power
    from ...baselines.two_point import tpcf

    cfg = GalaxyConfig.from_any(config)
    gen = make_generator(cfg, seed)
    kg = gen.kgrid
    kf = kg.k_fundamental
    if k_edges is None:
        k_edges = np.concatenate([[1.0, 4.0], np.arange(6.0, kg.n // 2 + 1, 2.0)]) * kf
        k_edges[-1] *= 1 + 1e-9
    if r_edges is None:
        r_edges = np.array([2.0, 4.0, 6.0, 8.0, 10.0, 12.5, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 70.0, 100.0])
        r_edges = r_edges * cfg.cell_size / 15.625
    vrand: list[float] = []
    ratios, xis, vrms, b_auto, b_cross, reported, clipped = [], [], [], [], [], [], []
    psi_var = None
    for i in range(num_clouds):
        params, noise = gen.draw(i)
        cloud = gen.realize(params, noise)
        pk = LinearPower(params.cosmology, cfg.power)
        ps = point_power(
            cloud.pos, cloud.box_size, k_edges, reference=lambda k, pk=pk, b=params.bias: b * b * pk(k)
        )
        ratios.append(ps.power)
        xis.append(tpcf(cloud.pos, cloud.box_size, r_edges))
        vrms.append(np.sqrt(np.mean(cloud.velocity**2)))
        if i < 4:  # the grid's linear velocity read (CIC) at uniform random points: volume-weighted
            urand = np.random.default_rng([seed, i]).random((cfg.num_points, 3)) * cfg.box_size
            psi = irfftn(
                gen.linear_field(params, noise)[..., None] / kg.cell**3 * gen._kernels[..., :3],
                kg.n,
                axes=(0, 1, 2),
            )
            vrand.append(
                100.0
                * growth_rate(params.omega_m)
                * np.sqrt(np.mean(cic_read(psi, urand, cfg.box_size, channels_last=True) ** 2))
            )
        m, d = point_modes(cloud.pos, cloud.box_size, 4 * kf)
        dl = gen.linear_field(params, noise)[m[:, 0] % kg.n, m[:, 1] % kg.n, m[:, 2]]
        vol = cloud.box_size**3
        den = float(np.sum(np.abs(dl) ** 2))
        b_cross.append(float(np.sum((d * np.conj(dl)).real)) / den)
        b_auto.append(float(np.sum(np.abs(d) ** 2 - vol**2 / cfg.num_points)) / den)
        reported.append(params.bias)
        clipped.append(cloud.clipped_fraction)
        if psi_var is None:
            power = gen.power_grid(params)
            # Σ over the full grid of P/k² / V, from the half-grid (planes kz = 0 and Nyquist once)
            w = np.full(kg.shape, 2.0)
            w[..., 0] = 1.0
            if kg.n % 2 == 0:
                w[..., -1] = 1.0
            psi_var = float(np.sum(w * power * kg.inv_k2)) / cloud.box_size**3 / 3.0
            theory_v = 100.0 * growth_rate(params.omega_m) * math.sqrt(psi_var)
            # linear ξ averaged over each shell (weight r²), as the pair counts are
            sub = np.linspace(0.0, 1.0, 9)
            rr = r_edges[:-1, None] + (r_edges[1:] - r_edges[:-1])[:, None] * sub[None, :]
            xi_sub = _xi_linear(pk, rr.ravel()).reshape(rr.shape)
            xi_lin = (
                params.bias**2 * np.trapezoid(xi_sub * rr**2, rr, axis=1) / np.trapezoid(rr**2, rr, axis=1)
            )
            pk_in = pk
    k_centres = ps.k
    out: dict[str, Any] = {
        "config": cfg.as_dict(),
        "num_clouds": num_clouds,
        "k": k_centres,
        "pk_ratio": np.mean(ratios, 0),
        "pk_ratio_sem": np.std(ratios, 0) / math.sqrt(num_clouds),
        "r_edges": r_edges,
        "xi_ratio": np.mean(xis, 0) / xi_lin,
        "xi_ratio_sem": np.std(xis, 0) / math.sqrt(num_clouds) / np.abs(xi_lin),
        "velocity_rms": float(np.mean(vrms)),
        "velocity_rms_linear": theory_v,
        "velocity_rms_random_points": float(np.mean(vrand)),
        "bias_reported": float(np.mean(reported)),
        "bias_auto": math.sqrt(max(float(np.mean(b_auto)), 0.0)),
        "bias_cross": float(np.mean(b_cross)),
        "clipped_fraction": float(np.mean(clipped)),
        "k_nyquist": kg.nyquist,
    }
    if compare_camb and importlib.util.find_spec("camb") is not None and cfg.power != "camb":
        camb_pk = LinearPower(pk_in.cosmo, "camb")
        kk = np.geomspace(0.01, 1.0, 12)
        out["camb_k"] = kk
        out["camb_ratio"] = pk_in(kk) / camb_pk(kk)
    return out


def format_tables(res: dict[str, Any]) -> str:
    c = res["config"]
    lines = [
        f"mode {c['mode']}, bias {c['bias']}, power {c['power']}, Ωm {c['omega_m'][0]}, "
        f"σ8 {c['sigma_8'][0]}, {c['num_points']} points, box {c['box_size']:g} Mpc/h, grid {c['grid']}, "
        f"{res['num_clouds']} clouds (mean clipped fraction {res['clipped_fraction']:.2g})",
        "",
        f"large-scale bias (|k| <= 4 k_f): reported {res['bias_reported']:.3f}, auto sqrt(P_gg/P) "
        f"{res['bias_auto']:.3f}, cross P_gL/P_LL {res['bias_cross']:.3f}",
        f"velocity rms per component: {res['velocity_rms']:.1f} km/s, linear theory 100 f σ_ψ "
        f"{res['velocity_rms_linear']:.1f} km/s "
        f"(ratio {res['velocity_rms'] / res['velocity_rms_linear']:.3f}); the same linear field read by "
        f"CIC at uniform random points {res['velocity_rms_random_points']:.1f} km/s",
        "",
        "| k (h/Mpc) | P_points / b²P_in | ± |",
        "|---|---|---|",
    ]
    for k, r, e in zip(res["k"], res["pk_ratio"], res["pk_ratio_sem"]):
        flag = " (> k_Nyq/2)" if k > res["k_nyquist"] / 2 else ""
        lines.append(f"| {k:.4f}{flag} | {r:.3f} | {e:.3f} |")
    lines += ["", "| r (Mpc/h) | ξ_points / b²ξ_lin | ± |", "|---|---|---|"]
    re_ = res["r_edges"]
    for lo, hi, r, e in zip(re_[:-1], re_[1:], res["xi_ratio"], res["xi_ratio_sem"]):
        lines.append(f"| {lo:.1f}–{hi:.1f} | {r:.3f} | {e:.3f} |")
    if "camb_ratio" in res:
        lines += ["", f"| k (h/Mpc) | P_in ({c['power']}) / P_CAMB |", "|---|---|"]
        for k, r in zip(res["camb_k"], res["camb_ratio"]):
            lines.append(f"| {k:.3f} | {r:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m gdl.data.sim.galaxy_validate", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--mode", default="lognormal", choices=list(MODES))
    p.add_argument("--omega-m", type=float, default=0.3)
    p.add_argument("--sigma-8", type=float, default=0.8)
    p.add_argument("--bias", default=None, help="number, 'halo' or 'selection' (default: the mode's)")
    p.add_argument("--power", default="eisenstein_hu")
    p.add_argument("--points", type=int, default=5000)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--box", type=float, default=1000.0)
    p.add_argument("--clouds", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    bias: Any = args.bias
    if bias is not None and bias not in ("halo", "selection"):
        bias = float(bias)
    cfg = GalaxyConfig(
        mode=args.mode,
        omega_m=args.omega_m,
        sigma_8=args.sigma_8,
        bias=bias,
        power=args.power,
        num_points=args.points,
        grid=args.grid,
        box_size=args.box,
    )
    print(format_tables(validate(cfg, args.clouds, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
