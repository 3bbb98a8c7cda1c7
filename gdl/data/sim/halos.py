r"""Halo-like tracer bias by abundance matching (Tinker et al. mass function and bias via ``colossus``).

The ``n`` most massive haloes of a box of volume ``V`` are those above the mass :math:`M_\min`
where the cumulative mass function reaches the number density :math:`\bar n = n/V`; their
large-scale bias is the number-weighted halo bias above it:

.. math::
    \int_{M_\min}^\infty \frac{dn}{d\ln M}\, d\ln M = \bar n,\qquad
    b = \frac{1}{\bar n}\int_{M_\min}^\infty b(M)\,\frac{dn}{d\ln M}\,d\ln M,

    \frac{dn}{d\ln M} = f(\sigma)\,\frac{\bar\rho_m}{M}\,\Big|\frac{d\ln\sigma}{d\ln M}\Big|,\qquad
    \sigma(M) = \sigma_\mathrm{tophat}\big(R = (3M/4\pi\bar\rho_m)^{1/3}\big),

with :math:`f(\sigma)` of Tinker et al. (2008) and :math:`b(\nu = \delta_c/\sigma)` of Tinker et al.
(2010), both for :math:`M_{200m}` at z = 0, evaluated by ``colossus`` (``pip install colossus``,
part of the ``galaxy`` extra); :math:`\sigma(M)` comes from the same linear power spectrum as the
clouds (:class:`~gdl.data.sim.cosmology.LinearPower`), so the bias is consistent with their P(k).
At fixed number density the bias follows the cosmology: for 5,000 haloes in (1 Gpc/h)³,
b·σ8 ≈ 2.7–3.4 across Ωm ∈ [0.1, 0.5], σ8 ∈ [0.6, 1] (``docs/datasets.md``).
"""

from __future__ import annotations

import math

import numpy as np

from .cosmology import Cosmology, LinearPower, require_extra, sigma_tophat

__all__ = ["RHO_CRIT", "AbundanceMatch", "abundance_matched_bias"]

#: critical density today in (M_sun/h) / (Mpc/h)³
RHO_CRIT = 2.77536627e11
_LNM = np.linspace(math.log(1e11), math.log(3e16), 241)


class AbundanceMatch:
    """Result of :func:`abundance_matched_bias`: ``bias``, ``min_mass`` (M_sun/h, M200m),
    ``number_density`` ((h/Mpc)³) and ``nu_min`` (peak height at ``min_mass``)."""

    def __init__(self, bias: float, min_mass: float, number_density: float, nu_min: float):
        self.bias, self.min_mass, self.number_density, self.nu_min = bias, min_mass, number_density, nu_min

    def __repr__(self) -> str:
        return (
            f"AbundanceMatch(bias={self.bias:.4g}, min_mass={self.min_mass:.4g}, "
            f"number_density={self.number_density:.4g}, nu_min={self.nu_min:.4g})"
        )


def _colossus(cosmo: Cosmology):
    from colossus.cosmology import cosmology

    params = dict(
        flat=True,
        H0=100.0 * cosmo.h,
        Om0=cosmo.omega_m,
        Ob0=cosmo.omega_b,
        sigma8=cosmo.sigma_8,
        ns=cosmo.n_s,
        relspecies=False,
    )
    return cosmology.setCosmology("gdl", params, persistence="")


def abundance_matched_bias(
    cosmo: Cosmology, number_density: float, source: str = "eisenstein_hu", power: LinearPower | None = None
) -> AbundanceMatch:
    """Large-scale bias of the haloes above the mass at which the Tinker et al. (2008) mass
    function reaches ``number_density`` (module docstring).

    Args:
        cosmo: the :class:`~gdl.data.sim.cosmology.Cosmology`.
        number_density: tracers per (Mpc/h)³, e.g. ``5000 / 1000**3``; must lie between the
            abundance of 3e16 M_sun/h and of 1e11 M_sun/h haloes.
        source: power-spectrum source of σ(M). Default ``"eisenstein_hu"``.
        power: a ready :class:`LinearPower` (overrides ``cosmo`` and ``source``). Default ``None``.

    Raises:
        ImportError: ``colossus`` is not installed (the ``galaxy`` extra).
        ValueError: ``number_density`` outside the tabulated mass range.
    """
    require_extra("colossus", "abundance-matched (bias='halo') tracers")
    from colossus.lss import bias as cbias
    from colossus.lss import mass_function, peaks

    if not (math.isfinite(number_density) and number_density > 0):
        raise ValueError(f"number_density must be > 0, got {number_density}")
    pk = power if power is not None else LinearPower(cosmo, source)
    cosmo = pk.cosmo
    _colossus(cosmo)
    rho_m = RHO_CRIT * cosmo.omega_m
    m = np.exp(_LNM)
    radius = np.cbrt(3.0 * m / (4.0 * math.pi * rho_m))
    sigma = sigma_tophat(pk, radius)
    dlns = np.gradient(np.log(sigma), _LNM)
    f = mass_function.massFunction(sigma, 0.0, q_in="sigma", mdef="200m", model="tinker08", q_out="f")
    dndlnm = f * rho_m / m * np.abs(dlns)
    nu = peaks.collapseOverdensity(z=0.0) / sigma
    b = cbias.haloBiasFromNu(nu, z=0.0, mdef="200m", model="tinker10")
    # cumulative from the top, trapezoids in ln M
    seg = 0.5 * (dndlnm[1:] + dndlnm[:-1]) * np.diff(_LNM)
    segb = 0.5 * (b[1:] * dndlnm[1:] + b[:-1] * dndlnm[:-1]) * np.diff(_LNM)
    cum = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    cumb = np.concatenate([np.cumsum(segb[::-1])[::-1], [0.0]])
    if not cum[-2] < number_density < cum[0]:
        raise ValueError(
            f"number_density {number_density:.3g} (Mpc/h)^-3 is outside the abundance of haloes between "
            f"1e11 and 3e16 M_sun/h ({cum[-2]:.3g} .. {cum[0]:.3g}) for {cosmo}"
        )
    # log-linear interpolation of the cumulative abundance
    lc = np.log(np.maximum(cum[:-1], 1e-300))
    i = int(np.searchsorted(-lc, -math.log(number_density)))  # lc decreasing
    i = min(max(i, 1), len(lc) - 1)
    t = (math.log(number_density) - lc[i - 1]) / (lc[i] - lc[i - 1])
    lnm_min = _LNM[i - 1] + t * (_LNM[i] - _LNM[i - 1])
    # integral of b dn above M_min: the bin's partial share plus the rest
    frac = 1.0 - t
    num_b = cumb[i] + frac * segb[i - 1]
    num = cum[i] + frac * seg[i - 1]
    nu_min = float(np.interp(lnm_min, _LNM, nu))
    return AbundanceMatch(float(num_b / num), float(math.exp(lnm_min)), float(number_density), nu_min)
