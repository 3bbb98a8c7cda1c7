"""Configuration of the synthetic galaxy clouds (:class:`GalaxyConfig`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["BIAS_MODELS", "DEFAULT_BIAS", "MODES", "QUIJOTE_NUISANCE", "GalaxyConfig"]

#: Generation modes (:data:`gdl.data.sim.galaxy_mocks.GENERATORS` maps them to generator classes).
MODES: tuple[str, ...] = ("lognormal", "zeldovich", "2lpt")
#: Bias models besides a number or a (low, high) range: ``"halo"`` (abundance matching,
#: :mod:`gdl.data.sim.halos`) and ``"selection"`` (2LPT mode: predicted from the Lagrangian threshold).
BIAS_MODELS: tuple[str, ...] = ("halo", "selection")
#: Default bias of each mode (``bias=None``).
DEFAULT_BIAS = {"lognormal": "halo", "zeldovich": 2.0, "2lpt": "selection"}
#: Quijote-like ranges of the nuisance parameters (Latin hypercube of Villaescusa-Navarro et al.
#: 2020: Ωb 0.03–0.07, h 0.5–0.9, n_s 0.8–1.2). Ωb is capped at 0.05 so that Ωb/Ωm <= 0.5 holds
#: at Ωm = 0.1 (validity of the Eisenstein-Hu fits).
QUIJOTE_NUISANCE = {"omega_b": (0.03, 0.05), "h": (0.5, 0.9), "n_s": (0.8, 1.2)}


def _range(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, bool) or isinstance(value, str):
        raise ValueError(f"GalaxyConfig.{name} must be a number or a (low, high) pair, got {value!r}")
    if isinstance(value, (int, float)):
        lo = hi = float(value)
    else:
        vals = [float(v) for v in value]
        if len(vals) != 2:
            raise ValueError(f"GalaxyConfig.{name} must be a number or a (low, high) pair, got {value!r}")
        lo, hi = vals
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"GalaxyConfig.{name} must satisfy 0 < low <= high, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class GalaxyConfig:
    """Every knob of the synthetic galaxy clouds (defaults: ``docs/datasets.md``).

    Args:
        box_size: side L of the periodic cube (Mpc/h). Default ``1000.0``.
        num_points: points per cloud; lognormal mode places any number (several per cell
            allowed), Zel'dovich mode at most ``grid**3`` (one per Lagrangian cell). Default ``5000``.
        grid: N of the N³ Fourier grid. Default ``64``.
        mode: ``"lognormal"`` (default), ``"zeldovich"`` or ``"2lpt"`` (:mod:`gdl.data.sim.galaxy_mocks`).
        bias: the tracers' linear bias: a number, a ``(low, high)`` range drawn per cloud,
            ``"halo"`` (abundance matching of the ``num_points`` most massive haloes of the box,
            Tinker et al. via ``colossus``: :mod:`gdl.data.sim.halos`) or, in 2LPT mode only,
            ``"selection"`` (predicted from the Lagrangian threshold). ``None`` picks the mode's
            default: ``"halo"`` (lognormal), ``2.0`` (Zel'dovich), ``"selection"`` (2LPT).
            Default ``None``.
        power: linear power-spectrum source, ``"eisenstein_hu"`` (with baryon wiggles),
            ``"no_wiggle"`` or ``"camb"`` (needs the ``galaxy`` extra; ~3 s per new (Ωm, Ωb, h)).
            Default ``"eisenstein_hu"``.
        omega_m: range of Ωm (uniform). Default ``(0.1, 0.5)``.
        sigma_8: range of σ8 (uniform). Default ``(0.6, 1.0)``.
        velocity_dispersion: isotropic Gaussian σ_v added to each velocity component (km/s). Default ``0.0``.
        shape_noise: standard deviation of each ``2e`` component of the shape noise. Default ``0.5``.
        alignment: amplitude A_IA of the linear alignment signal (per component rms). Default ``1.0``.
        shape_smoothing: Gaussian smoothing R of the tidal field (Mpc/h), at least one cell;
            ``None`` = two cells. Default ``None``.
        rsd: move points to redshift space along z (:math:`s_z = z + v_z/100`). Default ``False``.
        anisotropy: ε in :math:`P(k)(1 + \\varepsilon\\mu^2)`, > -1; 0 keeps statistical isotropy.
            Default ``0.0``.
        h, omega_b, n_s: nuisance cosmological parameters, each a number or a ``(low, high)``
            range drawn per cloud (:data:`QUIJOTE_NUISANCE` holds Quijote-like ranges). Defaults
            ``0.6711``, ``0.049``, ``0.9624`` (Quijote's fiducial values).
    """

    box_size: float = 1000.0
    num_points: int = 5000
    grid: int = 64
    mode: str = "lognormal"
    bias: float | tuple[float, float] | str | None = None
    power: str = "eisenstein_hu"
    omega_m: tuple[float, float] = (0.1, 0.5)
    sigma_8: tuple[float, float] = (0.6, 1.0)
    velocity_dispersion: float = 0.0
    shape_noise: float = 0.5
    alignment: float = 1.0
    shape_smoothing: float | None = None
    rsd: bool = False
    anisotropy: float = 0.0
    h: float | tuple[float, float] = 0.6711
    omega_b: float | tuple[float, float] = 0.049
    n_s: float | tuple[float, float] = 0.9624

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if not (
            isinstance(self.box_size, (int, float)) and math.isfinite(self.box_size) and self.box_size > 0
        ):
            raise ValueError(f"GalaxyConfig.box_size must be > 0 (Mpc/h), got {self.box_size!r}")
        set_("box_size", float(self.box_size))
        if int(self.grid) != self.grid or self.grid < 4:
            raise ValueError(f"GalaxyConfig.grid must be an integer >= 4, got {self.grid!r}")
        set_("grid", int(self.grid))
        if int(self.num_points) != self.num_points or self.num_points < 1:
            raise ValueError(f"GalaxyConfig.num_points must be a positive integer, got {self.num_points!r}")
        set_("num_points", int(self.num_points))
        if self.mode not in MODES:
            raise ValueError(f"GalaxyConfig.mode must be one of {sorted(MODES)}, got {self.mode!r}")
        if self.mode in ("zeldovich", "2lpt") and self.num_points >= self.grid**3:
            raise ValueError(
                f"cannot place {self.num_points} points: {self.mode} mode puts at most one point in each "
                f"of the {self.grid}^3 = {self.grid**3} Lagrangian cells (and needs fewer points than "
                "cells to select by density); raise grid or lower num_points"
            )
        from .cosmology import POWER_SOURCES

        if self.power not in POWER_SOURCES:
            raise ValueError(f"GalaxyConfig.power must be one of {list(POWER_SOURCES)}, got {self.power!r}")
        bias = DEFAULT_BIAS[self.mode] if self.bias is None else self.bias
        if self.mode == "2lpt" and bias != "selection":
            raise ValueError(
                "GalaxyConfig.bias='selection' is the 2lpt mode's bias (its bias is predicted from the "
                f"Lagrangian threshold; request a bias in zeldovich mode instead), got bias={bias!r}"
            )
        if isinstance(bias, str):
            if bias not in BIAS_MODELS:
                raise ValueError(
                    f"GalaxyConfig.bias must be a number, a (low, high) pair or one of {list(BIAS_MODELS)}, "
                    f"got {bias!r}"
                )
            if (bias == "selection") != (self.mode == "2lpt"):
                raise ValueError(
                    "GalaxyConfig.bias='selection' is the 2lpt mode's bias (and the only one it has: "
                    "its bias is predicted from the Lagrangian threshold); got "
                    f"bias={bias!r} with mode={self.mode!r}"
                )
            set_("bias", bias)
        else:
            lo, hi = _range(bias, "bias")
            set_("bias", lo if lo == hi else (lo, hi))
        set_("omega_m", _range(self.omega_m, "omega_m"))
        set_("sigma_8", _range(self.sigma_8, "sigma_8"))
        for name in ("omega_b", "h", "n_s"):
            v = getattr(self, name)
            if name == "omega_b" and isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0:
                lo = hi = 0.0
            else:
                lo, hi = _range(v, name)
            set_(name, lo if lo == hi else (lo, hi))
        from .cosmology import _RANGES

        for name in ("h", "n_s"):
            lo, hi = _RANGES[name]
            v = getattr(self, name)
            vlo, vhi = (v, v) if isinstance(v, float) else v
            if not lo <= vlo <= vhi <= hi:
                raise ValueError(f"GalaxyConfig.{name} must lie in [{lo}, {hi}], got {v}")
        ob_hi = self.omega_b if isinstance(self.omega_b, float) else self.omega_b[1]
        if self.omega_m[0] <= ob_hi or self.omega_m[1] > 1:
            raise ValueError(f"GalaxyConfig.omega_m must lie in (omega_b={ob_hi}, 1], got {self.omega_m}")
        if self.power != "camb" and ob_hi > 0.5 * self.omega_m[0]:
            raise ValueError(
                f"GalaxyConfig.omega_b up to {ob_hi} with omega_m from {self.omega_m[0]} gives "
                f"omega_b/omega_m = {ob_hi / self.omega_m[0]:.3g} > 0.5, outside the validity of the "
                f"Eisenstein-Hu power spectrum ({self.power!r}); lower omega_b or use power='camb'"
            )
        if self.sigma_8[1] > 3:
            raise ValueError(f"GalaxyConfig.sigma_8 must lie in (0, 3], got {self.sigma_8}")
        for name in ("velocity_dispersion", "shape_noise", "alignment"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"GalaxyConfig.{name} must be >= 0, got {v!r}")
        if not (math.isfinite(self.anisotropy) and self.anisotropy > -1):
            raise ValueError(
                f"GalaxyConfig.anisotropy must be > -1 so that P(k)(1 + eps mu^2) > 0, got {self.anisotropy}"
            )
        if self.shape_smoothing is not None and not self.shape_smoothing >= self.cell_size:
            raise ValueError(
                "grid too coarse for the requested smoothing: "
                f"shape_smoothing={self.shape_smoothing} Mpc/h is below "
                f"the cell size box_size/grid = {self.cell_size:.4g} Mpc/h; raise grid or the smoothing"
            )
        set_("rsd", bool(self.rsd))

    @property
    def cell_size(self) -> float:
        return self.box_size / self.grid

    @property
    def smoothing(self) -> float:
        """The tidal smoothing scale in Mpc/h (two cells unless set)."""
        return 2.0 * self.cell_size if self.shape_smoothing is None else float(self.shape_smoothing)

    @classmethod
    def from_any(
        cls, config: GalaxyConfig | Mapping[str, Any] | None = None, **overrides: Any
    ) -> GalaxyConfig:
        """A config from a ``GalaxyConfig``, a mapping (e.g. a Hydra node) or ``None``, with overrides."""
        if config is None:
            base = cls()
        elif isinstance(config, cls):
            base = config
        elif isinstance(config, Mapping):
            unknown = sorted(set(config) - {f.name for f in fields(cls)})
            if unknown:
                raise TypeError(
                    f"unknown GalaxyConfig field(s) {unknown}; known: {[f.name for f in fields(cls)]}"
                )
            base = cls(
                **{
                    k: (tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v)
                    for k, v in config.items()
                }
            )
        else:
            raise TypeError(f"cannot make a GalaxyConfig from {type(config).__name__}")
        return replace(base, **overrides) if overrides else base

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
