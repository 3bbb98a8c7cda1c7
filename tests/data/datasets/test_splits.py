import numpy as np
import pytest
import torch

from gdl.data.datasets.splits import SPLITS, SplitSpec, nested_subset, register_split, split_indices

N = 130_831


@pytest.mark.parametrize(
    "name,sizes", [("cormorant", (100_000, 17_748, 13_083)), ("dimenet", (110_000, 10_000, 10_831))]
)
def test_sizes_disjoint_stable(name, sizes):
    s = split_indices(N, name, seed=0)
    assert tuple(len(s[k]) for k in ("train", "val", "test")) == sizes
    allidx = torch.cat([s["train"], s["val"], s["test"]])
    assert allidx.unique().numel() == allidx.numel() == sum(sizes)
    assert int(allidx.min()) >= 0 and int(allidx.max()) < N
    again = split_indices(N, name, seed=0)
    assert all(torch.equal(s[k], again[k]) for k in s)
    other = split_indices(N, name, seed=1)
    assert not torch.equal(s["test"], other["test"])


def test_cormorant_is_the_published_permutation():
    # Cormorant's gen_splits_gdb9: np.random.seed(0); perm = np.random.permutation(130831),
    # cut into 100000 / 17748 / 13083
    np.random.seed(0)
    perm = np.random.permutation(N)
    s = split_indices(N, "cormorant", seed=0)
    assert np.array_equal(s["train"].numpy(), perm[:100_000])
    assert np.array_equal(s["val"].numpy(), perm[100_000:117_748])
    assert np.array_equal(s["test"].numpy(), perm[117_748:])


def test_nested_train_sizes():
    full = split_indices(N, "cormorant", seed=3)
    prev = None
    for n in (1000, 2000, 5000, 100_000):
        s = split_indices(N, "cormorant", seed=3, train_size=n)
        assert len(s["train"]) == n
        assert torch.equal(s["val"], full["val"]) and torch.equal(s["test"], full["test"])
        if prev is not None:
            assert set(prev.tolist()) <= set(s["train"].tolist())
        prev = s["train"]


def test_errors():
    with pytest.raises(ValueError, match="valid splits: cormorant, dimenet"):
        split_indices(N, "random")
    with pytest.raises(ValueError, match=r"valid train_size values are 1..100000"):
        split_indices(N, "cormorant", train_size=100_001)
    with pytest.raises(ValueError, match="train_size"):
        split_indices(N, "cormorant", train_size=0)
    with pytest.raises(ValueError, match="needs 130831 items"):
        split_indices(1000, "cormorant")
    with pytest.raises(ValueError, match="non-negative"):
        SplitSpec("bad", -1, 2)
    with pytest.raises(ValueError, match="already registered"):
        register_split(SplitSpec("cormorant", 1, 1))
    with pytest.raises(ValueError, match="train_size"):
        nested_subset(torch.arange(3), 4)


def test_register_and_spec():
    register_split(SplitSpec("tiny_test_split", 5, 3, 2))
    try:
        s = split_indices(20, "tiny_test_split")
        assert [len(s[k]) for k in ("train", "val", "test")] == [5, 3, 2]
        s = split_indices(20, SplitSpec("inline", 10, 5))
        assert len(s["test"]) == 5
    finally:
        del SPLITS["tiny_test_split"]
