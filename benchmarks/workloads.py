"""Data of the benchmark runner (:mod:`benchmarks.run`): the QM9 sample and galaxy clouds.

Everything here needs only torch, PyG, numpy and scipy (no ``torch_cluster``, no ``qm9pack`` once
a sample file exists), so the runner works on a machine where only those are installed:

* :func:`draw_qm9_sample` — 1,024 molecules of :class:`gdl.data.QM9` drawn with a fixed seed
  (needs the processed QM9 or ``qm9pack``); :func:`save_qm9_sample` / :func:`load_qm9_sample` keep
  their atom types and positions in a small file (``--save-qm9-sample`` / ``--qm9-sample``);
* :func:`molecule_batches` — batches with full intra-molecular graphs built in torch
  (:func:`gdl.data.fully_connected_index`);
* :func:`galaxy_cloud` — one synthetic galaxy cloud (:class:`gdl.data.GalaxyClouds`, lognormal
  mode, any number of points) with a periodic k-nearest-neighbour graph (scipy ``cKDTree``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch_geometric.data import Batch, Data

__all__ = [
    "QM9_SAMPLE_SEED",
    "QM9_SAMPLE_SIZE",
    "draw_qm9_sample",
    "galaxy_cloud",
    "load_qm9_sample",
    "molecule_batches",
    "random_qm9_like_sample",
    "save_qm9_sample",
]

#: Molecules in the QM9 workload and the seed that draws them (``torch.randperm``).
QM9_SAMPLE_SIZE = 1024
QM9_SAMPLE_SEED = 0
_SAMPLE_KEYS = ("z", "pos", "num_atoms", "index")


def draw_qm9_sample(
    num_molecules: int = QM9_SAMPLE_SIZE, seed: int = QM9_SAMPLE_SEED, root: str | None = None
) -> dict[str, torch.Tensor]:
    """``num_molecules`` molecules of QM9 drawn without replacement by
    ``torch.randperm(len(qm9), generator=manual_seed(seed))``, in that order.

    Returns ``{"z": [N] int64, "pos": [N, 3] float32, "num_atoms": [M] int64, "index": [M] int64
    (positions in the dataset), "seed": [] int64}`` with the molecules' atoms concatenated."""
    from gdl.data import QM9

    qm9 = QM9(root)
    if not 0 < num_molecules <= len(qm9):
        raise ValueError(f"num_molecules must be in [1, {len(qm9)}], got {num_molecules}")
    g = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(qm9), generator=g)[:num_molecules]
    mols = [qm9[int(i)] for i in index]
    return {
        "z": torch.cat([m.z for m in mols]).long(),
        "pos": torch.cat([m.pos for m in mols]).float(),
        "num_atoms": torch.tensor([m.num_nodes for m in mols], dtype=torch.long),
        "index": index.long(),
        "seed": torch.tensor(seed, dtype=torch.long),
    }


def _within(edge_index: torch.Tensor, pos: torch.Tensor, radius: float | None) -> torch.Tensor:
    if radius is None:
        return edge_index
    d = (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)
    return edge_index[:, d < radius]


def random_qm9_like_sample(num_molecules: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """A sample in the format of :func:`draw_qm9_sample` made of random molecules (5 to 12 atoms,
    types H C N O F, Gaussian positions of 1.5 Å spread) — for tests and smoke runs without QM9."""
    g = torch.Generator().manual_seed(seed)
    num_atoms = torch.randint(5, 13, (num_molecules,), generator=g)
    n = int(num_atoms.sum())
    z = torch.tensor([1, 6, 7, 8, 9])[torch.randint(0, 5, (n,), generator=g)]
    return {
        "z": z,
        "pos": torch.randn(n, 3, generator=g) * 1.5,
        "num_atoms": num_atoms,
        "index": torch.full((num_molecules,), -1, dtype=torch.long),
        "seed": torch.tensor(seed, dtype=torch.long),
    }


def _check_sample(sample: dict, source: str) -> dict[str, torch.Tensor]:
    missing = [k for k in _SAMPLE_KEYS if k not in sample]
    if missing:
        raise ValueError(f"QM9 sample {source}: missing fields {missing}; found {sorted(sample)}")
    z, pos, num_atoms = sample["z"], sample["pos"], sample["num_atoms"]
    n = int(num_atoms.sum()) if num_atoms.numel() else 0
    if z.dim() != 1 or z.numel() != n or pos.shape != (n, 3) or (num_atoms < 1).any():
        raise ValueError(
            f"QM9 sample {source}: need z [N], pos [N, 3] with N = sum(num_atoms) = {n} and every "
            f"num_atoms >= 1; got z {tuple(z.shape)}, pos {tuple(pos.shape)}"
        )
    if sample["index"].shape != num_atoms.shape:
        raise ValueError(
            f"QM9 sample {source}: index {tuple(sample['index'].shape)} does not match "
            f"num_atoms {tuple(num_atoms.shape)}"
        )
    return sample


def save_qm9_sample(path: str | os.PathLike, sample: dict[str, torch.Tensor]) -> Path:
    """Write ``sample`` (the format of :func:`draw_qm9_sample`) with ``torch.save``; returns the path."""
    path = Path(path)
    _check_sample(sample, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.clone() for k, v in sample.items()}, path)
    return path


def load_qm9_sample(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a file written by :func:`save_qm9_sample` (tensors only: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"QM9 sample file {str(path)!r} does not exist; write one with "
            "`python -m benchmarks.run --save-qm9-sample PATH` on a machine that has QM9"
        )
    return _check_sample(torch.load(path, weights_only=True), str(path))


def molecule_batches(
    sample: dict[str, torch.Tensor],
    batch_size: int,
    num_batches: int | None = None,
    radius: float | None = None,
) -> list[Batch]:
    """Consecutive batches of ``batch_size`` molecules of ``sample`` (a trailing partial batch is
    dropped), each with a full graph inside every molecule (no self loops), ``z``, ``pos`` and
    ``batch``; at most ``num_batches`` of them. With ``radius``, only the edges shorter than it
    are kept (a radius graph inside each molecule)."""
    from gdl.data import fully_connected_index

    sizes = sample["num_atoms"].tolist()
    total = len(sizes) // batch_size
    if total == 0:
        raise ValueError(f"a sample of {len(sizes)} molecules has no full batch of {batch_size}")
    count = total if num_batches is None else min(total, num_batches)
    starts = [0]
    for s in sizes:
        starts.append(starts[-1] + s)
    batches = []
    for b in range(count):
        first, last = b * batch_size, (b + 1) * batch_size
        lo, hi = starts[first], starts[last]
        batch = torch.repeat_interleave(
            torch.arange(batch_size), torch.tensor(sizes[first:last], dtype=torch.long)
        )
        data = Batch(
            z=sample["z"][lo:hi].clone(),
            pos=sample["pos"][lo:hi].clone().float(),
            batch=batch,
            edge_index=_within(fully_connected_index(hi - lo, batch), sample["pos"][lo:hi], radius),
            ptr=torch.tensor([s - lo for s in starts[first : last + 1]], dtype=torch.long),
        )
        batches.append(data)
    return batches


def galaxy_cloud(num_points: int, k: int = 16, seed: int = 0) -> Data:
    """One synthetic galaxy cloud of ``num_points`` points (:class:`gdl.data.GalaxyClouds`,
    lognormal mode, default cosmology, box 1000 Mpc/h) with the periodic ``k``-nearest-neighbour
    graph (``edge_index``, minimum-image ``edge_vec``) and ``batch`` (one graph)."""
    from gdl.data import GalaxyClouds, PeriodicKNNGraph

    clouds = GalaxyClouds(
        1, config={"num_points": int(num_points)}, seed=seed, transform=PeriodicKNNGraph(k), progress=False
    )
    data = clouds[0]
    return Batch(
        pos=data.pos,
        edge_index=data.edge_index,
        edge_vec=data.edge_vec,
        batch=torch.zeros(data.num_nodes, dtype=torch.long),
        ptr=torch.tensor([0, data.num_nodes]),
    )
