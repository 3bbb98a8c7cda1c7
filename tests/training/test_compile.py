import copy

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn

from gdl.models import EGNN
from gdl.testing.data import random_molecules
from gdl.training import GDLModule
from gdl.training.compile import CompileError, compile_options

TARGETS = ["energy:graph:0e", "dipole:graph:1o"]


def _step(module, batch):
    """A training step's forward, loss and backward (the optimiser's input: the gradients)."""
    module.zero_grad(set_to_none=True)
    out = module(batch)
    loss = sum(v.pow(2).mean() for v in out.values())
    loss.backward()
    return out, [p.grad.clone() for p in module.parameters() if p.grad is not None]


def test_compiled_step_matches_eager():
    torch.manual_seed(0)
    eager = GDLModule(EGNN(TARGETS, hidden_channels=16, num_layers=2))
    compiled = GDLModule(copy.deepcopy(eager.model), compile={"backend": "aot_eager"})
    assert compiled.state_dict().keys() == eager.state_dict().keys()  # no wrapper in the checkpoint
    batch = random_molecules(4, seed=0, dtype=torch.float32)
    for _ in range(2):
        out_e, grads_e = _step(eager, batch)
        out_c, grads_c = _step(compiled, batch)
        for k in out_e:
            torch.testing.assert_close(out_c[k], out_e[k], rtol=1e-5, atol=1e-6)
        assert len(grads_c) == len(grads_e) > 0
        for a, b in zip(grads_c, grads_e):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert compiled._compiled_forward._compiled is not None


def test_compile_option_trains_with_lightning(random_dm):
    torch.manual_seed(0)
    module = GDLModule(EGNN(TARGETS, hidden_channels=8, num_layers=1), compile={"backend": "aot_eager"})
    Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        limit_val_batches=1,
    ).fit(module, datamodule=random_dm)
    assert module._compiled_forward._checked


class _Sine(nn.Module):
    def forward(self, x):
        return torch.sin(x)


class _Net(nn.Module):
    """A model whose second child uses an operation the test backend refuses."""

    targets = EGNN(["energy:graph:0e"], hidden_channels=4, num_layers=1).targets

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 3)
        self.block = nn.Sequential(nn.Linear(3, 3), _Sine())

    def forward(self, data):
        return {"energy": self.block(self.first(data.pos)).sum().view(1, 1)}


def _no_sine_backend(gm, example_inputs):
    if any(n.op == "call_function" and n.target is torch.sin for n in gm.graph.nodes):
        raise RuntimeError("this backend cannot compile sin")
    return gm.forward


def test_a_model_that_cannot_compile_names_the_failing_module():
    module = GDLModule(_Net(), compile={"backend": _no_sine_backend})
    batch = random_molecules(2, seed=1, dtype=torch.float32)
    with pytest.raises(CompileError, match=r"failing module is `block.1` \(_Sine\)"):
        module(batch)


def test_compile_option_values():
    assert compile_options(False) is None and compile_options(None) is None
    assert compile_options(True) == {}
    assert compile_options({"backend": "eager", "dynamic": True}) == {"backend": "eager", "dynamic": True}
    with pytest.raises(ValueError, match=r"unknown torch.compile argument\(s\) \['speed'\]"):
        compile_options({"speed": "max"})
    with pytest.raises(TypeError, match="compile must be true, false or a mapping"):
        compile_options("yes")
