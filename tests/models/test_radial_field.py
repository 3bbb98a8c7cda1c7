import pytest
import torch
from torch_geometric.data import Batch

from gdl.dtype import default_dtype
from gdl.keys import Target
from gdl.models import LinearDynamics, RadialField
from gdl.testing import assert_equivariant
from gdl.testing.data import random_molecule, random_molecules
from gdl.testing.model_mixin import ModelTestMixin

DISPLACEMENT = (Target("displacement", "1o", "node"),)


def with_velocities_and_charges(batch, seed=1):
    """The graphs of ``batch`` with velocities ``vel`` and charges ``x`` = ±1, re-batched."""
    g = torch.Generator().manual_seed(seed)
    graphs = batch.to_data_list()
    for d in graphs:
        d.vel = torch.randn(d.num_nodes, 3, generator=g, dtype=torch.float64).to(d.pos.dtype)
        d.x = (torch.randint(0, 2, (d.num_nodes, 1), generator=g) * 2 - 1).to(d.pos.dtype)
    return Batch.from_data_list(graphs)


class _DynamicsTests(ModelTestMixin):
    targets = DISPLACEMENT
    compile_backend = "aot_eager"

    def make_batch(self, dtype=torch.float64):
        return with_velocities_and_charges(super().make_batch(dtype))

    def test_gradcheck(self):
        """Gradients with respect to positions and velocities (the mixin's tiny graph has neither
        velocities nor charges)."""
        model = self.build()
        data = with_velocities_and_charges(Batch.from_data_list([random_molecule(num_nodes=3, seed=1)]))

        def f(pos, vel):
            d = data.clone()
            d.pos, d.vel = pos, vel
            return model(d)["displacement"]

        with default_dtype(torch.float64):
            inputs = (data.pos.clone().requires_grad_(True), data.vel.clone().requires_grad_(True))
            assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


class TestLinearDynamics(_DynamicsTests):
    def make_model(self, targets):
        return LinearDynamics(targets, init=0.7)

    def test_it_is_the_constant_velocity_step(self):
        model = self.build()
        batch = self.make_batch()
        out = model(batch)["displacement"]
        torch.testing.assert_close(out, 0.7 * batch.vel)
        assert sum(p.numel() for p in model.parameters()) == 1


class TestRadialField(_DynamicsTests):
    def make_model(self, targets):
        return RadialField(targets, hidden_channels=16, num_layers=2)

    def test_one_layer_is_the_papers_update(self):
        """x_i + mean_j (x_i - x_j) tanh(phi(|x_ij|, q_i q_j)) + v_i psi(|v_i|), written out per node
        (without the input distance, whose default is on: phi has the two inputs)."""
        with default_dtype(torch.float64):
            torch.manual_seed(0)
            model = RadialField(DISPLACEMENT, hidden_channels=8, num_layers=1, input_distance=False).double()
            for p in model.parameters():  # leave the near-identity initialisation: visible messages
                torch.nn.init.normal_(p, std=0.5)
        assert model.phi[0][0].in_features == 2
        assert RadialField(DISPLACEMENT).phi[0][0].in_features == 3  # the default reads the input distance
        batch = with_velocities_and_charges(Batch.from_data_list([random_molecule(num_nodes=4, seed=3)]))
        out = model(batch)["displacement"]
        pos, vel, q = batch.pos, batch.vel, batch.x
        for i in range(4):
            msgs = []
            for j in range(4):
                if j != i:
                    edge_in = torch.stack([(pos[i] - pos[j]).norm(), q[i, 0] * q[j, 0]])
                    msgs.append((pos[i] - pos[j]) * torch.tanh(model.phi[0](edge_in)))
            expected = torch.stack(msgs).mean(0) + vel[i] * model.psi[0](vel[i].norm().view(1))
            torch.testing.assert_close(out[i], expected)

    def test_koehler_form_without_velocity_or_charges(self):
        with default_dtype(torch.float64):
            koehler = dict(velocity=None, charge=None, input_distance=False)
            model = RadialField(DISPLACEMENT, hidden_channels=8, num_layers=3, **koehler).double()
        batch = random_molecules(num_graphs=2, seed=4)  # no vel, no x
        assert model.psi is None and model.phi[0][0].in_features == 1
        assert_equivariant(model, batch, group="O3", tol=1e-10)


class TestRadialFieldInputDistance(_DynamicsTests):
    """The mixin's checks (float64 equivariance, permutations, PyG conventions) for the variant of the
    paper's RF_vel code: phi also reads the input frame's squared distance, psi has an output bias."""

    def make_model(self, targets):
        return RadialField(targets, hidden_channels=16, num_layers=2, input_distance=True, velocity_bias=True)

    def test_two_layers_are_the_papers_rf_vel_update(self):
        """Layer l: phi_l(|x^l_i - x^l_j|, q_i q_j, |x^0_i - x^0_j|^2), the last input fixed."""
        with default_dtype(torch.float64):
            torch.manual_seed(0)
            model = RadialField(
                DISPLACEMENT, hidden_channels=8, num_layers=2, input_distance=True, velocity_bias=True
            ).double()
            for p in model.parameters():
                torch.nn.init.normal_(p, std=0.5)
        assert model.phi[0][0].in_features == 3
        assert all(mlp[-1].bias is not None for mlp in model.psi)
        assert all(mlp[-1].bias is None for mlp in model.phi)

        def psi(layer, speed):  # w2 . silu(W1 s + b1) + b2, the bias written out
            first, last = model.psi[layer][0], model.psi[layer][-1]
            return last.weight @ torch.nn.functional.silu(first.weight @ speed + first.bias) + last.bias

        batch = with_velocities_and_charges(Batch.from_data_list([random_molecule(num_nodes=4, seed=3)]))
        out = model(batch)["displacement"]
        pos0, vel, q = batch.pos, batch.vel, batch.x
        pos = pos0.clone()
        for layer in range(2):
            new = pos.clone()
            for i in range(4):
                msgs = []
                for j in range(4):
                    if j != i:
                        edge_in = torch.stack(
                            [(pos[i] - pos[j]).norm(), q[i, 0] * q[j, 0], (pos0[i] - pos0[j]).pow(2).sum()]
                        )
                        msgs.append((pos[i] - pos[j]) * torch.tanh(model.phi[layer](edge_in)))
                new[i] = pos[i] + torch.stack(msgs).mean(0) + vel[i] * psi(layer, vel[i].norm().view(1))
            pos = new
        torch.testing.assert_close(out, pos - pos0)
        assert "input_distance=True" in repr(model) and "velocity_bias=True" in repr(model)


def test_bad_targets_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="one node 1o target"):
        RadialField([*DISPLACEMENT, Target("f", "1o", "node")])
    with pytest.raises(ValueError, match=r"cannot produce target 'e' \(graph 1x0e\)"):
        LinearDynamics(["e:graph:0e"])
    with pytest.raises(ValueError, match="num_layers >= 1"):
        RadialField(DISPLACEMENT, num_layers=0)
    batch = random_molecules(num_graphs=1, seed=0, dtype=torch.float32)
    needs_vel = r"LinearDynamics needs `vel` as a floating tensor of shape \[\d+, 3\]"
    with pytest.raises(ValueError, match=needs_vel):
        LinearDynamics(DISPLACEMENT)(batch)
    batch = with_velocities_and_charges(batch)
    batch.edge_vec = torch.zeros(batch.edge_index.shape[1], 3)
    with pytest.raises(ValueError, match="cannot use precomputed"):
        RadialField(DISPLACEMENT)(batch)
