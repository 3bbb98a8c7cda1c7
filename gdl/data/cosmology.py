r"""Linear ΛCDM power spectrum for the synthetic galaxy clouds (numpy only).

Units: comoving Mpc/h, wavenumbers k in h/Mpc, power in (Mpc/h)³, redshift 0.

* :func:`transfer_no_wiggle` — the Eisenstein & Hu (1998) no-wiggle transfer function, their
  eqs. (26)–(31) (`arXiv:astro-ph/9709112 <https://arxiv.org/abs/astro-ph/9709112>`_):

  .. math::
      s = \frac{44.5 \ln(9.83/\Omega_m h^2)}{\sqrt{1 + 10 (\Omega_b h^2)^{3/4}}}\,\mathrm{Mpc},\quad
      \alpha_\Gamma = 1 - 0.328 \ln(431\,\Omega_m h^2) f_b + 0.38 \ln(22.3\,\Omega_m h^2) f_b^2,

      \Gamma_\mathrm{eff}(k) = \Omega_m h \Big[\alpha_\Gamma
          + \frac{1 - \alpha_\Gamma}{1 + (0.43\,k h s)^4}\Big],\quad
      q = \frac{k\,\Theta_{2.7}^2}{\Gamma_\mathrm{eff}},\quad
      T = \frac{L_0}{L_0 + C_0 q^2},\ L_0 = \ln(2e + 1.8 q),\ C_0 = 14.2 + \frac{731}{1 + 62.5 q}

  with :math:`f_b = \Omega_b/\Omega_m` and :math:`\Theta_{2.7} = T_\mathrm{CMB}/2.7\,\mathrm{K}`.
* :class:`LinearPower` — :math:`P(k) = A k^{n_s} T(k)^2` with :math:`A` fixed by
  :math:`\sigma_8^2 = \int d\ln k\, k^3 P(k) W(8k)^2 / 2\pi^2`,
  :math:`W(x) = 3(\sin x - x \cos x)/x^3`.
* :func:`growth_rate` — :math:`f \approx \Omega_m^{0.55}` (flat ΛCDM at z = 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Cosmology", "LinearPower", "growth_rate", "sigma_tophat", "tophat_window", "transfer_no_wiggle"]

#: CMB temperature (K) used by the transfer function.
T_CMB = 2.7255
# integration grid for σ(R): ln k from 1e-5 to 1e3 h/Mpc, fine enough for 1e-6 relative accuracy
_LNK = np.linspace(math.log(1e-5), math.log(1e3), 4097)


@dataclass(frozen=True)
class Cosmology:
    """Flat ΛCDM parameters (Quijote's fiducial h, Ωb, n_s by default).

    Args:
        omega_m: matter density Ωm (must exceed ``omega_b``).
        sigma_8: rms linear fluctuation in spheres of 8 Mpc/h at z = 0.
        h: Hubble parameter H0 / (100 km/s/Mpc). Default ``0.6711``.
        omega_b: baryon density Ωb. Default ``0.049``.
        n_s: primordial spectral index. Default ``0.9624``.
    """

    omega_m: float
    sigma_8: float
    h: float = 0.6711
    omega_b: float = 0.049
    n_s: float = 0.9624

    def __post_init__(self) -> None:
        for name in ("omega_m", "sigma_8", "h"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"Cosmology.{name} must be a positive number, got {v}")
        if not (0 <= self.omega_b < self.omega_m):
            raise ValueError(
                f"Cosmology needs 0 <= omega_b < omega_m, got omega_b={self.omega_b}, omega_m={self.omega_m}"
            )
        if self.omega_m > 1:
            raise ValueError(f"Cosmology.omega_m must be <= 1 (flat universe), got {self.omega_m}")


def transfer_no_wiggle(k: np.ndarray, cosmo: Cosmology) -> np.ndarray:
    """Eisenstein & Hu (1998) no-wiggle transfer function :math:`T(k)` (module docstring); ``k`` in h/Mpc."""
    k = np.asarray(k, dtype=np.float64)
    h, om, ob = cosmo.h, cosmo.omega_m, cosmo.omega_b
    omh2, obh2, fb = om * h * h, ob * h * h, ob / om
    theta = T_CMB / 2.7
    s = 44.5 * math.log(9.83 / omh2) / math.sqrt(1.0 + 10.0 * obh2**0.75)  # sound horizon, Mpc
    alpha = 1.0 - 0.328 * math.log(431.0 * omh2) * fb + 0.38 * math.log(22.3 * omh2) * fb * fb
    gamma = om * h * (alpha + (1.0 - alpha) / (1.0 + (0.43 * k * h * s) ** 4))
    q = k * theta * theta / gamma
    L0 = np.log(2.0 * math.e + 1.8 * q)
    C0 = 14.2 + 731.0 / (1.0 + 62.5 * q)
    return L0 / (L0 + C0 * q * q)


def tophat_window(x: np.ndarray) -> np.ndarray:
    """Fourier transform of a spherical top hat, :math:`3(\\sin x - x\\cos x)/x^3` (1 at x = 0)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.ones_like(x)
    big = x > 1e-3
    xb = x[big]
    out[big] = 3.0 * (np.sin(xb) - xb * np.cos(xb)) / xb**3
    small = ~big
    out[small] = 1.0 - x[small] ** 2 / 10.0
    return out


def sigma_tophat(power: Callable[[np.ndarray], np.ndarray], radius: float) -> float:
    """rms of the linear field smoothed with a spherical top hat of ``radius`` Mpc/h, for a power
    spectrum ``power(k)`` (k in h/Mpc)."""
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    k = np.exp(_LNK)
    integrand = k**3 * power(k) * tophat_window(k * radius) ** 2 / (2 * math.pi**2)
    return math.sqrt(float(np.trapezoid(integrand, _LNK)))


class LinearPower:
    """Linear matter power spectrum :math:`P(k) = A k^{n_s} T(k)^2` at z = 0, normalised to σ8.

    Args:
        cosmo: the :class:`Cosmology`.

    Calling it with ``k`` (h/Mpc, any shape) returns ``P(k)`` in (Mpc/h)³ (0 at k = 0).
    """

    def __init__(self, cosmo: Cosmology):
        self.cosmo = cosmo
        shape = lambda k: k**cosmo.n_s * transfer_no_wiggle(k, cosmo) ** 2  # noqa: E731
        self.amplitude = (cosmo.sigma_8 / sigma_tophat(shape, 8.0)) ** 2

    def __call__(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.float64)
        if np.any(k < 0):
            raise ValueError("wavenumbers k must be >= 0")
        return self.amplitude * k**self.cosmo.n_s * transfer_no_wiggle(k, self.cosmo) ** 2

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cosmo})"


def growth_rate(omega_m: float) -> float:
    """Linear growth rate :math:`f = d\\ln D/d\\ln a \\approx \\Omega_m^{0.55}` at z = 0 (flat ΛCDM)."""
    if not omega_m > 0:
        raise ValueError(f"omega_m must be > 0, got {omega_m}")
    return float(omega_m**0.55)
