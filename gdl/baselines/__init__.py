"""Domain baselines that are not networks (numpy/scipy only, no torch models).

The benchmarks behind gdl's galaxy tasks found that these rival graph networks, so gdl's
ablation tables include them: the periodic two-point function and the CosmoBench pair-distance
features with least squares for (Ωm, σ8), and linear-theory velocity reconstruction.
``python -m gdl.baselines.galaxy_scores`` runs them on synthetic clouds; ``python -m gdl.baselines.ablation
SWEEP`` runs them on the clouds of a galaxy ``gdl-train -m`` sweep and writes them as run directories
of that sweep, so that ``gdl-ablate`` shows them as rows of the same tables.
"""

from .power import PowerSpectrum, bin_modes, mode_power, power_spectrum
from .regression import LeastSquares, RidgeCV, bootstrap_r2, r2_score
from .two_point import (
    PairDistanceFeatures,
    TwoPointFeatures,
    analytic_random_pairs,
    pair_counts,
    pair_distance_features,
    pair_distances,
    tpcf,
)
from .velocity import LinearTheoryVelocity, linear_displacement

__all__ = [
    "LeastSquares",
    "LinearTheoryVelocity",
    "PairDistanceFeatures",
    "PowerSpectrum",
    "RidgeCV",
    "TwoPointFeatures",
    "analytic_random_pairs",
    "bin_modes",
    "bootstrap_r2",
    "linear_displacement",
    "mode_power",
    "pair_counts",
    "pair_distance_features",
    "pair_distances",
    "power_spectrum",
    "r2_score",
    "tpcf",
]
