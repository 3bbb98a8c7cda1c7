"""Every model on CUDA: same outputs as on CPU, equivariant in float64 (1e-9) and, with TF32 off,
float32 (1e-3, e3nn's float32 tolerance), finite gradients. Skipped where no GPU is present (CI has
none; run on a GPU machine with ``pytest tests/models/test_cuda.py``)."""

import pytest
import torch

from gdl.dtype import default_dtype
from gdl.groups import octahedral
from gdl.groups.anchors import GroupAnchors
from gdl.models import EGNN, MACE, TFN, GroupConvNet, InvariantNet, PlainNet, SE3Transformer
from gdl.testing import equivariance_error
from gdl.testing.data import random_molecules
from gdl.testing.model_mixin import ALL_TARGETS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SMALL = dict(hidden_channels=16, num_layers=2)
MODELS = {
    "egnn": (lambda: EGNN(targets=ALL_TARGETS, **SMALL), "O3"),
    "invariant": (lambda: InvariantNet(targets=ALL_TARGETS, **SMALL), "O3"),
    "tfn": (lambda: TFN(targets=ALL_TARGETS, l_max=2, **SMALL), "O3"),
    "mace": (lambda: MACE(targets=ALL_TARGETS, l_max=2, correlation=3, **SMALL), "O3"),
    "se3_transformer": (
        lambda: SE3Transformer(targets=ALL_TARGETS, l_max=2, hidden_channels=8, num_layers=2),
        "O3",
    ),
    "group_conv": (
        lambda: GroupConvNet(targets=ALL_TARGETS, anchors=GroupAnchors.named("octahedral"), **SMALL),
        octahedral(),
    ),
}


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _build(name: str, dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    with default_dtype(dtype):
        return MODELS[name][0]().to(dtype).eval()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cuda_matches_cpu_float64(name):
    model = _build(name, torch.float64)
    batch = random_molecules(num_graphs=4, seed=3)
    with torch.no_grad(), default_dtype(torch.float64):
        cpu = model(batch)
        gpu = model.cuda()(batch.cuda())
    for k in cpu:
        torch.testing.assert_close(gpu[k].cpu(), cpu[k], atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-3)])
def test_cuda_equivariance(name, dtype, tol):
    model = _build(name, dtype).cuda()
    batch = random_molecules(num_graphs=4, seed=4, dtype=dtype).cuda()
    errors = equivariance_error(model, batch, group=MODELS[name][1], dtype=dtype)
    assert errors.max() < tol, f"{name} {dtype}:\n{errors}"


@pytest.mark.parametrize("name", sorted(MODELS) + ["plain"])
def test_cuda_training_step_is_finite(name):
    torch.manual_seed(0)
    model = PlainNet(targets=ALL_TARGETS, **SMALL) if name == "plain" else MODELS[name][0]()
    model = model.cuda().train()
    batch = random_molecules(num_graphs=4, seed=5, dtype=torch.float32).cuda()
    loss = sum(v.pow(2).mean() for v in model(batch).values())
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), pname
