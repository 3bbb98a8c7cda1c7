import warnings

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from gdl.data import GalaxyClouds, PeriodicKNNGraph
from gdl.data.datasets.galaxy import cloud_to_data
from gdl.keys import FIELDS

CFG = dict(num_points=300, grid=16, box_size=400.0)


def test_lazy_dataset_fields_types_and_shapes():
    ds = GalaxyClouds(4, CFG, seed=1)
    assert len(ds) == 4
    d = ds[2]
    assert d.pos.shape == (300, 3) and d.velocity.shape == (300, 3) and d.shape.shape == (300, 5)
    for k in ("omega_m", "sigma_8", "bias"):
        assert d[k].shape == (1, 1)
    assert torch.equal(d.box, torch.full((1, 3), 400.0))
    for k in d.keys():  # every field is registered with its type
        assert k in FIELDS, k
        assert d[k].dtype == torch.float32
    assert "x" not in d and "z" not in d  # galaxies carry no node features
    np.testing.assert_allclose(d.pos.numpy(), ds.cloud(2).pos.astype(np.float32))
    assert "lazy" in repr(ds) and "num_points=300" in repr(ds)
    with pytest.raises(IndexError):
        ds.get(4)


def test_float64_and_transform_and_batching():
    ds = GalaxyClouds(3, CFG, dtype=torch.float64, transform=PeriodicKNNGraph(6))
    d = ds[0]
    assert d.pos.dtype == torch.float64 and d.edge_vec.dtype == torch.float64
    assert d.edge_index.shape == (2, 300 * 6)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch.omega_m.shape == (3, 1) and batch.box.shape == (3, 3) and batch.num_nodes == 900


def test_cache_round_trip_equals_lazy(tmp_path):
    lazy = GalaxyClouds(5, CFG, seed=3)
    cached = GalaxyClouds(5, CFG, seed=3, root=tmp_path, chunk_size=2, progress=False)
    files = sorted(p.name for p in cached.cache_dir.iterdir() if p.name != ".build.lock")
    assert files == ["chunk_00000.npz", "chunk_00001.npz", "chunk_00002.npz", "config.json"]
    again = GalaxyClouds(5, CFG, seed=3, root=tmp_path, chunk_size=2, progress=False)
    for i in range(5):
        for k in ("pos", "velocity", "shape", "omega_m", "sigma_8", "bias"):
            assert torch.equal(lazy[i][k], cached[i][k]) and torch.equal(cached[i][k], again[i][k])
    assert "cached in" in repr(cached)
    # a different seed or config never reuses the cache
    other = GalaxyClouds(5, CFG, seed=4, root=tmp_path, chunk_size=2, progress=False)
    assert other.cache_dir != cached.cache_dir


def test_cache_extends_a_partial_chunk(tmp_path):
    small = GalaxyClouds(3, CFG, root=tmp_path, chunk_size=2, progress=False)
    big = GalaxyClouds(7, CFG, root=tmp_path, chunk_size=2, progress=False)
    assert big.cache_dir == small.cache_dir
    lazy = GalaxyClouds(7, CFG)
    for i in range(7):
        assert torch.equal(big[i].pos, lazy[i].pos)


def test_concurrent_builders_generate_each_cloud_once(tmp_path, monkeypatch, capsys):
    """Two jobs that need the same missing clouds at once: one generates, the other waits for it
    and reads its chunks (gdl.data._paths.build_lock)."""
    import threading
    import time

    from gdl.data.datasets import galaxy as galaxy_module

    calls = []
    real = galaxy_module._generate_chunk

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)  # long enough that both builders start before the first chunk is written
        return real(*args, **kwargs)

    monkeypatch.setattr(galaxy_module, "_generate_chunk", slow)
    out = {}

    def build(name):
        out[name] = GalaxyClouds(3, CFG, root=tmp_path, chunk_size=2, progress=False)

    threads = [threading.Thread(target=build, args=(k,)) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 3  # one call per cloud, not one per cloud and job
    for i in range(3):
        assert torch.equal(out["a"][i].pos, out["b"][i].pos)
    assert "waiting for another process that is building galaxy clouds" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "wrong_key"])
def test_corrupt_cache_is_detected_and_regenerated(tmp_path, damage):
    ds = GalaxyClouds(4, CFG, root=tmp_path, chunk_size=2, progress=False)
    path = ds.cache_dir / "chunk_00001.npz"
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        b = bytearray(raw)
        b[len(b) // 3] ^= 0xFF  # inside an array's data: the zip CRC catches it
        path.write_bytes(bytes(b))
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    else:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["key"] = np.array("0123")
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    with pytest.warns(UserWarning, match="corrupt galaxy cache chunk"):
        again = GalaxyClouds(4, CFG, root=tmp_path, chunk_size=2, progress=False)
    lazy = GalaxyClouds(4, CFG)
    assert torch.equal(again[3].pos, lazy[3].pos)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # regenerated: reading it again is clean
        GalaxyClouds(4, CFG, root=tmp_path, chunk_size=2, progress=False)
    assert not list(ds.cache_dir.glob("*.tmp"))


def test_cache_with_worker_processes(tmp_path):
    ds = GalaxyClouds(4, CFG, root=tmp_path, chunk_size=2, num_workers=2, progress=False)
    lazy = GalaxyClouds(4, CFG)
    assert torch.equal(ds[3].shape, lazy[3].shape)


def test_cloud_to_data_and_bad_arguments():
    ds = GalaxyClouds(1, CFG)
    d = cloud_to_data(ds.cloud(0), torch.float64)
    assert d.velocity.dtype == torch.float64
    with pytest.raises(ValueError, match="num_clouds"):
        GalaxyClouds(-1, CFG)
    with pytest.raises(TypeError, match="floating"):
        GalaxyClouds(1, CFG, dtype=torch.int64)
    with pytest.raises(ValueError, match="box_size must be > 0"):
        GalaxyClouds(1, dict(box_size=0.0))
    assert len(GalaxyClouds(0, CFG)) == 0
