"""gdl's EGNNConv inside a plain PyTorch Geometric model, trained for a few epochs on a QM9 subset.

    python examples/egnn_in_pyg_model.py            # 600 molecules, 5 epochs: well under a minute on CPU
    python examples/egnn_in_pyg_model.py --root DIR  # processed QM9 elsewhere (default: gdl's data root)

Nothing here is gdl-specific but the layer: the model is an ``nn.Module`` with PyG's pooling, the
graph is ``torch_cluster.radius_graph`` built inside ``forward``, the loop is plain PyTorch. QM9 is
read offline from ``qm9pack`` (:class:`gdl.data.QM9`; processed once on first use). The target is
the HOMO energy (eV), standardised with the training statistics; the script prints the test MAE next
to that of the mean predictor.
"""

from __future__ import annotations

import argparse

import torch
from torch_cluster import radius_graph
from torch_geometric.loader import DataLoader
from torch_geometric.nn import global_mean_pool

from gdl.data import QM9
from gdl.keys import QM9_TARGETS
from gdl.nn import EGNNConv

HOMO = QM9_TARGETS.index("homo")


class HomoModel(torch.nn.Module):
    def __init__(self, channels: int = 32, num_layers: int = 3, cutoff: float = 5.0):
        super().__init__()
        self.cutoff = cutoff
        self.embed = torch.nn.Embedding(10, channels)  # atomic numbers 1, 6, 7, 8, 9
        self.convs = torch.nn.ModuleList(EGNNConv(channels) for _ in range(num_layers))
        self.head = torch.nn.Sequential(
            torch.nn.Linear(channels, channels), torch.nn.SiLU(), torch.nn.Linear(channels, 1)
        )

    def forward(self, z, pos, batch):
        edge_index = radius_graph(pos, r=self.cutoff, batch=batch, max_num_neighbors=64)
        x = self.embed(z)
        for conv in self.convs:
            x, pos, _ = conv(x, pos, edge_index)  # invariant features, equivariant positions
        return self.head(global_mean_pool(x, batch)).squeeze(-1)  # [B], invariant


def main(root: str | None, num_train: int, num_test: int, epochs: int) -> None:
    torch.manual_seed(0)
    data = QM9(root, log=False)
    train_set, test_set = data[:num_train], data[num_train : num_train + num_test]
    y_train = torch.cat([d.y[:, HOMO] for d in train_set])
    mean, std = y_train.mean(), y_train.std()

    model = HomoModel()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        model.train()
        for b in DataLoader(train_set, batch_size=32, shuffle=True):
            loss = torch.nn.functional.l1_loss(model(b.z, b.pos, b.batch), (b.y[:, HOMO] - mean) / std)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: last batch L1 (standardised) {loss.item():.3f}")

    model.eval()
    err = base = 0.0
    with torch.no_grad():
        for b in DataLoader(test_set, batch_size=128):
            y = b.y[:, HOMO]
            err += (model(b.z, b.pos, b.batch) * std + mean - y).abs().sum().item()
            base += (mean - y).abs().sum().item()
    print(f"test MAE HOMO on {len(test_set)} molecules: {1000 * err / len(test_set):.1f} meV "
          f"(mean predictor {1000 * base / len(test_set):.1f} meV)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=None, help="QM9 data root (default: gdl's data root)")
    p.add_argument("--num-train", type=int, default=600)
    p.add_argument("--num-test", type=int, default=200)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    main(a.root, a.num_train, a.num_test, a.epochs)
