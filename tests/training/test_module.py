import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from gdl.models import EGNN
from gdl.symmetry import SymmetryStrategy
from gdl.training import GDLModule, typed_loss

TARGETS = ["energy:graph:0e", "dipole:graph:1o"]


def trainer(**kw):
    return Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kw,
    )


def make_module(**kw):
    torch.manual_seed(0)
    return GDLModule(EGNN(TARGETS, hidden_channels=16, num_layers=2), metrics=["mae", "rmse", "r2"], **kw)


def test_fit_and_test_report_native_metrics_and_the_mean_predictor(random_dm):
    module = make_module()
    t = trainer()
    t.fit(module, datamodule=random_dm)
    res = t.test(module, datamodule=random_dm, verbose=False)[0]
    # the mean predictor, computed independently: training mean of the energy, zero dipole
    train = [random_dm.splits["train"].items[i] for i in range(48)]
    test = [random_dm.splits["test"].items[i] for i in range(24)]
    mean_e = np.mean([d.energy.item() for d in train])
    e = np.array([d.energy.item() for d in test])
    mu = np.stack([d.dipole[0].numpy() for d in test])
    assert res["baseline/energy/mae"] == pytest.approx(np.abs(e - mean_e).mean(), rel=1e-5)
    assert res["baseline/dipole/mae"] == pytest.approx(np.linalg.norm(mu, axis=1).mean(), rel=1e-5)
    assert res["baseline/energy/r2"] == pytest.approx(
        1 - ((e - mean_e) ** 2).sum() / ((e - e.mean()) ** 2).sum(), abs=1e-5
    )
    for key in ("test/energy/mae", "test/dipole/rmse", "test/loss"):
        assert np.isfinite(res[key])


class Penalised(SymmetryStrategy):
    name = "penalised"

    def __init__(self, model):
        super().__init__(model)
        self.w = torch.nn.Parameter(torch.tensor(1.5))

    def regularizer(self):
        return self.w**2

    def symmetry_report(self):
        return {"strategy": self.name, "w": float(self.w.detach())}


def test_regularizer_is_added_to_the_loss(random_dm, monkeypatch):
    torch.manual_seed(0)
    module = GDLModule(
        Penalised(EGNN(TARGETS, hidden_channels=8, num_layers=1)), loss_weights={"dipole": 0.5}
    )
    random_dm.setup()
    batch = random_dm.on_after_batch_transfer(next(iter(random_dm.train_dataloader())), 0)
    monkeypatch.setattr(module, "log", lambda *a, **k: None)
    loss = module.training_step(batch, 0)
    out = module(batch)
    expected = (
        typed_loss(out["energy"], batch.energy, "0e")
        + 0.5 * typed_loss(out["dipole"], batch.dipole, "1o")
        + 2.25
    )
    torch.testing.assert_close(loss, expected)
    assert module.symmetry_report() == {"strategy": "penalised", "w": 1.5}


def test_symmetry_report_is_logged_every_validation_epoch(random_dm):
    torch.manual_seed(0)
    module = GDLModule(Penalised(EGNN(TARGETS, hidden_channels=8, num_layers=1)))
    t = trainer()
    t.fit(module, datamodule=random_dm)
    assert float(t.callback_metrics["symmetry/w"]) == pytest.approx(float(module.model.w))


def test_float64_training(random_dm):
    module = make_module()
    t = trainer(precision="64-true", max_steps=2)
    t.fit(module, datamodule=random_dm)
    assert module.dtype == torch.float64 and next(module.parameters()).dtype == torch.float64


def test_plateau_scheduler_and_l1(random_dm):
    module = make_module(
        loss={"energy": "l1"},
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3),
        # threshold=1 (relative): no epoch counts as an improvement, so with patience 0 every
        # validation epoch after the first must cut the learning rate by `factor`
        scheduler=lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, patience=0, threshold=1.0, factor=0.5
        ),
    )
    conf = module.configure_optimizers()
    assert conf["lr_scheduler"]["monitor"] == "val/loss"
    t = trainer()
    t.fit(module, datamodule=random_dm)
    assert module.losses == {"energy": "l1", "dipole": "mse"}
    # the scheduler was stepped on val/loss: 2 cuts after 2 validation epochs (a scheduler that was
    # never stepped leaves 1e-3)
    assert t.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5**2)


def test_bad_arguments():
    model = EGNN(TARGETS, hidden_channels=8, num_layers=1)
    with pytest.raises(ValueError, match="unknown target"):
        GDLModule(model, loss_weights={"homo": 1.0})
    with pytest.raises(ValueError, match="valid losses"):
        GDLModule(model, loss="huber")
    with pytest.raises(ValueError, match="unknown metric"):
        GDLModule(model, metrics=["accuracy"])
    with pytest.raises(TypeError, match="typed `targets`"):
        GDLModule(torch.nn.Linear(2, 2))
