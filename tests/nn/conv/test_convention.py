"""The one layer convention of :mod:`gdl.nn` (its module docstring), checked on every layer in
``gdl.nn.conv.__all__``: the shared ``forward(x, pos, edge_index, *, edge_vec=None, ...)``
signature, an injected ``radial``, ``aggr``/``flow`` honoured or rejected by name, no host
synchronisation in a forward pass, and value checks under :func:`gdl.debug`."""

from __future__ import annotations

import inspect

import pytest
import torch

import gdl
import gdl.nn.conv as conv
from gdl.groups import octahedral, octahedron_vertices
from gdl.testing import count_host_syncs
from gdl.testing.data import random_molecule

N, C = 6, 4


def _anchors(sphere: bool) -> torch.Tensor:
    # regular layers: 24 rotations [A, 3, 3]; sphere layers: 6 orientations [A, 3]
    a = octahedron_vertices() if sphere else octahedral()
    return a.to(torch.get_default_dtype())


def _cases():
    """name -> (constructor, constructor kwargs, forward extras builder). ``x`` is built from the
    extras builder's first return value."""
    A = 24

    def plain(x_shape):
        return lambda: (torch.randn(*x_shape), {})

    def anchored(x_shape, sphere=False, lifting=False):
        def build():
            anchors = _anchors(sphere)
            shape = (N, C) if lifting else (N, anchors.shape[0], C)
            return torch.randn(*shape), {"anchors": anchors}

        return build

    return {
        "EGNNConv": (conv.EGNNConv, dict(channels=C), plain((N, C))),
        "InvariantConv": (conv.InvariantConv, dict(channels=C), plain((N, C))),
        "PlainConv": (conv.PlainConv, dict(channels=C), plain((N, C))),
        "TFNConv": (conv.TFNConv, dict(irreps_in="4x0e", irreps_out="4x0e+2x1o"), plain((N, 4))),
        "SE3AttentionConv": (
            conv.SE3AttentionConv,
            dict(irreps_in="4x0e", irreps_out="4x0e+2x1o", num_heads=2),
            plain((N, 4)),
        ),
        "MACEConv": (
            conv.MACEConv,
            dict(irreps_in="4x0e", irreps_out="4x0e+2x1o", correlation=2),
            plain((N, 4)),
        ),
        "LiftingConv": (conv.LiftingConv, dict(in_channels=C, out_channels=C), anchored(None, lifting=True)),
        "GroupConv": (conv.GroupConv, dict(in_channels=C, out_channels=C), anchored(None)),
        "RelaxedGroupConv": (
            conv.RelaxedGroupConv,
            dict(in_channels=C, out_channels=C, num_anchors=A),
            anchored(None),
        ),
        "SphereLiftingConv": (
            conv.SphereLiftingConv,
            dict(in_channels=C, out_channels=C),
            anchored(None, sphere=True, lifting=True),
        ),
        "SphereGroupConv": (
            conv.SphereGroupConv,
            dict(in_channels=C, out_channels=C),
            anchored(None, sphere=True),
        ),
        "RelaxedSphereGroupConv": (
            conv.RelaxedSphereGroupConv,
            dict(in_channels=C, out_channels=C, num_anchors=6),
            anchored(None, sphere=True),
        ),
    }


CASES = _cases()

def _case(name):
    return CASES[name]


def test_every_layer_has_a_case():
    assert set(CASES) == set(conv.__all__)


def _call(layer, x, data, extras, **kw):
    return layer(x, data.pos, data.edge_index, **extras, **kw)


@pytest.mark.parametrize("name", conv.__all__)
def test_forward_signature(name):
    cls, _, _ = _case(name)
    params = list(inspect.signature(cls.forward).parameters.values())
    assert [p.name for p in params[:4]] == ["self", "x", "pos", "edge_index"], params
    assert all(p.kind == p.POSITIONAL_OR_KEYWORD for p in params[1:4])
    rest = params[4:]
    assert all(p.kind == p.KEYWORD_ONLY for p in rest), [(p.name, p.kind) for p in rest]
    names = {p.name: p for p in rest}
    assert "edge_vec" in names and names["edge_vec"].default is None


@pytest.mark.parametrize("name", conv.__all__)
def test_radial_is_injected(name):
    cls, kw, build = _case(name)
    sig = inspect.signature(cls.__init__).parameters
    assert "radial" in sig, f"{name} takes no `radial` module"
    layer = cls(**kw)
    assert isinstance(getattr(layer, "radial", None), torch.nn.Module) or layer.radial is None


@pytest.mark.parametrize("name", conv.__all__)
def test_aggr_and_flow_honoured_or_rejected(name):
    cls, kw, build = _case(name)
    supported = tuple(cls.supported_aggr)
    assert supported, f"{name}.supported_aggr is empty"
    data = random_molecule(N, seed=1, dtype=torch.float32)
    x, extras = build()
    outs = {}
    for a in supported:
        torch.manual_seed(0)
        layer = cls(**kw, aggr=a)
        assert layer.aggr == a
        out = _call(layer, x, data, extras)
        outs[a] = out[0] if isinstance(out, tuple) else out
    if len(supported) > 1:  # honoured: different aggregations give different outputs
        a, b = supported[:2]
        assert not torch.allclose(outs[a], outs[b])
    unsupported = next(a for a in ("sum", "mean", "max", "min", "mul") if a not in supported)
    with pytest.raises(ValueError, match="aggr"):
        cls(**kw, aggr=unsupported)
    with pytest.raises(ValueError, match="flow"):
        cls(**kw, flow="target_to_source")


@pytest.mark.parametrize("name", conv.__all__)
def test_forward_makes_no_host_sync(name):
    cls, kw, build = _case(name)
    torch.manual_seed(0)
    layer = cls(**kw)
    data = random_molecule(N, seed=2, dtype=torch.float32)
    x, extras = build()
    j, i = data.edge_index
    for extra in ({}, {"edge_vec": data.pos[j] - data.pos[i]}):
        with count_host_syncs() as syncs:
            _call(layer, x, data, extras, **extra)
        assert syncs.count == 0, f"{name} synchronised: {dict(syncs.ops)}"


@pytest.mark.parametrize("name", conv.__all__)
def test_value_checks_under_debug(name):
    cls, kw, build = _case(name)
    layer = cls(**kw)
    data = random_molecule(N, seed=3, dtype=torch.float32)
    x, extras = build()
    pos = data.pos.clone()
    pos[2, 1] = float("nan")
    with gdl.debug(), pytest.raises(ValueError, match="pos"):
        layer(x, pos, data.edge_index, **extras)
    bad = data.edge_index.clone()
    bad[0, 0] = N + 3
    with gdl.debug(), pytest.raises(ValueError, match="edge_index"):
        layer(x, data.pos, bad, **extras)
    with gdl.debug():
        with count_host_syncs() as syncs:
            layer(x, data.pos, data.edge_index, **extras)
    assert syncs.count > 0  # the switch really turns the value checks on
    assert not gdl.is_debug_enabled()


def test_shape_errors_without_debug():
    """Shape checks stay on without the switch (they cost nothing)."""
    cls, kw, build = CASES["EGNNConv"]
    layer = cls(**kw)
    data = random_molecule(N, seed=3, dtype=torch.float32)
    x, extras = build()
    with pytest.raises(ValueError, match="pos"):
        layer(x, data.pos[:, :2], data.edge_index, **extras)
    with pytest.raises(ValueError, match="edge_index"):
        layer(x, data.pos, data.edge_index[:1], **extras)
