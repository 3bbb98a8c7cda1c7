"""Augment: identity in eval mode, per-graph random rotations of every typed input in training mode
with the outputs mapped back, seeded; a no-op around equivariant models; trains, and training with
it lowers the backbone's equivariance error."""

import pytest
import torch
from torch_geometric.data import Batch

from gdl.dtype import default_dtype
from gdl.keys import Target
from gdl.models import EGNN, NodeInputs, PlainNet
from gdl.models.base import GDLModel
from gdl.symmetry import Augment
from gdl.testing import equivariance_error, float64_atol
from gdl.testing.data import random_molecule, random_molecules

from ._models import O3_EQUIVARIANT, batch, make_model, model_params, relative, train_steps


class Spy(GDLModel):
    """Returns its (possibly rotated) node velocities as a node 1o target and records its input."""

    def __init__(self):
        super().__init__([Target("echo", "1o", "node"), Target("edge_sum", "1o", "graph")])
        self.w = torch.nn.Parameter(torch.ones(()))
        self.seen = None

    def forward(self, data):
        self.seen = data
        from torch_geometric.utils import scatter

        per_graph = scatter(data.edge_vec, data.batch[data.edge_index[1]], dim=0, dim_size=data.num_graphs)
        return {"echo": data.vel * self.w, "edge_sum": per_graph * self.w}


def spy_batch():
    graphs = []
    for seed, n in enumerate([4, 5, 6]):
        d = random_molecule(n, seed=seed)
        d.vel = torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        d.edge_vec = d.pos[d.edge_index[0]] - d.pos[d.edge_index[1]]
        graphs.append(d)
    return Batch.from_data_list(graphs)


def recovered_rotations(before, after, data):
    """Per graph, the matrix M with after = before @ M.T (least squares over its nodes)."""
    out = []
    for g in range(data.num_graphs):
        m = data.batch == g
        sol = torch.linalg.lstsq(before[m], after[m]).solution  # before @ sol = after
        out.append(sol.T)
    return torch.stack(out)


def test_eval_mode_is_the_identity():
    model = make_model("PlainNet")
    aug = Augment(model).eval()
    data = batch()
    out, ref = aug(data), model(data)
    for k in ref:
        assert torch.equal(out[k], ref[k])
    # the measured error is that of the backbone
    e_aug = equivariance_error(aug, data).max()
    assert e_aug == pytest.approx(equivariance_error(model, data).max(), rel=1e-12)


@pytest.mark.parametrize("group", ["SO3", "O3"])
def test_each_graph_gets_its_own_rotation_of_every_typed_field(group):
    spy = Spy().double()
    aug = Augment(spy, group=group, translation=2.0, seed=3).train()
    data = spy_batch()
    with default_dtype(torch.float64):
        out = aug(data)
    seen = spy.seen
    assert seen.num_graphs == 3
    R = recovered_rotations(data.vel, seen.vel, data)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye.expand(3, 3, 3), atol=1e-10, rtol=0)
    assert min(float((R[i] - R[j]).abs().max()) for i in range(3) for j in range(i)) > 1e-3
    if group == "SO3":
        torch.testing.assert_close(torch.linalg.det(R), torch.ones(3, dtype=torch.float64))
    # positions: same rotation plus a per-graph translation; edge vectors rotated, not translated
    shift = seen.pos - torch.einsum("nij,nj->ni", R[data.batch], data.pos)
    for g in range(3):
        s = shift[data.batch == g]
        torch.testing.assert_close(s, s[:1].expand_as(s), atol=1e-10, rtol=0)
        assert float(s[0].norm()) > 1e-3
    j, i = data.edge_index
    torch.testing.assert_close(seen.edge_vec, seen.pos[j] - seen.pos[i], atol=1e-10, rtol=0)
    # the outputs are mapped back with the inverse: node and graph level
    # rotated there and back (R^T R v): a few rounded 3-term products per entry
    tol = float64_atol(float(data.vel.abs().max()), terms=9)
    torch.testing.assert_close(out["echo"], data.vel, atol=tol, rtol=0)
    ref = Spy().double()(data)["edge_sum"]
    # a sum over each graph's edges of rotated edge vectors (the summands, not the sum, set the
    # scale: the sum nearly cancels), rotated back
    tol = float64_atol(2 * float(data.pos.abs().max()), terms=3 * data.edge_index.shape[1] + 9)
    torch.testing.assert_close(out["edge_sum"], ref, atol=tol, rtol=0)
    # the input batch is untouched
    torch.testing.assert_close(data.edge_vec, data.pos[j] - data.pos[i])


def test_o3_draws_reflections():
    spy = Spy().double()
    aug = Augment(spy, group="O3", seed=0).train()
    data = spy_batch()
    dets = []
    for _ in range(8):
        aug(data)
        dets.append(torch.linalg.det(recovered_rotations(data.vel, spy.seen.vel, data)))
    dets = torch.cat(dets)
    assert (dets > 0).any() and (dets < 0).any()
    torch.testing.assert_close(dets.abs(), torch.ones_like(dets))


def test_seeded_and_reset():
    model = make_model("PlainNet")
    data = batch()
    a, b, c = (Augment(model, seed=s).train() for s in (5, 5, 6))
    out_a, out_b, out_c = a(data), b(data), c(data)
    assert torch.equal(out_a["energy"], out_b["energy"])
    assert not torch.equal(out_a["energy"], out_c["energy"])
    again = a(data)
    assert not torch.equal(again["energy"], out_a["energy"])  # a new draw per batch
    a.reset()
    assert torch.equal(a(data)["energy"], out_a["energy"])


@pytest.mark.parametrize("name", model_params(O3_EQUIVARIANT))
def test_is_a_no_op_around_an_equivariant_model(name):
    """R_b^-1 f(R_b x) = f(x) for an O(3)-equivariant f: checks the batched action and the inverse
    map for every output type (GroupConvNet is equivariant to its finite anchor group only)."""
    model = make_model(name)
    data = batch()
    aug = Augment(model, group="O3", translation=1.0).train()
    with default_dtype(torch.float64):
        out, ref = aug(data), model(data)
    for k in ref:
        assert relative(out[k], ref[k]) < 1e-9, (k, relative(out[k], ref[k]))


def test_vector_inputs_of_the_model_are_rotated():
    """A vector input unknown to the field registry is rotated because the model declares it."""
    model = make_model("EGNN", inputs=NodeInputs(vector_inputs=("spin",)))
    data = batch()
    gen = torch.Generator().manual_seed(0)
    data.spin = torch.randn(data.num_nodes, 3, dtype=torch.float64, generator=gen)
    aug = Augment(model, group="O3").train()
    with default_dtype(torch.float64):
        out, ref = aug(data), model(data)
    assert max(relative(out[k], ref[k]) for k in ref) < 1e-9


@pytest.mark.parametrize("name", model_params())
def test_trains_without_nan(name):
    aug = Augment(make_model(name), group="O3", translation=0.5)
    train_steps(aug)
    assert aug.symmetry_report() == {"strategy": "augment", "group": "O3", "translation": 0.5, "seed": 0}


def test_bad_arguments():
    model = make_model("PlainNet")
    with pytest.raises(ValueError, match="group must be one of"):
        Augment(model, group="SE3")
    with pytest.raises(ValueError, match="translation must be >= 0"):
        Augment(model, translation=-1.0)
    with pytest.raises(ValueError, match="invalid type 'banana' for input field 'spin'"):
        Augment(model, input_types={"spin": "banana"})
    assert "group='SO3'" in repr(Augment(model)) and "PlainNet(" in repr(Augment(model))


def test_training_with_augmentation_lowers_the_equivariance_error():
    """What augmentation buys: PlainNet fitted to an EGNN teacher on 32 random molecules for 150
    Adam steps, with and without O(3) augmentation; the trained backbone's error on new molecules
    (measured: energy 0.18 -> 0.078, dipole 1.4 -> 0.36)."""
    targets = (Target("energy"), Target("dipole", "1o"))
    torch.manual_seed(0)
    teacher = EGNN(targets, hidden_channels=16, num_layers=2)
    train = random_molecules(num_graphs=32, min_nodes=4, max_nodes=8, seed=3, dtype=torch.float32)
    test = random_molecules(num_graphs=16, min_nodes=4, max_nodes=8, seed=4)
    with torch.no_grad():
        y = teacher(train)
    errors = {}
    for augment in (False, True):
        torch.manual_seed(1)
        model = PlainNet(targets, hidden_channels=32, num_layers=2)
        fitted = Augment(model, group="O3") if augment else model
        opt = torch.optim.Adam(fitted.parameters(), lr=3e-3)
        for _ in range(150):
            out = fitted.train()(train)
            loss = sum((out[k] - y[k]).pow(2).mean() for k in y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        errors[augment] = equivariance_error(model, test)
    for k in ("energy", "dipole"):
        assert errors[True][k] < errors[False][k] / 2, (k, errors)
