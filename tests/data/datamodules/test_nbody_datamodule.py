"""NBodyDataModule: separately seeded simulations."""

import pytest
import torch

from gdl.data.datamodules import NBodyDataModule


@pytest.fixture(scope="module")
def nbody_dm(tmp_path_factory):
    dm = NBodyDataModule(
        root=tmp_path_factory.getbasetemp() / "nbody", train_size=40, val_size=20, test_size=30, batch_size=16
    )
    dm.prepare_data()
    dm.setup()
    return dm


def test_nbody(nbody_dm):
    dm = nbody_dm
    assert dm.sizes == {"train": 40, "val": 20, "test": 30}
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch.num_graphs == 16 and batch.displacement.shape == (80, 3) and batch.vel.shape == (80, 3)
    # 1o targets are scaled, never centred
    assert torch.all(dm.scaler.mean["displacement"] == 0)
    state = dm.state_dict()
    dm.load_state_dict(state)
    state["scaler"]["std"]["displacement"] = state["scaler"]["std"]["displacement"] * 2
    with pytest.raises(ValueError, match="differs from the one fitted"):
        dm.load_state_dict(state)
