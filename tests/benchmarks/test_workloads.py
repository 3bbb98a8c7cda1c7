import pytest
import torch

from benchmarks.workloads import (
    galaxy_cloud,
    load_qm9_sample,
    molecule_batches,
    random_qm9_like_sample,
    save_qm9_sample,
)


def test_sample_round_trip(tmp_path):
    sample = random_qm9_like_sample(10, seed=3)
    path = save_qm9_sample(tmp_path / "s.pt", sample)
    loaded = load_qm9_sample(path)
    for key in ("z", "pos", "num_atoms", "index", "seed"):
        torch.testing.assert_close(loaded[key], sample[key])


def test_load_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="--save-qm9-sample"):
        load_qm9_sample(tmp_path / "nope.pt")


def test_inconsistent_sample_is_rejected(tmp_path):
    sample = random_qm9_like_sample(4)
    sample["pos"] = sample["pos"][:-1]
    with pytest.raises(ValueError, match="sum\\(num_atoms\\)"):
        save_qm9_sample(tmp_path / "bad.pt", sample)
    del sample["z"]
    with pytest.raises(ValueError, match="missing fields \\['z'\\]"):
        save_qm9_sample(tmp_path / "bad.pt", sample)


def test_molecule_batches_are_full_graphs_inside_each_molecule():
    sample = random_qm9_like_sample(10, seed=1)
    batches = molecule_batches(sample, 4)
    assert len(batches) == 2  # the partial third batch is dropped
    sizes = sample["num_atoms"].tolist()
    first = 0
    for b, batch in enumerate(batches):
        n = sizes[4 * b : 4 * b + 4]
        assert batch.num_graphs == 4 and batch.num_nodes == sum(n)
        assert batch.edge_index.shape[1] == sum(k * (k - 1) for k in n)
        j, i = batch.edge_index
        assert bool((batch.batch[j] == batch.batch[i]).all()) and bool((j != i).all())
        torch.testing.assert_close(batch.pos, sample["pos"][first : first + sum(n)])
        first += sum(n)
    assert len(molecule_batches(sample, 4, num_batches=1)) == 1
    with pytest.raises(ValueError, match="no full batch"):
        molecule_batches(sample, 11)


def test_galaxy_cloud_has_a_periodic_knn_graph():
    data = galaxy_cloud(300, k=8)
    assert data.num_nodes == 300 and data.edge_index.shape == (2, 2400)
    assert data.edge_vec.shape == (2400, 3) and data.num_graphs == 1
    assert float(data.edge_vec.norm(dim=-1).max()) < 500.0  # minimum image in a 1000 Mpc/h box


def test_molecule_batches_with_a_radius_keep_the_short_edges():
    sample = random_qm9_like_sample(8, seed=1)
    full = molecule_batches(sample, 4)[0]
    near = molecule_batches(sample, 4, radius=2.0)[0]
    d_full = (full.pos[full.edge_index[0]] - full.pos[full.edge_index[1]]).norm(dim=-1)
    d_near = (near.pos[near.edge_index[0]] - near.pos[near.edge_index[1]]).norm(dim=-1)
    assert (d_near < 2.0).all() and near.edge_index.shape[1] == int(
        (d_full < 2.0).sum()
    ) < full.edge_index.shape[1]
