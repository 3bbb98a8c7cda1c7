"""QM9DataModule: named splits, the scaler, batches, the seeded training order."""

import pytest
import torch

from gdl.data import qm9_atomref, split_indices
from gdl.data._paths import data_root
from gdl.data.datamodules import QM9DataModule


@pytest.fixture(scope="module")
def qm9_dm():
    dm = QM9DataModule(
        ["homo", "U0", "dipole_vec"],
        root=data_root("qm9"),
        train_size=300,
        val_size=50,
        test_size=70,
        batch_size=25,
    )
    dm.prepare_data()
    dm.setup()
    return dm


def test_qm9_splits_scaler_and_batches(qm9_dm):
    dm = qm9_dm
    assert dm.sizes == {"train": 300, "val": 50, "test": 70}
    full = split_indices(130_831, "cormorant", 0)
    assert list(dm.splits["train"].indices()) == full["train"][:300].tolist()  # nested prefix
    assert list(dm.splits["test"].indices()) == full["test"][:70].tolist()
    homo = torch.cat([dm.splits["train"][i].homo for i in range(300)])
    torch.testing.assert_close(dm.scaler.mean["homo"], homo.double().mean().view(1), rtol=1e-6, atol=1e-9)
    assert "U0" in dm.scaler.atomref and torch.equal(dm.scaler.atomref["U0"], qm9_atomref("U0"))
    batch = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert batch.num_graphs == 25 and batch.edge_index.shape[0] == 2
    assert batch.homo.shape == (25, 1) and batch.dipole_vec.shape == (25, 3)
    raw = torch.cat([dm.splits["val"][i].homo for i in range(25)])
    back = dm.scaler.inverse({"homo": batch.homo}, batch)["homo"]
    torch.testing.assert_close(back, raw, rtol=1e-5, atol=1e-6)
    # the stored dataset is untouched (standardisation happens on batches)
    assert dm.splits["val"][0].homo.item() == pytest.approx(raw[0].item())


def test_training_order_depends_on_seed_and_epoch_only(qm9_dm, monkeypatch):
    def order(epoch, seed="0"):
        monkeypatch.setenv("PL_GLOBAL_SEED", seed)
        loader = qm9_dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return list(loader.sampler)

    assert order(3) == order(3)
    assert order(3) != order(4)
    assert order(3) != order(3, seed="1")
    assert sorted(order(2)) == list(range(300))
