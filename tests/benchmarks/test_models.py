import pytest
import torch

from benchmarks import models
from benchmarks.models import (
    GDL_MODELS,
    SE3TransformerPytorchNet,
    build,
    count_parameters,
    match_hidden,
    peer_available,
)
from benchmarks.plans import make_plan
from benchmarks.workloads import molecule_batches, random_qm9_like_sample


@pytest.fixture(scope="module")
def batch():
    return molecule_batches(random_qm9_like_sample(4, seed=2), 4)[0]


@pytest.mark.parametrize("name", GDL_MODELS)
def test_every_gdl_model_builds_and_trains_from_its_spec(name, batch):
    spec, _ = make_plan(quick=True).scaling_spec(name)  # the smallest configurations
    model = build(spec)
    loss = model.loss_of(model.module(model.prepare(batch)))
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert any(p.grad is not None for p in model.module.parameters())


def test_match_hidden_finds_the_closest_parameter_count():
    spec = {"kind": "gdl", "name": "InvariantNet", "kwargs": {"num_layers": 2}}
    target = count_parameters(
        {"kind": "gdl", "name": "EGNN", "kwargs": {"hidden_channels": 16, "num_layers": 2}}
    )
    matched = match_hidden(spec, target, hi=64)
    h = matched["kwargs"]["hidden_channels"]
    best = abs(count_parameters(matched) - target)
    for other in (h - 1, h + 1):
        other_spec = {**spec, "kwargs": {**spec["kwargs"], "hidden_channels": other}}
        assert abs(count_parameters(other_spec) - target) >= best
    assert spec["kwargs"].get("hidden_channels") is None  # the input spec is not modified


def test_unknown_specs_are_rejected():
    with pytest.raises(ValueError, match="unknown gdl model"):
        build({"kind": "gdl", "name": "Nope", "kwargs": {}})
    with pytest.raises(ValueError, match="unknown model spec"):
        build({"kind": "peer", "name": "nope"})
    with pytest.raises(ValueError, match="anchors must be"):
        build({"kind": "gdl", "name": "GroupConvNet", "kwargs": {"anchors": "cube"}})


def test_peer_available_does_not_import(monkeypatch):
    monkeypatch.setitem(models.PEERS, "egnn_pytorch", "surely_not_an_installed_module_xyz")
    assert not peer_available("egnn_pytorch")


def test_dense_padding_of_the_se3_peer_keeps_every_atom(batch):
    feats, coors, mask = SE3TransformerPytorchNet.dense(batch)
    sizes = torch.bincount(batch.batch).tolist()
    assert feats.shape == (4, max(sizes)) and coors.shape == (4, max(sizes), 3)
    assert mask.sum(1).tolist() == sizes
    torch.testing.assert_close(coors[mask], batch.pos)
    torch.testing.assert_close(feats[mask], batch.z)
    assert float(coors[~mask].abs().sum()) == 0.0


def test_egnn_peer_reads_the_same_batches(batch):
    pytest.importorskip("egnn_pytorch")
    model = build({"kind": "peer", "name": "egnn_pytorch", "kwargs": {"feats": 8, "depth": 2, "m_dim": 8}})
    out = model.module(model.prepare(batch))
    assert out.shape == (4, 1)
    model.loss_of(out).backward()


def test_schnet_peer_reads_the_batch_edges(batch):
    model = build(
        {
            "kind": "peer",
            "name": "schnet",
            "kwargs": {"hidden_channels": 8, "num_filters": 8, "num_interactions": 2},
        }
    )
    out = model.module(model.prepare(batch))
    assert out.shape == (int(batch.num_graphs), 1)
    # its interaction graph is the batch's: dropping the edges changes the output
    fewer = batch.clone()
    fewer.edge_index = batch.edge_index[:, ::2]
    assert not torch.allclose(model.module(fewer), out)
    model.loss_of(out).backward()


def test_nequip_peer_builds_without_changing_gdl_state(batch):
    pytest.importorskip("nequip")
    import e3nn

    dtype, flags = torch.get_default_dtype(), e3nn.get_optimization_defaults()
    model = build(
        {"kind": "peer", "name": "nequip", "kwargs": {"num_layers": 2, "l_max": 1, "num_features": 4}}
    )
    assert torch.get_default_dtype() == dtype and e3nn.get_optimization_defaults() == flags
    inputs = model.prepare(batch)
    out = model.module(inputs)
    assert out.shape == (int(batch.num_graphs), 1) and set(inputs) == {
        "pos",
        "edge_index",
        "atom_types",
        "batch",
        "num_atoms",
    }
    torch.testing.assert_close(model.module(inputs), out)  # its input is not modified
    model.loss_of(out).backward()


def test_mace_is_measured_beside_tfn_in_every_section():
    """Issue 19: MACE has a QM9 row at EGNN's parameter count, a pair beside TFN at the same width,
    layers and l_max, and a scaling row."""
    plan = make_plan(quick=False)
    rows = {r["id"]: r for r in plan.qm9_rows(list(GDL_MODELS))}
    assert rows["mace"]["match_parameters_of"] == "egnn" and rows["mace"]["main"]
    pair = {r["id"]: r for r in plan.pair_rows(list(GDL_MODELS))}["mace_vs_tfn"]
    mace, tfn = pair["specs"]
    assert (mace["name"], tfn["name"]) == ("MACE", "TFN")
    assert mace["kwargs"] == tfn["kwargs"] | {"l_max": 2}
    spec, config = plan.scaling_spec("MACE")
    assert spec["name"] == "MACE" and "l_max 1" in config
    assert plan.context_spec("MACE")["name"] == "MACE"


def test_a_model_of_another_commit_is_built_from_its_own_package(tmp_path, batch):
    name = models.gdl_package_at("HEAD", cache=tmp_path)
    assert name.startswith("gdl_") and (tmp_path / name / "models" / "egnn.py").is_file()
    assert models.gdl_package_at("HEAD", cache=tmp_path) == name  # extracted once, then reused
    spec = {"kind": "gdl", "name": "EGNN", "kwargs": {"hidden_channels": 8, "num_layers": 2}}
    old = build({**spec, "commit": "HEAD"})
    assert type(old.module).__module__.startswith("gdl_") and type(old.module).__module__ != "gdl.models.egnn"
    out = old.module(old.prepare(batch))
    assert out["U0"].shape == (4, 1)
    with pytest.raises(ValueError, match="not a commit"):
        models.gdl_package_at("no-such-revision-xyz", cache=tmp_path)
