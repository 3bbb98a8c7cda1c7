import pytest
import torch

from gdl.models import EGNN, PlainNet
from gdl.symmetry import Exact, SymmetryStrategy, symmetry_report
from gdl.testing import assert_equivariant
from gdl.testing.data import random_molecules


def test_exact_is_transparent_and_equivariant():
    torch.manual_seed(0)
    model = EGNN(targets=["homo", "dipole_vec"], hidden_channels=8, num_layers=2)
    wrapped = Exact(model)
    batch = random_molecules(seed=1, dtype=torch.float32)
    out, ref = wrapped(batch), model(batch)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k])
    assert wrapped.targets == model.targets
    assert wrapped.regularizer().item() == 0.0
    assert symmetry_report(wrapped) == {"strategy": "exact"}
    assert symmetry_report(model) == {"strategy": "exact"}
    assert_equivariant(wrapped, random_molecules(seed=2))


def test_unsupported_model_is_named():
    class OnlyEGNN(SymmetryStrategy):
        name = "only_egnn"
        supported_models = (EGNN,)

    with pytest.raises(TypeError, match=r"'only_egnn'.*cannot wrap PlainNet.*supports: EGNN"):
        OnlyEGNN(PlainNet(targets=["homo"], hidden_channels=8, num_layers=1))
