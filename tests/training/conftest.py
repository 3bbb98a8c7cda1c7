"""A tiny in-memory data module of random molecules with a graph 0e and a graph 1o target."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from gdl.data.datamodules import GraphDataModule
from gdl.keys import Target
from gdl.testing.data import random_molecule


class ListDataset(Dataset):
    def __init__(self, items):
        self.items, self.transform = items, None

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        d = self.items[i].clone()
        return self.transform(d) if self.transform is not None else d


def molecule(seed: int):
    d = random_molecule(num_nodes=5 + seed % 3, seed=seed, dtype=torch.float32)
    r = d.pos - d.pos.mean(0)
    d.energy = (r.norm(dim=1).sum() + d.z.float().sum()).view(1, 1) + 3.0  # invariant, nonzero mean
    d.dipole = (r * d.z.float()[:, None]).sum(0, keepdim=True)  # equivariant 1o
    return d


class RandomMolecules(GraphDataModule):
    dataset_name = "random"
    available = {"energy": Target("energy"), "dipole": Target("dipole", "1o")}

    def __init__(self, targets=("energy:graph:0e", "dipole:graph:1o"), batch_size=8, sizes=(48, 16, 24)):
        super().__init__(targets, None, batch_size, 0, None)
        self.part_sizes = sizes

    def build_splits(self):
        out, start = {}, 0
        for part, n in zip(("train", "val", "test"), self.part_sizes):
            out[part] = ListDataset([molecule(s) for s in range(start, start + n)])
            start += n
        return out


@pytest.fixture
def random_dm():
    return RandomMolecules()
