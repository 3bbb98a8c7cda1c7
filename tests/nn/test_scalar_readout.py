import functools

import pytest
import torch

from gdl.keys import Target, cartesian_to_2e
from gdl.nn import InvariantReadout, PlainReadout, ScalarizationReadout, safe_norm, traceless_outer
from gdl.testing import default_dtype, equivariance_error
from gdl.testing.data import random_molecules

F = 8
TARGETS = (
    Target("e", "0e", "graph"),
    Target("mixed", "0e+2x1o+2e", "graph"),
    Target("q", "3x0e", "node"),
    Target("v", "1o", "node"),
    Target("s", "2e", "node"),
)


def inputs(seed: int = 0, vector_channels: int = 0):
    batch = random_molecules(num_graphs=3, min_nodes=4, max_nodes=6, seed=seed)
    n = batch.num_nodes
    g = torch.Generator().manual_seed(seed)
    d = {
        "x": torch.randn(n, F, generator=g, dtype=torch.float64),  # invariant features
        "pos": batch.pos,
        "edge_index": batch.edge_index,
        "batch": batch.batch,
    }
    if vector_channels:
        d["vec"] = torch.randn(n, vector_channels, 3, generator=g, dtype=torch.float64)
    return d, batch.num_graphs


def make(cls=ScalarizationReadout, targets=TARGETS, **kwargs):
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return cls(targets, F, **kwargs).double()


def call_of(readout, num_graphs):
    def call(x, pos, edge_index, batch, vec=None):
        r = pos[edge_index[0]] - pos[edge_index[1]]
        return readout(x, edge_index, r, batch, num_graphs, node_vec=vec)

    return call


def test_helpers():
    r = torch.randn(10, 3, dtype=torch.float64)
    torch.testing.assert_close(traceless_outer(r), cartesian_to_2e(r[:, :, None] * r[:, None, :]))
    r0 = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    n = safe_norm(r0 + torch.tensor([[0.0, 0, 0], [3.0, 4, 0]], dtype=torch.float64))
    torch.testing.assert_close(n, torch.tensor([0.0, 5.0], dtype=torch.float64))
    n.sum().backward()
    assert torch.isfinite(r0.grad).all() and (r0.grad[0] == 0).all()


@pytest.mark.parametrize("vector_channels", [0, 2])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_scalarization_readout_is_equivariant(vector_channels, reduce):
    d, b = inputs(vector_channels=vector_channels)
    readout = make(reduce=reduce, vector_channels=vector_channels)
    out = call_of(readout, b)(**d)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "e": (b, 1),
        "mixed": (b, 1 + 6 + 5),
        "q": (d["x"].shape[0], 3),
        "v": (d["x"].shape[0], 3),
        "s": (d["x"].shape[0], 5),
    }
    in_types = {"vec": "1o"} if vector_channels else None
    errors = equivariance_error(
        call_of(readout, b), d, in_types=in_types, out_types={t.name: t for t in readout.targets}
    )
    assert errors.max() < 1e-10, errors


def test_layout_graph_pooling_and_no_cancellation():
    """Graph outputs are pooled node outputs; a graph 1o sum does not cancel by antisymmetry."""
    d, b = inputs(seed=1)
    targets = (Target("gv", "1o", "graph"), Target("nv", "1o", "node"), Target("ns", "0e+1o", "node"))
    readout = make(targets=targets)
    out = call_of(readout, b)(**d)
    assert out["gv"].norm(dim=-1).min() > 1e-3
    # a graph target is the pooled node target (same seed -> same weights)
    solo = make(targets=(Target("t", "1o", "graph"),))
    solo_node = make(targets=(Target("t", "1o", "node"),))
    pooled = torch.zeros(b, 3, dtype=torch.float64).index_add_(0, d["batch"], call_of(solo_node, b)(**d)["t"])
    torch.testing.assert_close(call_of(solo, b)(**d)["t"], pooled)
    assert out["ns"].shape[1] == 4


def test_invariant_readout_gives_only_scalars():
    d, b = inputs()
    readout = make(InvariantReadout, targets=(Target("e", "2x0e", "graph"), Target("q", "0e", "node")))
    out = call_of(readout, b)(**d)
    assert out["e"].shape == (b, 2) and out["q"].shape == (d["x"].shape[0], 1)
    with pytest.raises(
        ValueError, match=r"InvariantReadout cannot produce target 'v' \(node 1x1o\).*\['1o'\]"
    ):
        InvariantReadout((Target("e"), Target("v", "1o", "node")), F)
    with pytest.raises(ValueError, match=r"ScalarizationReadout cannot produce target 't' \(graph 1x3o\)"):
        ScalarizationReadout(Target("t", "3o"), F)


def test_plain_readout_gives_any_irreps_and_is_not_equivariant():
    d, b = inputs()
    targets = (*TARGETS, Target("odd", "3o", "graph"))
    readout = make(PlainReadout, targets=targets)
    out = call_of(readout, b)(**d)
    assert out["odd"].shape == (b, 7)
    rot = equivariance_error(
        call_of(readout, b), d, out_types={t.name: t for t in readout.targets}
    ).by_transform("rotation")
    assert rot["v"] > 1e-2 and rot["odd"] > 1e-2 and rot["e"] < 1e-10  # raw components; scalars from h


def test_bad_inputs_and_repr():
    d, b = inputs()
    readout = make(vector_channels=1)
    with pytest.raises(ValueError, match=r"h must have shape \[N, 8\]"):
        call_of(readout, b)(d["x"][:, :3], d["pos"], d["edge_index"], d["batch"])
    with pytest.raises(ValueError, match=r"node_vec must have shape \[N, 1, 3\]"):
        call_of(readout, b)(**d, vec=torch.zeros(d["x"].shape[0], 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="got node_vec=None"):
        call_of(readout, b)(**d)
    with pytest.raises(ValueError, match="reduce must be"):
        ScalarizationReadout(TARGETS, F, reduce="max")
    partial = functools.partial(ScalarizationReadout, hidden_channels=4)
    assert partial(TARGETS, F).hidden_channels == 4
    assert repr(readout).startswith(
        "ScalarizationReadout(\n  targets=[e:graph:1x0e, mixed:graph:1x0e+2x1o+1x2e"
    )
    assert "vector_channels=1" in repr(readout)
