"""GalaxyDataModule: clouds split by cloud, periodic graphs."""

import pytest

from gdl.data import PeriodicKNNGraph
from gdl.data.datamodules import GalaxyDataModule


def test_galaxy(tmp_path):
    dm = GalaxyDataModule(
        ["velocity:node:1o", "omega_m"],
        num_clouds=8,
        config={"num_points": 200, "grid": 16, "box_size": 500.0},
        root=tmp_path,
        val_size=2,
        test_size=2,
        train_size=3,
        graph=PeriodicKNNGraph(4),
        batch_size=2,
    )
    dm.prepare_data()
    dm.setup()
    assert dm.sizes == {"train": 3, "val": 2, "test": 2}
    batch = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    assert batch.edge_vec.shape == (2 * 200 * 4, 3) and batch.velocity.shape == (400, 3)
    with pytest.raises(ValueError, match="no training cloud"):
        GalaxyDataModule(["omega_m"], num_clouds=4, val_size=2, test_size=2, root=tmp_path)
