r"""Linear ΛCDM power spectrum and growth rate for the synthetic galaxy clouds.

Units: comoving Mpc/h, wavenumbers k in h/Mpc, power in (Mpc/h)³, redshift 0, flat ΛCDM without
massive neutrinos.

* :func:`transfer_eisenstein_hu` — the Eisenstein & Hu (1998) transfer function *with* baryon
  acoustic oscillations, their eqs. (2)–(24)
  (`arXiv:astro-ph/9709112 <https://arxiv.org/abs/astro-ph/9709112>`_):
  :math:`T = f_b T_b + f_c T_c` with the CDM part :math:`T_c` (eqs. 17–20) and the baryon part
  :math:`T_b = [\tilde T_0(k,1,1)/(1 + (ks/5.2)^2) + \alpha_b e^{-(k/k_\mathrm{Silk})^{1.4}}
  /(1 + (\beta_b/ks)^3)]\, j_0(k\tilde s)` (eqs. 21–24).
* :func:`transfer_no_wiggle` — their no-wiggle form, eqs. (26)–(31):

  .. math::
      \Gamma_\mathrm{eff}(k) = \Omega_m h \Big[\alpha_\Gamma
          + \frac{1 - \alpha_\Gamma}{1 + (0.43\,k h s)^4}\Big],\quad
      q = \frac{k\,\Theta_{2.7}^2}{\Gamma_\mathrm{eff}},\quad
      T = \frac{L_0}{L_0 + C_0 q^2},\ L_0 = \ln(2e + 1.8 q),\ C_0 = 14.2 + \frac{731}{1 + 62.5 q}.
* :func:`camb_transfer` — the CDM + baryon transfer function from CAMB (``pip install camb``, part of
  the ``galaxy`` extra), cached per (Ωm, Ωb, h).
* :class:`LinearPower` — :math:`P(k) = A k^{n_s} T(k)^2` for a chosen ``source``
  (:data:`POWER_SOURCES`), with :math:`A` fixed by
  :math:`\sigma_8^2 = \int d\ln k\, k^3 P(k) W(8k)^2 / 2\pi^2`, :math:`W(x) = 3(\sin x - x \cos x)/x^3`.
* :func:`growth_rate` — the exact linear growth rate of flat ΛCDM at z = 0 (no radiation):
  with :math:`E^2(a) = \Omega_m a^{-3} + 1 - \Omega_m`,
  :math:`D \propto E(a)\int_0^a da'/(a'E)^3` and so
  :math:`f = d\ln D/d\ln a = -\tfrac32\Omega_m + 1/\int_0^1 da/(aE)^3` at a = 1
  (:math:`\Omega_m^{0.55}` is 3% high at Ωm = 0.1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "POWER_SOURCES",
    "Cosmology",
    "LinearPower",
    "camb_transfer",
    "growth_rate",
    "require_extra",
    "second_order_growth_rate",
    "sigma_tophat",
    "tophat_window",
    "transfer_eisenstein_hu",
    "transfer_no_wiggle",
]

#: CMB temperature (K) used by the transfer functions.
T_CMB = 2.7255
#: Power-spectrum sources of :class:`LinearPower`.
POWER_SOURCES: tuple[str, ...] = ("eisenstein_hu", "no_wiggle", "camb")
# integration grid for σ(R): ln k from 1e-5 to 1e3 h/Mpc, fine enough for 1e-6 relative accuracy
_LNK = np.linspace(math.log(1e-5), math.log(1e3), 4097)
# validity of the Eisenstein-Hu fits (their Sect. 2: 0.025 <= Ωm h² <= 0.25 for the wiggles' fit,
# Ωb/Ωm <= 0.5); checked by Cosmology for every source
_RANGES = {"h": (0.2, 1.5), "n_s": (0.5, 1.5), "omega_m": (0.01, 1.0), "sigma_8": (0.0, 3.0)}


def require_extra(module: str, what: str):
    """Import an optional dependency of the ``galaxy`` extra, or fail naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{what} needs the optional package {module!r} of the 'galaxy' extra: "
            f"pip install 'gdl[galaxy]' (or pip install {module})"
        ) from e


@dataclass(frozen=True)
class Cosmology:
    """Flat ΛCDM parameters (Quijote's fiducial h, Ωb, n_s by default).

    Args:
        omega_m: matter density Ωm, in (Ωb, 1].
        sigma_8: rms linear fluctuation in spheres of 8 Mpc/h at z = 0, in (0, 3].
        h: Hubble parameter H0 / (100 km/s/Mpc), in [0.2, 1.5]. Default ``0.6711``.
        omega_b: baryon density Ωb, in [0, Ωm) (:class:`LinearPower` with an Eisenstein-Hu source
            needs Ωb <= Ωm/2). Default ``0.049``.
        n_s: primordial spectral index, in [0.5, 1.5]. Default ``0.9624``.
    """

    omega_m: float
    sigma_8: float
    h: float = 0.6711
    omega_b: float = 0.049
    n_s: float = 0.9624

    def __post_init__(self) -> None:
        for name in ("omega_m", "sigma_8", "h", "omega_b", "n_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"Cosmology.{name} must be a finite number, got {v!r}")
        for name in ("omega_m", "sigma_8", "h"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Cosmology.{name} must be a positive number, got {getattr(self, name)}")
        if not (0 <= self.omega_b < self.omega_m):
            raise ValueError(
                f"Cosmology needs 0 <= omega_b < omega_m, got omega_b={self.omega_b}, omega_m={self.omega_m}"
            )
        if self.omega_m > 1:
            raise ValueError(f"Cosmology.omega_m must be <= 1 (flat universe), got {self.omega_m}")
        for name, (lo, hi) in _RANGES.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ValueError(f"Cosmology.{name} must lie in [{lo}, {hi}], got {v}")

    @property
    def omega_c(self) -> float:
        return self.omega_m - self.omega_b


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


def transfer_eisenstein_hu(k: np.ndarray, cosmo: Cosmology) -> np.ndarray:
    """Eisenstein & Hu (1998) transfer function with baryon acoustic oscillations (module
    docstring); ``k`` in h/Mpc. Equation numbers below are theirs."""
    k = np.asarray(k, dtype=np.float64) * cosmo.h  # 1/Mpc
    h, om, ob = cosmo.h, cosmo.omega_m, cosmo.omega_b
    omh2, obh2 = om * h * h, ob * h * h
    fb, fc = ob / om, (om - ob) / om
    theta = T_CMB / 2.7
    z_eq = 2.50e4 * omh2 * theta**-4  # (2)
    k_eq = 7.46e-2 * omh2 * theta**-2  # (3), 1/Mpc
    b1 = 0.313 * omh2**-0.419 * (1.0 + 0.607 * omh2**0.674)  # (4)
    b2 = 0.238 * omh2**0.223
    z_d = 1291.0 * omh2**0.251 / (1.0 + 0.659 * omh2**0.828) * (1.0 + b1 * obh2**b2)
    R = lambda z: 31.5 * obh2 * theta**-4 * (1000.0 / z)  # noqa: E731  (5)
    r_d, r_eq = R(z_d), R(z_eq)
    s = (  # (6), sound horizon in Mpc
        2.0
        / (3.0 * k_eq)
        * math.sqrt(6.0 / r_eq)
        * math.log((math.sqrt(1.0 + r_d) + math.sqrt(r_d + r_eq)) / (1.0 + math.sqrt(r_eq)))
    )
    k_silk = 1.6 * obh2**0.52 * omh2**0.73 * (1.0 + (10.4 * omh2) ** -0.95)  # (7)
    q = k / (13.41 * k_eq)  # (10)
    a1 = (46.9 * omh2) ** 0.670 * (1.0 + (32.1 * omh2) ** -0.532)  # (11)
    a2 = (12.0 * omh2) ** 0.424 * (1.0 + (45.0 * omh2) ** -0.582)
    alpha_c = a1**-fb * a2 ** (-(fb**3))
    bb1 = 0.944 / (1.0 + (458.0 * omh2) ** -0.708)  # (12)
    bb2 = (0.395 * omh2) ** -0.0266
    beta_c = 1.0 / (1.0 + bb1 * (fc**bb2 - 1.0))

    def t0(alpha: float, beta: float) -> np.ndarray:  # (19), (20)
        lg = np.log(math.e + 1.8 * beta * q)
        c = 14.2 / alpha + 386.0 / (1.0 + 69.9 * q**1.08)
        return lg / (lg + c * q * q)

    ks = k * s
    f = 1.0 / (1.0 + (ks / 5.4) ** 4)  # (18)
    t_c = f * t0(1.0, beta_c) + (1.0 - f) * t0(alpha_c, beta_c)  # (17)
    y = (1.0 + z_eq) / (1.0 + z_d)  # (15)
    sq = math.sqrt(1.0 + y)
    g = y * (-6.0 * sq + (2.0 + 3.0 * y) * math.log((sq + 1.0) / (sq - 1.0)))
    alpha_b = 2.07 * k_eq * s * (1.0 + r_d) ** -0.75 * g  # (14)
    beta_node = 8.41 * omh2**0.435  # (23)
    beta_b = 0.5 + fb + (3.0 - 2.0 * fb) * math.sqrt((17.2 * omh2) ** 2 + 1.0)  # (24)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s_tilde = s / np.cbrt(1.0 + (beta_node / ks) ** 3)  # (22)
        x = k * s_tilde
        j0 = np.where(x > 1e-6, np.sin(x) / np.where(x > 1e-6, x, 1.0), 1.0)
        t_b = (
            t0(1.0, 1.0) / (1.0 + (ks / 5.2) ** 2)
            + alpha_b / (1.0 + (beta_b / ks) ** 3) * np.exp(-((k / k_silk) ** 1.4))
        ) * j0  # (21)
    t_b = np.where(k > 0, t_b, 1.0)
    return fb * t_b + fc * t_c


@functools.lru_cache(maxsize=64)
def _camb_table(omega_m: float, omega_b: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    camb = require_extra("camb", "the 'camb' power-spectrum source")
    pars = camb.set_params(
        H0=100.0 * h,
        ombh2=omega_b * h * h,
        omch2=(omega_m - omega_b) * h * h,
        mnu=0.0,
        num_massive_neutrinos=0,
        ns=1.0,
        As=2e-9,
        WantTransfer=True,
        kmax=25.0,
        redshifts=[0.0],
        TCMB=T_CMB,
    )
    pars.NonLinear = camb.model.NonLinear_none
    res = camb.get_results(pars)
    kh, _, pk = res.get_matter_power_spectrum(minkh=1e-4, maxkh=20.0, npoints=700)
    # with n_s = 1, P ∝ k T² up to a constant: T² = P / k, normalised to 1 on large scales
    t2 = pk[0] / kh
    return np.log(kh), 0.5 * np.log(t2 / t2[0])


def camb_transfer(k: np.ndarray, cosmo: Cosmology) -> np.ndarray:
    """The CDM + baryon transfer function from CAMB (linear, z = 0, no massive neutrinos),
    normalised to 1 at k = 1e-4 h/Mpc; computed once per (Ωm, Ωb, h) and cached (a CAMB run takes
    ~3 s). Interpolated in ln k; below 1e-4 h/Mpc T = 1, above 20 h/Mpc extrapolated as the
    Eisenstein-Hu shape."""
    lnk, lnt = _camb_table(float(cosmo.omega_m), float(cosmo.omega_b), float(cosmo.h))
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lk = np.log(np.maximum(k, 1e-300))
    out = np.exp(np.interp(lk, lnk, lnt, left=0.0, right=lnt[-1]))
    high = k > math.exp(lnk[-1])
    if np.any(high):
        kmax = math.exp(lnk[-1])
        eh = transfer_no_wiggle(np.array([kmax]), cosmo)[0]
        out[high] = math.exp(lnt[-1]) * transfer_no_wiggle(k[high], cosmo) / eh
    return out


_TRANSFER: dict[str, Callable[[np.ndarray, Cosmology], np.ndarray]] = {
    "eisenstein_hu": transfer_eisenstein_hu,
    "no_wiggle": transfer_no_wiggle,
    "camb": camb_transfer,
}


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


def sigma_tophat(power: Callable[[np.ndarray], np.ndarray], radius: float | np.ndarray) -> float | np.ndarray:
    """rms of the linear field smoothed with a spherical top hat of ``radius`` Mpc/h (a number or
    an array), for a power spectrum ``power(k)`` (k in h/Mpc)."""
    r = np.asarray(radius, dtype=np.float64)
    if not np.all(r > 0):
        raise ValueError(f"radius must be > 0, got {radius}")
    k = np.exp(_LNK)
    base = k**3 * power(k) / (2 * math.pi**2)
    w = tophat_window(k * r[..., None]) ** 2
    out = np.sqrt(np.trapezoid(base * w, _LNK, axis=-1))
    return float(out) if out.ndim == 0 else out


class LinearPower:
    """Linear matter power spectrum :math:`P(k) = A k^{n_s} T(k)^2` at z = 0, normalised to σ8.

    Args:
        cosmo: the :class:`Cosmology`.
        source: the transfer function, one of :data:`POWER_SOURCES`: ``"eisenstein_hu"`` (with
            baryon wiggles), ``"no_wiggle"`` or ``"camb"`` (needs the ``galaxy`` extra).
            Default ``"eisenstein_hu"``.

    Calling it with ``k`` (h/Mpc, any shape) returns ``P(k)`` in (Mpc/h)³ (0 at k = 0).
    """

    def __init__(self, cosmo: Cosmology, source: str = "eisenstein_hu"):
        if source not in _TRANSFER:
            raise ValueError(f"power source must be one of {list(POWER_SOURCES)}, got {source!r}")
        if source != "camb" and cosmo.omega_b > 0.5 * cosmo.omega_m:
            raise ValueError(
                f"omega_b={cosmo.omega_b} > omega_m/2={0.5 * cosmo.omega_m}: outside the validity of the "
                f"Eisenstein-Hu fits (power source {source!r}); use source='camb' or lower omega_b"
            )
        self.cosmo, self.source = cosmo, source
        self._transfer = _TRANSFER[source]
        self.amplitude = 1.0
        self.amplitude = (cosmo.sigma_8 / sigma_tophat(self, 8.0)) ** 2

    def __call__(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.float64)
        if np.any(k < 0):
            raise ValueError("wavenumbers k must be >= 0")
        return self.amplitude * k**self.cosmo.n_s * self._transfer(k, self.cosmo) ** 2

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cosmo}, source={self.source!r})"


@functools.lru_cache(maxsize=4096)
def _growth_integral(omega_m: float) -> float:
    from scipy.integrate import quad

    ol = 1.0 - omega_m
    # ∫_0^1 da / (a E)^3 with (a E)^2 = Ωm/a + Ωλ a²; integrand ~ a^{3/2}/Ωm^{3/2} near 0
    val, _ = quad(
        lambda a: (omega_m / a + ol * a * a) ** -1.5 if a > 0 else 0.0,
        0.0,
        1.0,
        epsabs=0.0,
        epsrel=1e-11,
        limit=200,
    )
    return val


def growth_rate(omega_m: float) -> float:
    """Exact linear growth rate :math:`f = d\\ln D/d\\ln a` of flat ΛCDM at z = 0 (module docstring)."""
    if not (isinstance(omega_m, (int, float)) and 0 < omega_m <= 1):
        raise ValueError(f"omega_m must lie in (0, 1], got {omega_m}")
    return float(-1.5 * omega_m + 1.0 / _growth_integral(float(omega_m)))


def second_order_growth_rate(omega_m: float) -> float:
    """Growth rate of the second-order (2LPT) displacement, :math:`f_2 \\approx 2\\Omega_m^{6/11}`
    (Bouchet et al. 1995), at z = 0."""
    if not (isinstance(omega_m, (int, float)) and 0 < omega_m <= 1):
        raise ValueError(f"omega_m must lie in (0, 1], got {omega_m}")
    return float(2.0 * omega_m ** (6.0 / 11.0))
