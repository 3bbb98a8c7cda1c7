import pytest
import torch

from gdl.models import PlainNet
from gdl.testing import equivariance_error
from gdl.testing.data import random_molecules
from gdl.testing.model_mixin import ModelTestMixin


class TestPlainNet(ModelTestMixin):
    # Dynamo + AOT tracing here; inductor code generation (~15-30 s on 2 cores) runs for EGNN by
    # default and for this model in the slow suite (test_compile_inductor_matches_eager)
    compile_backend = "aot_eager"

    def make_model(self, targets):
        return PlainNet(targets=targets, hidden_channels=16, num_layers=2)

    def test_equivariance(self):
        """The baseline must be measurably NOT rotation/reflection-equivariant (this proves the checker
        and the comparison honest), yet translation-invariant and permutation-equivariant."""
        errors = equivariance_error(self.build(), self.make_batch())
        rot, ref = errors.by_transform("rotation"), errors.by_transform("reflection")
        for t in self.targets:
            # 1o/2e components are raw numbers (errors ~1); scalars only change through the geometry
            floor = 1e-1 if t.irreps.lmax > 0 else 1e-3
            assert rot[t.name] > floor and ref[t.name] > floor, errors
        assert max(rot.values()) > 1e-2, errors
        assert max(errors.by_transform("translation").values()) < 1e-10, errors
        assert max(errors.by_transform("permutation").values()) < 1e-10, errors


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    case = TestPlainNet()
    case.compile_backend = "inductor"
    case.test_compile_matches_eager()


def test_any_irreps_and_vector_inputs():
    model = PlainNet(
        ["t:graph:3o", "u:node:2x1e"], hidden_channels=8, num_layers=1, inputs={"vector_inputs": ["vel"]}
    )
    batch = random_molecules(num_graphs=2, seed=5, dtype=torch.float32)
    batch.vel = torch.randn(batch.num_nodes, 3)
    out = model(batch)
    assert out["t"].shape == (2, 7) and out["u"].shape == (batch.num_nodes, 6)
    before = out["u"].clone()
    batch.vel = batch.vel.flip(-1)
    assert not torch.allclose(model(batch)["u"], before)  # raw components reach the backbone
