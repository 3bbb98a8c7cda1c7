"""The checker must pass equivariant functions to float64 precision and flag broken ones."""

import pytest
import torch
from e3nn import o3
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from gdl import groups
from gdl.keys import from_2e
from gdl.testing import assert_equivariant, equivariance_error, graph, node
from gdl.testing.data import random_molecules


@pytest.fixture
def batch():
    return random_molecules(num_graphs=3, min_nodes=4, max_nodes=7, seed=0)


def centred_positions(data):
    centre = scatter(data.pos, data.batch, 0, reduce="mean")
    return data.pos - centre[data.batch]


def pair_distance_sum(data):
    j, i = data.edge_index
    d = (data.pos[j] - data.pos[i]).norm(dim=-1)
    return scatter(d, data.batch[i], 0, dim_size=data.num_graphs)[:, None]


def sh_per_node(data):
    j, i = data.edge_index
    y = o3.spherical_harmonics([0, 1, 2, 3], data.pos[j] - data.pos[i], normalize=True)
    return scatter(y, i, 0, dim_size=data.num_nodes)


def quadrupole_cartesian(data):
    x = centred_positions(data)
    outer = x[:, :, None] * x[:, None, :]
    m = scatter(outer, data.batch, 0)
    return m - torch.diagonal(m, dim1=1, dim2=2).sum(-1)[:, None, None] / 3 * torch.eye(3, dtype=x.dtype)


# --- known equivariant functions pass with error < 1e-10 ---------------------------------------
def test_centred_positions(batch):
    errors = assert_equivariant(centred_positions, batch, out_types=node("1o"), tol=1e-10)
    assert set(errors.transforms) == {"rotation", "reflection", "translation", "permutation"}


def test_pair_distance_sum(batch):
    assert_equivariant(pair_distance_sum, batch, out_types=graph("0e"), tol=1e-10)


def test_spherical_harmonics_aggregated_per_node(batch):
    assert_equivariant(sh_per_node, batch, out_types=node("0e+1o+2e+3o"), tol=1e-10)


def test_quadrupole_in_2e_basis(batch):
    def f(data):
        from gdl.keys import cartesian_to_2e

        return cartesian_to_2e(quadrupole_cartesian(data))

    assert_equivariant(f, batch, out_types=graph("2e"), tol=1e-10)


def test_dict_outputs_and_registry_types(batch):
    def f(data):
        w = data.z.to(data.pos.dtype)[:, None]
        return {
            "dipole_vec": scatter(w * centred_positions(data), data.batch, 0),
            "omega_m": pair_distance_sum(data),
        }

    errors = assert_equivariant(f, batch, tol=1e-10)  # types from gdl.keys.FIELDS
    assert set(errors) == {"dipole_vec", "omega_m"}


def test_tensor_and_tuple_inputs():
    x = torch.randn(6, 3, dtype=torch.float64)
    assert_equivariant(lambda p: p - p.mean(0), x, in_types="pos", out_types="1o")
    assert_equivariant(
        lambda p, v: (p - p.mean(0)) * (v * v).sum(-1, keepdim=True),
        (x, torch.randn(6, 3, dtype=torch.float64)),
        in_types=["pos", "1o"],
        out_types="1o",
    )
    assert_equivariant(
        lambda pos: {"n": pos.norm(dim=-1, keepdim=True) * 0 + 1}, {"pos": x}, out_types={"n": "0e"}
    )


def test_finite_group(batch):
    errors = assert_equivariant(
        pair_distance_sum, batch, out_types=graph("0e"), group=groups.cube_group(), n_samples=48
    )
    assert {"rotation", "reflection"} <= set(errors.transforms)


def test_pseudovector_parity(batch):
    def cross(data):
        x = centred_positions(data)
        return scatter(torch.cross(x, torch.roll(x, 1, 0), dim=-1), data.batch, 0)

    # a cross product is a pseudovector: 1e passes O(3), 1o fails under reflections only
    assert_equivariant(cross, batch, out_types=graph("1e"), permutation=False)
    errors = equivariance_error(cross, batch, out_types=graph("1o"), permutation=False)
    assert errors.by_transform("rotation")["output"] < 1e-10
    assert errors.by_transform("reflection")["output"] > 0.1


def test_float32_default_is_restored(batch):
    assert torch.get_default_dtype() == torch.float32
    equivariance_error(sh_per_node, batch, out_types=node("0e+1o+2e+3o"))
    assert torch.get_default_dtype() == torch.float32


# --- broken functions are reported with error > 0.1 --------------------------------------------
def test_flags_fixed_vector_added(batch):
    c = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    errors = equivariance_error(lambda d: centred_positions(d) + c, batch, out_types=node("1o"))
    assert errors.by_transform("rotation")["output"] > 0.1
    with pytest.raises(AssertionError, match="rotation"):
        assert_equivariant(lambda d: centred_positions(d) + c, batch, out_types=node("1o"))


def test_flags_raw_coordinate_as_scalar(batch):
    errors = equivariance_error(lambda d: scatter(d.pos[:, :1], d.batch, 0), batch, out_types=graph("0e"))
    assert errors.by_transform("rotation")["output"] > 0.1
    assert errors.by_transform("translation")["output"] > 0.1


def test_flags_node_order_dependence(batch):
    def f(data):
        w = torch.arange(data.num_nodes, dtype=data.pos.dtype)[:, None]
        return scatter(w * centred_positions(data), data.batch, 0)

    errors = equivariance_error(f, batch, out_types=graph("1o"))
    assert errors.by_transform("permutation")["output"] > 0.1
    assert errors.by_transform("rotation")["output"] < 1e-10


def test_flags_2e_rotated_as_1o(batch):
    # the rows of a quadrupole matrix are not three vectors: rotating them as 1o is wrong
    errors = equivariance_error(lambda d: quadrupole_cartesian(d).flatten(1), batch, out_types=graph("3x1o"))
    assert errors.by_transform("rotation")["output"] > 0.1
    # and 5 quadrupole components declared as 1o + 2x0e instead of 2e
    errors = equivariance_error(
        lambda d: torch.einsum(
            "kij,bij->bk", from_2e(torch.eye(5, dtype=torch.float64)), quadrupole_cartesian(d)
        ),
        batch,
        out_types=graph("1o+2x0e"),
    )
    assert errors.by_transform("rotation")["output"] > 0.1


# --- bad input ---------------------------------------------------------------------------------
def test_missing_declared_field(batch):
    with pytest.raises(KeyError, match="vel"):
        equivariance_error(pair_distance_sum, batch, in_types={"vel": "1o"}, out_types=graph("0e"))
    with pytest.raises(KeyError, match="missing from the output"):
        equivariance_error(lambda d: {"a": pair_distance_sum(d)}, batch, out_types={"b": graph("0e")})


def test_irreps_dimension_mismatch(batch):
    with pytest.raises(ValueError, match=r"declared as 1x2e \(dim 5\)"):
        equivariance_error(centred_positions, batch, out_types=node("2e"))
    batch = batch.clone()
    batch.vel = torch.zeros(batch.num_nodes, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="'vel' is declared as 1x1o"):
        equivariance_error(pair_distance_sum, batch, out_types=graph("0e"))


def test_nan_output(batch):
    with pytest.raises(ValueError, match="NaN"):
        equivariance_error(lambda d: pair_distance_sum(d) * float("nan"), batch, out_types=graph("0e"))


def test_untyped_output(batch):
    with pytest.raises(ValueError, match="no declared type"):
        equivariance_error(lambda d: {"mystery": pair_distance_sum(d)}, batch)


def test_table_format(batch):
    errors = equivariance_error(pair_distance_sum, batch, out_types=graph("0e"), group="SO3")
    text = str(errors)
    assert "rotation" in text and "reflection" not in text and "output" in text
    with pytest.raises(KeyError, match="not tested"):
        errors.by_transform("reflection")


def test_single_graph_without_batch_vector():
    data = random_molecules(num_graphs=1, seed=3).to_data_list()[0]
    assert "batch" not in data.keys()

    def f(d):
        return d.pos - d.pos.mean(0)

    assert_equivariant(f, data, out_types=node("1o"))
    assert isinstance(Batch.from_data_list([data]), Batch)


class _WindModel(torch.nn.Module):
    """A node-level 1o output from a vector input under a name the registry does not know: the
    mean of the neighbours' ``wind`` plus the node's own (equivariant when ``wind`` rotates)."""

    vector_inputs = ("wind",)

    def __init__(self, as_scalars: bool = False):
        super().__init__()
        from gdl.keys import Target

        self.targets = (Target("v", "1o", "node"),)
        self.as_scalars = as_scalars

    def forward(self, data):
        w = data.wind
        if self.as_scalars:  # a broken model: uses the components as if they were invariant numbers
            w = w * torch.tensor([1.0, 2.0, 3.0], dtype=w.dtype)
        j, i = data.edge_index
        return {"v": w + scatter(w[j], i, 0, dim_size=data.num_nodes, reduce="mean")}


class _Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.targets = model, model.targets

    def forward(self, data):
        return self.model(data)


def _with_wind(batch):
    batch = batch.clone()
    batch.wind = torch.randn(
        batch.num_nodes, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    return batch


def test_declared_vector_inputs_are_rotated(batch):
    # the model declares `wind` as a vector input: the check reads it (directly or through the model
    # a strategy wraps) and rotates it; before, it held `wind` fixed and failed this model at 1.68
    data = _with_wind(batch)
    assert_equivariant(_WindModel(), data, tol=1e-12)
    assert_equivariant(_Wrapper(_WindModel()), data, tol=1e-12)
    # a caller's declaration still wins over the model's
    errors = equivariance_error(_WindModel(), data, in_types={"wind": "invariant"})
    assert errors["v"] > 0.1
    # and a model that treats the declared vector as three scalars is caught
    assert equivariance_error(_WindModel(as_scalars=True), data)["v"] > 0.1


def test_undeclared_floating_node_field_is_refused(batch):
    data = _with_wind(batch)
    fn = lambda d: d.wind + centred_positions(d)  # noqa: E731
    with pytest.raises(
        ValueError, match=r"'wind' \[\d+, 3\] have no declared type.*in_types=\{'wind': 'invariant'\}"
    ):
        equivariance_error(fn, data, out_types={"output": node("1o")})
    # declared, the check runs: as a vector it passes, as invariant numbers it fails
    assert_equivariant(fn, data, in_types={"wind": "1o"}, out_types={"output": node("1o")}, translation=False)
    wrong = equivariance_error(fn, data, in_types={"wind": "invariant"}, out_types={"output": node("1o")})
    assert wrong.max() > 0.1
    # integer node fields and registered fields need no declaration
    data.wind = torch.ones(data.num_nodes, dtype=torch.long)
    assert_equivariant(centred_positions, data, out_types={"output": node("1o")})
