import sys

import numpy as np
import pandas as pd
import pytest
import torch

from gdl.data import CosmoBench, GalaxyClouds, PeriodicKNNGraph, PointCloudFile, QuijoteTFRecord
from gdl.data.datasets.tfrecord import serialize_example, serialize_tensor, write_tfrecord

h5py = pytest.importorskip("h5py")


def _clouds(n_clouds=3, n=50, box=1000.0, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, box, (n_clouds, n, 3))
    vel = rng.normal(0, 300, (n_clouds, n, 3))
    om = rng.uniform(0.1, 0.5, n_clouds)
    s8 = rng.uniform(0.6, 1.0, n_clouds)
    return pos, vel, om, s8


def _write_cosmobench(path, pos, vel, om, s8, group="BSQ", drop=None):
    with h5py.File(path, "w") as f:
        f["params/Omega_m"] = om
        f["params/sigma_8"] = s8
        for i in range(len(om)):
            g = f.create_group(f"{group}/{group}_{i}")
            for a, c in enumerate("XYZ"):
                g[c] = pos[i, :, a]
                g["V" + c] = vel[i, :, a]
            if drop and i == 1:
                del g[drop]


def test_cosmobench_round_trip(tmp_path):
    pos, vel, om, s8 = _clouds()
    path = tmp_path / "Quijote_BSQ_top50.hdf5"
    _write_cosmobench(path, pos, vel, om, s8)
    ds = CosmoBench(path, transform=PeriodicKNNGraph(4))
    assert len(ds) == 3 and ds.group == "BSQ"
    d = ds[1]
    np.testing.assert_allclose(d.pos.numpy(), pos[1], rtol=1e-6)
    np.testing.assert_allclose(d.velocity.numpy(), vel[1], rtol=1e-6)
    assert d.omega_m.item() == pytest.approx(om[1]) and d.sigma_8.item() == pytest.approx(s8[1])
    assert torch.equal(d.box, torch.full((1, 3), 1000.0)) and d.edge_vec.shape == (200, 3)
    # the same fields as the generator, apart from its extra targets
    synth = GalaxyClouds(1, dict(num_points=50, grid=8))[0]
    assert set(d.keys()) - {"edge_index", "edge_vec"} == set(synth.keys()) - {"shape", "bias"}
    assert "3 clouds" in repr(ds)


def test_cosmobench_wraps_outside_positions_once_and_checks_columns(tmp_path):
    pos, vel, om, s8 = _clouds()
    pos[0, 0, 0] = -0.5
    pos[1, 3, 2] = 1000.25
    path = tmp_path / "c.hdf5"
    _write_cosmobench(path, pos, vel, om, s8, group="LH")
    with pytest.raises(ValueError, match="needs an explicit box_size"):
        CosmoBench(path)
    ds = CosmoBench(path, box_size=1000.0)
    with pytest.warns(UserWarning, match="wrapped") as rec:
        a, b = ds[0], ds[1]
    assert len([w for w in rec if "wrapped" in str(w.message)]) == 1  # warned once
    assert a.pos[0, 0].item() == pytest.approx(999.5) and b.pos[3, 2].item() == pytest.approx(0.25)
    path2 = tmp_path / "missing.hdf5"
    _write_cosmobench(path2, pos, vel, om, s8, drop="VY")
    with pytest.raises(KeyError, match=r"BSQ_1 lacks columns \['VY'\]"):
        CosmoBench(path2)[1]


def test_cosmobench_nan_velocity_and_bad_files(tmp_path, monkeypatch):
    pos, vel, om, s8 = _clouds()
    vel[2, 7, 1] = np.nan
    path = tmp_path / "nan.hdf5"
    _write_cosmobench(path, pos, vel, om, s8)
    with pytest.raises(ValueError, match=r"BSQ_2: velocities contain NaN or inf \(rows \[7\]\)"):
        CosmoBench(path)[2]
    with pytest.raises(FileNotFoundError):
        CosmoBench(tmp_path / "nope.hdf5")
    with h5py.File(tmp_path / "noparams.hdf5", "w") as f:
        f["BSQ/BSQ_0/X"] = np.zeros(3)
    with pytest.raises(KeyError, match="params"):
        CosmoBench(tmp_path / "noparams.hdf5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"`galaxy` extra.*gdl\[galaxy\]"):
        CosmoBench(path)


def _quijote_record(pos, vel, om, s8, rng, drop=None):
    # the layout of Balla et al. 2024: one float32 TensorProto per column and per parameter
    cols = {
        "x": pos[:, 0],
        "y": pos[:, 1],
        "z": pos[:, 2],
        "v_x": vel[:, 0],
        "v_y": vel[:, 1],
        "v_z": vel[:, 2],
    }
    cols.update({k: rng.normal(size=len(pos)) for k in ("J_x", "J_y", "J_z", "M200c", "Rvir")})
    params = {"Omega_m": om, "Omega_b": 0.049, "h": 0.6711, "n_s": 0.9624, "sigma_8": s8}
    feats = {k: serialize_tensor(np.asarray(v, dtype=np.float32)) for k, v in {**cols, **params}.items()}
    feats["tpcf"] = serialize_tensor(rng.normal(size=24).astype(np.float32))
    if drop:
        del feats[drop]
    return serialize_example(feats)


def test_quijote_tfrecord_round_trip(tmp_path):
    pos, vel, om, s8 = _clouds(4)
    rng = np.random.default_rng(1)
    write_tfrecord(
        tmp_path / "halos_train_1.tfrecord",
        [_quijote_record(pos[i], vel[i], om[i], s8[i], rng) for i in (0, 1)],
    )
    write_tfrecord(
        tmp_path / "halos_train_2.tfrecord",
        [_quijote_record(pos[i], vel[i], om[i], s8[i], rng) for i in (2, 3)],
    )
    ds = QuijoteTFRecord(tmp_path)
    assert len(ds) == 4 and len(ds.files) == 2
    for i in range(4):
        d = ds[i]
        np.testing.assert_allclose(d.pos.numpy(), pos[i].astype(np.float32))
        np.testing.assert_allclose(d.velocity.numpy(), vel[i].astype(np.float32))
        assert d.omega_m.item() == pytest.approx(om[i], rel=1e-6) and d.sigma_8.item() == pytest.approx(
            s8[i], rel=1e-6
        )
    assert ds.example(0)["tpcf"].shape == (24,) and ds.example(0)["h"].shape == ()
    assert len(QuijoteTFRecord(str(tmp_path / "halos_train_*.tfrecord"))) == 4
    assert len(QuijoteTFRecord([tmp_path / "halos_train_2.tfrecord"])) == 2


def test_quijote_tfrecord_missing_feature_and_no_files(tmp_path):
    pos, vel, om, s8 = _clouds(1)
    rng = np.random.default_rng(0)
    write_tfrecord(
        tmp_path / "halos_test_1.tfrecord", [_quijote_record(pos[0], vel[0], om[0], s8[0], rng, drop="v_y")]
    )
    with pytest.raises(KeyError, match=r"missing features \['v_y'\]"):
        QuijoteTFRecord(tmp_path / "halos_test_1.tfrecord")[0]
    with pytest.raises(FileNotFoundError):
        QuijoteTFRecord(tmp_path / "empty_*.tfrecord")


def test_point_cloud_npz_and_csv(tmp_path):
    pos, vel, om, s8 = _clouds(2, n=20, box=100.0)
    rows = {
        "X": pos.reshape(-1, 3)[:, 0], "Y": pos.reshape(-1, 3)[:, 1], "Z": pos.reshape(-1, 3)[:, 2],
        "VX": vel.reshape(-1, 3)[:, 0], "VY": vel.reshape(-1, 3)[:, 1], "VZ": vel.reshape(-1, 3)[:, 2],
        "Om": np.repeat(om, 20), "cloud": np.repeat([7, 3], 20),
    }  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    cols = {"X": "x", "Y": "y", "Z": "z", "VX": "vx", "VY": "vy", "VZ": "vz", "Om": "omega_m"}
    ds = PointCloudFile(tmp_path / "c.csv", box_size=100.0, columns=cols)
    assert len(ds) == 2 and ds.cloud_ids.tolist() == [3, 7]  # clouds in increasing id order
    np.testing.assert_allclose(ds[1].pos.numpy(), pos[0], rtol=1e-6)
    np.testing.assert_allclose(ds[0].velocity.numpy(), vel[1], rtol=1e-6)
    assert ds[0].omega_m.item() == pytest.approx(om[1]) and "sigma_8" not in ds[0]
    np.savez(
        tmp_path / "c.npz", pos=pos[0], velocity=vel[0], sigma_8=np.full(20, s8[0]), box_size=np.array(100.0)
    )
    d = PointCloudFile(tmp_path / "c.npz")[0]
    np.testing.assert_allclose(d.pos.numpy(), pos[0], rtol=1e-6)
    assert d.sigma_8.item() == pytest.approx(s8[0]) and torch.equal(d.box, torch.full((1, 3), 100.0))
    np.savez(tmp_path / "p.npz", x=pos[0, :, 0], y=pos[0, :, 1], z=pos[0, :, 2])
    only_pos = PointCloudFile(tmp_path / "p.npz", box_size=[100.0, 100.0, 100.0])[0]
    assert "velocity" not in only_pos and only_pos.num_nodes == 20


def test_point_cloud_bad_files(tmp_path):
    pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(KeyError, match=r"missing position columns \['z'\]"):
        PointCloudFile(tmp_path / "a.csv", box_size=10.0)
    pd.DataFrame({"x": [1.0], "y": [1.0], "z": [1.0], "vx": [0.0]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(KeyError, match="vx, vy and vz"):
        PointCloudFile(tmp_path / "b.csv", box_size=10.0)
    with pytest.raises(ValueError, match="pass box_size"):
        PointCloudFile(tmp_path / "a.csv")
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "z": [1.0, np.nan], "omega_m": [0.3, 0.3]})
    df.to_csv(tmp_path / "c.csv", index=False)
    ds = PointCloudFile(tmp_path / "c.csv", box_size=10.0)
    with pytest.raises(ValueError, match="positions contain NaN"):
        ds[0]
    pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "z": [1.0, 2.0], "omega_m": [0.3, 0.4]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    with pytest.raises(ValueError, match="constant within a cloud"):
        PointCloudFile(tmp_path / "d.csv", box_size=10.0)[0]
    (tmp_path / "e.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type"):
        PointCloudFile(tmp_path / "e.txt", box_size=1.0)
    with pytest.raises(ValueError, match="box size must be > 0"):
        PointCloudFile(tmp_path / "a.csv", box_size=-1.0)
