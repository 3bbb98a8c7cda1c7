"""Simulators behind the synthetic datasets (numpy/torch only, no PyG):

* :mod:`~gdl.data.sim.nbody_sim` — the charged N-body system of the NRI/EGNN papers;
* :mod:`~gdl.data.sim.galaxy_mocks` — the synthetic galaxy generator (lognormal, Zel'dovich, 2LPT),
  configured by :class:`GalaxyConfig` (:mod:`~gdl.data.sim.galaxy_config`) and checked as a
  cosmologist would by ``python -m gdl.data.sim.galaxy_validate``;
* :mod:`~gdl.data.sim.cosmology` — linear ΛCDM power spectrum and growth rates;
  :mod:`~gdl.data.sim.halos` — halo bias by abundance matching (``colossus``);
* :mod:`~gdl.data.sim.grid` — fields on a periodic N³ grid (FFTs, cloud-in-cell, the cube group on
  grids), also used by the baselines (:mod:`gdl.baselines`).
"""

from .cosmology import Cosmology, LinearPower, growth_rate
from .galaxy_config import GalaxyConfig
from .galaxy_mocks import (
    Cloud,
    CloudNoise,
    CloudParams,
    GalaxyGenerator,
    SecondOrderGenerator,
    ZeldovichGenerator,
    make_generator,
)
from .nbody_sim import NBodyConfig, charged_energy, charged_forces, initial_conditions, simulate_charged

__all__ = [
    "Cloud",
    "CloudNoise",
    "CloudParams",
    "Cosmology",
    "GalaxyConfig",
    "GalaxyGenerator",
    "LinearPower",
    "NBodyConfig",
    "SecondOrderGenerator",
    "ZeldovichGenerator",
    "charged_energy",
    "charged_forces",
    "growth_rate",
    "initial_conditions",
    "make_generator",
    "simulate_charged",
]
