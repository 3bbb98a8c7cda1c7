import pytest
import torch
from lightning.pytorch import Trainer

from gdl.models import EGNN, PlainNet
from gdl.training import EpochTimer, EquivarianceMonitor, GDLModule

TARGETS = ["energy:graph:0e", "dipole:graph:1o"]


def fit(model, random_dm, callbacks, epochs=2):
    trainer = Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(GDLModule(model), datamodule=random_dm)
    return trainer


@pytest.mark.parametrize("cls, equivariant", [(EGNN, True), (PlainNet, False)])
def test_equivariance_monitor_logs_both_dtypes_every_validation_epoch(cls, equivariant, random_dm):
    torch.manual_seed(0)
    monitor = EquivarianceMonitor(num_graphs=3)
    trainer = fit(cls(TARGETS, hidden_channels=8, num_layers=1), random_dm, [monitor])
    logged = trainer.callback_metrics
    assert monitor.batch.num_graphs == 3
    for name in ("energy", "dipole"):
        f64, own = (
            float(logged[f"equivariance/float64/{name}"]),
            float(logged[f"equivariance/train_dtype/{name}"]),
        )
        if equivariant:
            assert f64 < 1e-12 and own < 1e-4
        elif name == "dipole":
            assert f64 > 1e-3  # a plain network is not rotation-equivariant
    assert set(monitor.last["float64"].table["dipole"]) == {
        "rotation",
        "reflection",
        "translation",
        "permutation",
    }
    assert monitor.last["train_dtype_name"] == "float32"


def test_epoch_timer_counts_graphs_and_survives_checkpoints(random_dm):
    timer = EpochTimer()
    fit(EGNN(TARGETS, hidden_channels=8, num_layers=1), random_dm, [timer], epochs=3)
    assert len(timer.epoch_times) == 3 and timer.epoch_graphs == [48, 48, 48]
    assert timer.time_per_epoch > 0 and timer.throughput > 0
    restored = EpochTimer()
    restored.load_state_dict(timer.state_dict())
    assert restored.epoch_times == timer.epoch_times and restored.throughput == timer.throughput


def test_monitor_arguments():
    with pytest.raises(ValueError, match="num_graphs"):
        EquivarianceMonitor(num_graphs=0)


def test_ema_weight_averaging_trains_and_tests(random_dm):
    """callbacks=ema: Lightning's EMAWeightAveraging around a GDLModule; the test uses the average."""
    from lightning.pytorch.callbacks import EMAWeightAveraging

    torch.manual_seed(0)
    ema = EMAWeightAveraging(decay=0.9, update_starting_at_step=0)
    module = GDLModule(EGNN(TARGETS, hidden_channels=8, num_layers=1))
    trainer = Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ema],
    )
    trainer.fit(module, datamodule=random_dm)
    averaged = dict(ema._average_model.module.named_parameters())
    for name, p in module.named_parameters():
        torch.testing.assert_close(p, averaged[name])  # copied into the module at the end of training
    assert trainer.test(module, datamodule=random_dm, verbose=False)[0]["test/energy/mae"] > 0
