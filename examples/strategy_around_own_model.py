"""A gdl symmetry strategy wrapped around your own (non-equivariant) model.

    python examples/strategy_around_own_model.py     # 512 random clouds, 8 epochs: seconds on CPU

``MyModel`` is an MLP on raw centred coordinates and atom types, summed over atoms: it knows
nothing about rotations. Subclassing :class:`gdl.models.GDLModel` (typed targets in, a dict out)
is all a strategy needs: :class:`gdl.symmetry.FrameAverage` averages it over PCA frames, which
makes it exactly O(3)-equivariant; :class:`gdl.symmetry.Augment` rotates each training graph at
random instead (no guarantee). Each is trained a little on a charge dipole (graph ``1o``) and the
spread of the charges (graph ``0e``); the script prints test errors and equivariance errors.
"""

from __future__ import annotations

import torch
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter

from gdl.keys import Target
from gdl.models import GDLModel
from gdl.symmetry import Augment, FrameAverage
from gdl.testing import assert_equivariant, equivariance_error
from gdl.testing.data import random_molecule

TARGETS = [Target("spread"), Target("dipole", "1o")]
CHARGE = torch.tensor([0.0, -1.0, 1.0, 0.5, -0.5, 2.0])  # by atom type z = 1..5


class MyModel(GDLModel):
    def __init__(self, hidden: int = 64):
        super().__init__(TARGETS)
        self.check_targets(["0e", "1o"], levels=["graph"])
        lin, act = torch.nn.Linear, torch.nn.SiLU
        self.mlp = torch.nn.Sequential(lin(3 + 6, hidden), act(), lin(hidden, hidden), act(), lin(hidden, 4))

    def forward(self, data):
        batch = self.batch_vector(data)
        r = data.pos - scatter(data.pos, batch, dim=0, reduce="mean")[batch]
        z = torch.nn.functional.one_hot(data.z, 6).to(r)
        out = scatter(self.mlp(torch.cat([r, z], dim=-1)), batch, dim=0, dim_size=self.num_graphs(data))
        return {"spread": out[:, :1], "dipole": out[:, 1:]}


def cloud(seed: int):
    d = random_molecule(num_nodes=6 + seed % 5, seed=seed, dtype=torch.float32)
    q = CHARGE[d.z]
    r = d.pos - d.pos.mean(0)
    d.dipole = (q[:, None] * r).sum(0, keepdim=True)
    d.spread = (q.abs() * r.norm(dim=1)).sum().view(1, 1)
    return d


def fit(model, train, test, epochs: int = 8) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        model.train()
        for b in DataLoader(train, batch_size=32, shuffle=True):
            out = model(b)
            loss = sum((out[t.name] - b[t.name]).pow(2).sum(-1).mean() for t in TARGETS) + model.regularizer()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    b = next(iter(DataLoader(test, batch_size=len(test))))
    with torch.no_grad():
        return (model(b)["dipole"] - b.dipole).norm(dim=1).mean().item()


def main() -> None:
    torch.manual_seed(0)
    train, test = [cloud(s) for s in range(512)], [cloud(s) for s in range(10_000, 10_128)]
    probe = next(iter(DataLoader(test, batch_size=8)))
    zero = torch.cat([d.dipole for d in test]).norm(dim=1).mean().item()
    print(f"test |dipole| (the zero vector's error) {zero:.3f}; untrained MyModel alone: equivariance "
          f"error {max(equivariance_error(MyModel(), probe).values()):.2f}")
    for strategy in (FrameAverage(MyModel(), group="O3"), Augment(MyModel(), group="O3")):
        err = fit(strategy, train, test)
        eq = max(equivariance_error(strategy, probe).values())
        print(f"{strategy.name:>13}: test |dipole error| {err:.3f}, equivariance error {eq:.1e},",
              strategy.symmetry_report())  # fmt: skip
    assert_equivariant(FrameAverage(MyModel()), probe, tol=1e-9)  # exact, for any backbone


if __name__ == "__main__":
    main()
