import pytest
import torch

from gdl.data import PeriodicKNNGraph, qm9_atomref, split_indices
from gdl.data._paths import data_root
from gdl.data.datamodules import GalaxyDataModule, NBodyDataModule, QM9DataModule


def test_import_gdl_data_does_not_import_lightning():
    import subprocess
    import sys

    code = "import sys, gdl.data; sys.exit(int('lightning' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_targets_are_checked_before_any_data_is_read(tmp_path):
    missing = tmp_path / "nothing-here"
    with pytest.raises(ValueError, match=r"qm9 has no target 'velocity'; valid targets: mu \(graph 1x0e\)"):
        QM9DataModule(["velocity:node:1o"], root=missing)
    with pytest.raises(ValueError, match="target 'homo' is graph 1x0e, but it was declared as graph 1x1o"):
        QM9DataModule(["homo:graph:1o"], root=missing)
    with pytest.raises(ValueError, match="nbody has no target 'homo'; valid targets: displacement"):
        NBodyDataModule(["homo"], root=missing)
    with pytest.raises(ValueError, match="galaxy has no target 'homo'"):
        GalaxyDataModule(["homo"], root=missing)
    with pytest.raises(ValueError, match="batch_size"):
        QM9DataModule(["homo"], root=missing, batch_size=0)
    assert not missing.exists()


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
