"""Switching equivariance on and off: one model per symmetry strategy, its measured equivariance
error and what the strategy reports.

    python examples/symmetry_strategies.py            # 8 QM9 molecules (processed on first use)
    python examples/symmetry_strategies.py --random   # random molecule-like clouds instead

Every model is freshly initialised (untrained) and predicts QM9's HOMO energy (``0e``), Mulliken
dipole (``1o``) and quadrupole (``2e``) on fully connected molecular graphs. The errors are relative
equivariance errors in float64 (:func:`gdl.testing.equivariance_error`, maximum over three draws) under two
groups: the 24 octahedral rotations (the group the regular-representation route is exact for;
maximum over the three targets) and O(3) (Haar rotations and reflections; per target). A relative
error is at most 2. ``augment``
acts only while training, so untrained it measures its backbone; ``learned`` averages over random
draws at test time too, so its error is a Monte-Carlo error.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch_geometric.data import Batch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups.anchors import GroupAnchors
from gdl.keys import Target
from gdl.models import EGNN, GroupConvNet, PlainNet
from gdl.symmetry import RPP, Augerino, Augment, Exact, FrameAverage, Partial, Relaxed
from gdl.testing import equivariance_error
from gdl.testing.data import random_molecules

TARGETS = (Target("homo"), Target("dipole_vec", "1o"), Target("quadrupole", "2e"))


def molecules(random: bool, num: int = 8) -> Batch:
    if random:
        return random_molecules(num_graphs=num, min_nodes=5, max_nodes=12, num_types=9, seed=0)
    from gdl.data import QM9, FullyConnected

    data = QM9(log=False)
    picks = torch.linspace(1000, len(data) - 1, num).long().tolist()  # spread over the dataset
    graphs = [FullyConnected()(data[i]) for i in picks]
    batch = Batch.from_data_list(graphs)
    batch.pos = batch.pos.double()
    return batch


def build() -> list[tuple[str, str, torch.nn.Module]]:
    small = dict(hidden_channels=16, num_layers=2)
    octahedral = GroupAnchors(groups.octahedral(), name="octahedral")
    torch.manual_seed(0)
    egnn, plain = EGNN(TARGETS, **small), PlainNet(TARGETS, **small)
    gcn = GroupConvNet(TARGETS, anchors=octahedral, num_basis=6, **small)
    return [
        ("exact", "EGNN", Exact(egnn)),
        ("exact", "PlainNet", Exact(plain)),
        ("exact", "GroupConvNet", Exact(gcn)),
        ("augment", "PlainNet", Augment(plain, group="O3")),
        ("frame_average", "PlainNet", FrameAverage(plain, group="O3")),
        ("frame_average", "PlainNet", FrameAverage(plain, group="SO3")),
        ("rpp", "EGNN+PlainNet", RPP(egnn)),
        ("relaxed", "GroupConvNet", Relaxed(gcn)),
        ("relaxed", "GroupConvNet", Relaxed(gcn, init_relaxation=0.05)),
        ("partial", "GroupConvNet", Partial(gcn)),
        ("partial", "GroupConvNet", Partial(gcn, theta=2.0)),
        ("learned", "PlainNet", Augerino(plain, width=math.pi, num_samples=16)),
        ("learned", "PlainNet", Augerino(plain, width=0.5, num_samples=16)),
    ]


def compact(report: dict) -> str:
    items = []
    for k, v in report.items():
        if k == "strategy":
            continue
        items.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", action="store_true", help="random clouds instead of QM9 molecules")
    args = parser.parse_args()
    start = time.perf_counter()
    data = molecules(args.random)
    source = "random clouds" if args.random else "QM9 molecules"
    edges = data.edge_index.shape[1]
    print(f"{data.num_graphs} {source}, {data.num_nodes} atoms, {edges} edges; untrained models, float64\n")
    head = (
        f"{'strategy':<14} {'model':<14} {'octahedral':>10} {'O(3) 0e':>8} {'O(3) 1o':>8} {'O(3) 2e':>8}"
        "  symmetry_report"
    )
    print(head)
    print("-" * len(head))
    kw = dict(translation=False, permutation=False)
    for strategy, model_name, model in build():
        with default_dtype(torch.float64):
            model = model.double().eval()
            with torch.no_grad():
                model(data)  # a forward pass for reports measured on the last batch
        report = compact(model.symmetry_report()) or "-"
        e_oct = equivariance_error(model, data, group=groups.octahedral(), **kw).max()
        e_o3 = equivariance_error(model, data, group="O3", **kw)
        per_type = " ".join(f"{e_o3[t.name]:>8.1e}" for t in TARGETS)
        print(f"{strategy:<14} {model_name:<14} {e_oct:>10.1e} {per_type}  {report}")
    print(f"\n{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
