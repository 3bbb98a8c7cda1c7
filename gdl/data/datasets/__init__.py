"""The datasets (PyG ``Dataset`` classes) and their splits:

* :mod:`~gdl.data.datasets.qm9` — :class:`QM9`, read offline from the ``qm9pack`` CSV files
  (:mod:`~gdl.data.datasets._qm9_raw`);
* :mod:`~gdl.data.datasets.nbody` — :class:`NBodyCharged`, trajectories of the charged N-body
  simulator (:mod:`gdl.data.sim.nbody_sim`), cached;
* :mod:`~gdl.data.datasets.galaxy` — :class:`GalaxyClouds`, synthetic galaxy clouds of
  :mod:`gdl.data.sim.galaxy_mocks`, cached;
* :mod:`~gdl.data.datasets.catalogues` — real catalogues on disk (:class:`CosmoBench`,
  :class:`QuijoteTFRecord`, :class:`PointCloudFile`), with the TensorFlow-free TFRecord codec
  :mod:`~gdl.data.datasets.tfrecord`;
* :mod:`~gdl.data.datasets.splits` — the named split registry and nested training subsets.
"""

from .catalogues import CosmoBench, PointCloudFile, QuijoteTFRecord
from .galaxy import GalaxyClouds, cloud_to_data
from .nbody import NBODY_SPLIT_SIZES, NBODY_TRAIN_SIZES, NBodyCharged
from .qm9 import QM9, mulliken_multipoles, qm9_atomref, qm9_target_index
from .splits import SPLITS, SplitSpec, nested_subset, register_split, split_indices

__all__ = [
    "NBODY_SPLIT_SIZES",
    "NBODY_TRAIN_SIZES",
    "QM9",
    "SPLITS",
    "CosmoBench",
    "GalaxyClouds",
    "NBodyCharged",
    "PointCloudFile",
    "QuijoteTFRecord",
    "SplitSpec",
    "cloud_to_data",
    "mulliken_multipoles",
    "nested_subset",
    "qm9_atomref",
    "qm9_target_index",
    "register_split",
    "split_indices",
]
