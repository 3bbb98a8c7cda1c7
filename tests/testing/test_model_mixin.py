"""The model test mixin on a small hand-written equivariant model, and on a broken one."""

import math

import pytest
import torch
from torch import nn
from torch_geometric.utils import scatter

from gdl.keys import cartesian_to_2e
from gdl.models import GDLModel
from gdl.nn import BesselBasis, NodeEmbedding, PolynomialCutoff, RadialEmbedding
from gdl.nn.geometry import edge_vectors
from gdl.testing.model_mixin import ModelTestMixin


class ToyModel(GDLModel):
    """Σ_j w(h_j, |r_ij|) times 1, r_ij or (r_ij ⊗ r_ij)₀: equivariant by construction."""

    def __init__(self, targets, broken: bool = False):
        super().__init__(targets)
        self.check_targets(["0e", "1o", "2e"])
        self.broken = broken
        self.embedding = NodeEmbedding(8, num_types=10)
        self.radial = RadialEmbedding(BesselBasis(8, 5.0), PolynomialCutoff(5.0))
        self.weights = nn.Linear(16, 3)

    def reset_parameters(self):
        self.embedding.reset_parameters()
        self.weights.reset_parameters()

    def forward(self, data):
        self.validate(data)
        j, i = data.edge_index
        r = edge_vectors(data.pos, data.edge_index)
        h = self.embedding(data.pos.shape[0], z=data.z)
        w = torch.tanh(self.weights(torch.cat([h[j], self.radial(r.norm(dim=-1))], dim=-1)))
        n = data.pos.shape[0]
        per_node = {
            "0e": scatter(w[:, :1], i, 0, dim_size=n),
            "1o": scatter(w[:, 1:2] * r, i, 0, dim_size=n),
            "2e": scatter(w[:, 2:3] * cartesian_to_2e(r[:, :, None] * r[:, None, :]), i, 0, dim_size=n),
        }
        if self.broken:
            per_node["1o"] = per_node["1o"] + data.pos[:, :1]
        batch = self.batch_vector(data)
        out = {}
        for name, level, irreps in self.target_specs:
            v = per_node[irreps.removeprefix("1x")]
            out[name] = v if level == "node" else scatter(v, batch, 0, dim_size=self.num_graphs(data))
        return out


class TestToyModel(ModelTestMixin):
    def make_model(self, targets):
        return ToyModel(targets)


def test_mixin_catches_a_broken_model():
    class Broken(ModelTestMixin):
        def make_model(self, targets):
            return ToyModel(targets, broken=True)

    with pytest.raises(AssertionError, match="force"):
        Broken().test_equivariance()


def test_check_targets_names_what_is_wrong():
    with pytest.raises(ValueError, match=r"ToyModel cannot produce target 'p'.*3o"):
        ToyModel(["p:graph:3o"])


class _Detached(ToyModel):
    def forward(self, data):
        return {k: v.detach() for k, v in super().forward(data).items()}


class _Unused(ToyModel):
    def __init__(self, targets):
        super().__init__(targets)
        self.spare = nn.Linear(4, 4)  # never called


class _Lying(ToyModel):
    def extra_repr(self):
        return super().extra_repr() + ", broken=True"  # the model has broken=False


def _mixin_for(cls):
    class Check(ModelTestMixin):
        def make_model(self, targets):
            return cls(targets)

    return Check()


@pytest.mark.parametrize(
    "cls,match",
    [(_Detached, "do not depend on any parameter"), (_Unused, r"without a gradient.*spare")],
)
def test_backward_check_catches_parameters_that_train_nothing(cls, match):
    with pytest.raises(AssertionError, match=match):
        _mixin_for(cls).test_backward_finite()


def test_backward_check_catches_an_identically_zero_gradient():
    class ZeroWeight(ToyModel):
        def forward(self, data):
            out = super().forward(data)
            return {k: v + 0.0 * self.spare(torch.ones(1, 4)).sum() for k, v in out.items()}

        def __init__(self, targets):
            super().__init__(targets)
            self.spare = nn.Linear(4, 4)

    with pytest.raises(AssertionError, match=r"identically zero.*spare"):
        _mixin_for(ZeroWeight).test_backward_finite()


def test_backward_check_catches_a_parameter_whose_effect_cancels():
    """A bias multiplied by a sum that is zero only up to rounding (as an l >= 1 bias through a
    Fourier transform over the group's anchors): its gradient is ~1e-17, not exactly 0."""
    class Cancels(ToyModel):
        def __init__(self, targets):
            super().__init__(targets)
            self.bias = nn.Parameter(torch.ones(3))

        def forward(self, data):
            out = super().forward(data)
            k = torch.arange(7, dtype=self.bias.dtype)
            basis = torch.cos(2 * math.pi * k / 7)  # sums to 0 up to rounding
            eps = torch.finfo(basis.dtype).eps
            assert 0 < float(basis.sum().abs()) < 64 * eps  # not exactly 0: the case this is about
            return {n: v + (self.bias[:, None] * basis).sum() for n, v in out.items()}

    with pytest.raises(AssertionError, match=r"rounding noise in float64.*bias"):
        _mixin_for(Cancels).test_backward_finite()


def test_repr_check_catches_a_repr_that_lies():
    with pytest.raises(AssertionError, match="broken=True"):
        _mixin_for(_Lying).test_repr()
