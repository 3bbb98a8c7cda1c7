"""NBodyCharged: fields, seeded prefix-stable generation, caching and errors."""

import math

import pytest
import torch

from gdl.data import NBODY_SPLIT_SIZES, NBodyCharged, NBodyConfig
from gdl.data.datasets import nbody as nbody_module
from gdl.data.sim.nbody_sim import initial_conditions, simulate_charged

CFG = NBodyConfig()

# --- dataset -------------------------------------------------------------------------------------
SMALL = NBodyConfig(chunk=40, frame_in=3, frame_out=5)  # short trajectories: the mechanics only


def test_dataset_fields(tmp_path):
    ds = NBodyCharged(tmp_path, "val", num_samples=50, field_strength=0.3, config=SMALL, log=False)
    assert len(ds) == 50 and ds.clipped.shape == (50,)
    d = ds[7]
    assert (
        d.pos.shape == d.vel.shape == d.displacement.shape == d.pos_target.shape == d.efield.shape == (5, 3)
    )
    assert d.x.shape == (5, 1) and set(d.x.flatten().tolist()) <= {-1.0, 1.0}
    assert d.edge_index.shape == (2, 20) and bool((d.edge_index[0] != d.edge_index[1]).all())
    j, i = d.edge_index
    torch.testing.assert_close(d.edge_attr[:, 0], d.x[j, 0] * d.x[i, 0])
    torch.testing.assert_close(d.displacement, d.pos_target - d.pos)
    torch.testing.assert_close(d.efield, torch.tensor([[0.0, 0.0, 0.3]]).expand(5, 3))
    # the stored data are the simulation of the seeded initial conditions
    gen = torch.Generator().manual_seed(nbody_module._chunk_seed(0, "val", 0))
    pos, vel, q = initial_conditions(SMALL.chunk, gen, ds.config)
    sim = simulate_charged(pos[7:8], vel[7:8], q[7:8], ds.config)
    # the protocol's initial speeds are exactly 0.5 (random directions); the stored frame is later
    torch.testing.assert_close(vel.norm(dim=-1), torch.full(vel.shape[:-1], 0.5, dtype=vel.dtype))
    torch.testing.assert_close(d.pos, sim["pos"][0, 0].float())
    torch.testing.assert_close(d.pos_target, sim["pos"][0, 1].float())
    torch.testing.assert_close(d.vel, sim["vel"][0, 0].float())  # the velocities of the input frame
    assert "NBodyCharged(split='val', num_samples=50, field_strength=0.3" in repr(ds)


def test_prefix_stable_and_cached(tmp_path, monkeypatch):
    small = NBodyCharged(tmp_path, "train", num_samples=30, config=SMALL, log=False)
    large = NBodyCharged(tmp_path, "train", num_samples=100, config=SMALL, log=False)
    assert torch.equal(large._data.pos[: 30 * 5], small._data.pos)
    val = NBodyCharged(tmp_path, "val", num_samples=30, config=SMALL, log=False)
    assert not torch.equal(val._data.pos, small._data.pos)  # splits are independent streams
    other_seed = NBodyCharged(tmp_path, "train", num_samples=30, seed=1, config=SMALL, log=False)
    assert not torch.equal(other_seed._data.pos, small._data.pos)

    def boom(*a, **k):
        raise AssertionError("regenerated a cached chunk")

    monkeypatch.setattr(nbody_module, "simulate_charged", boom)
    again = NBodyCharged(tmp_path, "train", num_samples=100, config=SMALL, log=False)
    assert torch.equal(again._data.pos, large._data.pos)


def test_corrupt_chunk_is_regenerated(tmp_path):
    ds = NBodyCharged(tmp_path, "test", num_samples=40, config=SMALL, log=False)
    chunk = next(ds.cache_dir.glob("test_seed0_chunk0000.pt"))
    chunk.write_bytes(chunk.read_bytes()[:100])
    with pytest.warns(UserWarning, match="regenerating"):
        again = NBodyCharged(tmp_path, "test", num_samples=40, config=SMALL, log=False)
    assert torch.equal(again._data.pos, ds._data.pos)


def test_concurrent_builders_simulate_each_chunk_once(tmp_path, monkeypatch, capsys):
    """Two jobs that need the same missing trajectories at once: one simulates, the other waits for
    it and loads its chunks (gdl.data._paths.build_lock); both end with the same data."""
    import threading
    import time

    calls = []
    real = nbody_module.simulate_charged

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)  # long enough that both builders start before the first chunk is written
        return real(*args, **kwargs)

    monkeypatch.setattr(nbody_module, "simulate_charged", slow)
    out = {}

    def build(name):
        out[name] = NBodyCharged(tmp_path, "train", num_samples=80, config=SMALL, log=False)

    threads = [threading.Thread(target=build, args=(k,)) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 2  # 80 trajectories in chunks of 40, simulated once, not once per job
    assert torch.equal(out["a"]._data.pos, out["b"]._data.pos)
    assert "waiting for another process that is building the generated N-body" in capsys.readouterr().err


def test_field_changes_data_and_cache_key(tmp_path):
    a = NBodyCharged(tmp_path, "train", num_samples=40, config=SMALL, log=False)
    b = NBodyCharged(tmp_path, "train", num_samples=40, field_strength=2.0, config=SMALL, log=False)
    assert a.cache_dir != b.cache_dir
    assert not torch.allclose(a._data.pos, b._data.pos)  # same initial conditions, other dynamics
    # the field pushes positive charges up and negative ones down on average
    dz = (b._data.displacement - a._data.displacement)[:, 2] * b._data.x[:, 0]
    assert float(dz.mean()) > 0


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="valid splits: train, val, test"):
        NBodyCharged(tmp_path, "valid")
    with pytest.raises(ValueError, match="positive int"):
        NBodyCharged(tmp_path, num_samples=0)
    with pytest.raises(ValueError, match="finite"):
        NBodyCharged(tmp_path, field_strength=math.inf)
    with pytest.raises(ValueError, match="frame_in < frame_out"):
        NBodyConfig(frame_in=40, frame_out=30)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="GDL_DATA_DIR"):
        NBodyCharged(blocker, num_samples=10, config=SMALL, log=False)


def test_default_protocol_sizes():
    assert NBODY_SPLIT_SIZES == {"train": 3000, "val": 2000, "test": 2000}
    assert CFG.step_of_frame(CFG.frame_in) == 3100 and CFG.step_of_frame(CFG.frame_out) == 4100
    assert CFG.max_force == pytest.approx(0.1 / CFG.dt)


@pytest.mark.slow
def test_default_protocol_generation_time(tmp_path):
    """The 3,000 / 2,000 / 2,000 protocol sets are generated within 2 minutes (``make test-full``)."""
    import time

    t0 = time.perf_counter()
    sets = {s: NBodyCharged(tmp_path, s, log=False) for s in ("train", "val", "test")}
    elapsed = time.perf_counter() - t0
    assert [len(sets[s]) for s in ("train", "val", "test")] == [3000, 2000, 2000]
    assert elapsed < 120, elapsed
