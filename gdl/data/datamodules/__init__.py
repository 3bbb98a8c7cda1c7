"""Lightning data modules, one per dataset (``<dataset>_datamodule.py``, as in the
lightning-hydra-template), on the shared machinery of :class:`GraphDataModule`
(:mod:`~gdl.data.datamodules.graph_datamodule`: target checks, splits, graphs, standardisation,
seeded shuffling, DDP).

This package imports Lightning (the ``train`` extra); ``import gdl.data`` does not. The Hydra
configs name the classes by this package: ``_target_: gdl.data.datamodules.QM9DataModule``.
"""

from .galaxy_datamodule import GalaxyDataModule
from .graph_datamodule import GraphDataModule
from .nbody_datamodule import NBodyDataModule
from .qm9_datamodule import QM9DataModule

__all__ = ["GalaxyDataModule", "GraphDataModule", "NBodyDataModule", "QM9DataModule"]
