"""Your own point-cloud dataset with typed targets, a gdl model for them, and equivariance checks.

    python examples/own_dataset_typed_targets.py     # 256 random clouds, 10 epochs: seconds on CPU

Clouds of particles of 3 species (``z``) with masses (``x``, invariant). Typed targets
(:class:`gdl.keys.Target`): radius of gyration (graph ``0e``), charge dipole about the centre of
mass (graph ``1o``), traceless inertia tensor (graph ``2e``), each particle's offset from the
centre of mass (node ``1o``). :func:`gdl.testing.assert_equivariant` checks that the targets have
the declared types (a wrong declaration fails, before any training), then that the trained gdl
model is equivariant with them (float64; rotations, reflections, translations, permutations).
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data, Dataset
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter

from gdl.data import FullyConnected
from gdl.keys import Target, cartesian_to_2e
from gdl.models import EGNN, NodeInputs
from gdl.testing import assert_equivariant

TARGETS = [Target("gyration"), Target("polar", "1o"), Target("inertia", "2e"), Target("offset", "1o", "node")]
CHARGE = torch.tensor([-1.0, 1.0, 2.0])  # per species


def targets_of(d) -> dict[str, torch.Tensor]:
    """The typed targets of a cloud (or a batch of clouds), from positions, masses and species."""
    batch = d.batch if getattr(d, "batch", None) is not None else torch.zeros_like(d.z)
    m = d.x[:, 0]
    com = scatter(m[:, None] * d.pos, batch, dim=0) / scatter(m, batch, dim=0)[:, None]
    r = d.pos - com[batch]
    second = scatter(m[:, None, None] * r[:, :, None] * r[:, None, :], batch, dim=0)  # [B, 3, 3]
    return {
        "gyration": (scatter(m * r.pow(2).sum(-1), batch, dim=0) / scatter(m, batch, dim=0)).sqrt()[:, None],
        "polar": scatter(CHARGE.to(r)[d.z][:, None] * r, batch, dim=0),
        "inertia": cartesian_to_2e(second),  # the traceless part; the trace is dropped
        "offset": r,
    }


class Clouds(Dataset):
    """A user's dataset: random clouds of 5-12 particles, targets computed once, full graphs."""

    def __init__(self, num: int, seed: int = 0):
        super().__init__(transform=FullyConnected())
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(num):
            n = int(torch.randint(5, 13, (), generator=g))
            d = Data(pos=torch.randn(n, 3, generator=g), z=torch.randint(0, 3, (n,), generator=g),
                     x=torch.rand(n, 1, generator=g) + 0.5)  # fmt: skip
            for name, value in targets_of(d).items():
                d[name] = value
            self.items.append(d)

    def len(self) -> int:
        return len(self.items)

    def get(self, i: int) -> Data:
        return self.items[i]


def main() -> None:
    torch.manual_seed(0)
    data = Clouds(256)
    probe = next(iter(DataLoader(data, batch_size=8)))  # checked in float64 (on a copy)
    extra = {"offset": "1o"}  # the batch's node field `offset` is unknown to gdl.keys: declare its type
    # 1. the targets have the declared types; a pseudovector `polar` (1e: no sign flip under
    # reflections) must fail
    types = {t.name: (t.level, str(t.irreps)) for t in TARGETS}
    assert_equivariant(targets_of, probe, in_types=extra, out_types=types)
    try:
        assert_equivariant(targets_of, probe, in_types=extra, out_types={**types, "polar": ("graph", "1e")})
        raise RuntimeError("a wrong target type passed the check")
    except AssertionError:
        print("declaring `polar` as 1e fails the check, as it should")
    # 2. a gdl model for them, trained a little (loss: squared norm of each target's error)
    model = EGNN(TARGETS, hidden_channels=32, num_layers=3, inputs=NodeInputs(num_types=3, in_channels=1))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(10):
        for b in DataLoader(data, batch_size=32, shuffle=True):
            out = model(b)
            loss = sum((out[t.name] - b[t.name]).pow(2).sum(-1).mean() for t in TARGETS)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: loss {loss.item():.3f}")
    # 3. the trained model is equivariant with the targets' types (read from model.targets)
    print(assert_equivariant(model, probe, in_types=extra, tol=1e-9))


if __name__ == "__main__":
    main()
