"""Standardize: scalar statistics, scale-only equivariant targets, atom references, fit on a split."""

import pytest
import torch
from torch_geometric.data import Batch, Data, InMemoryDataset

from gdl.data import SelectTargets, Standardize, gather_fields, qm9_atomref
from gdl.groups import GroupElement, act_on_data, haar_o3
from gdl.keys import QM9_TARGETS
from gdl.testing import assert_equivariant, float64_atol, graph


def molecule(k, g):
    n = 3 + k % 4
    return Data(
        z=torch.tensor([6, 1, 8, 1, 7, 9][:n]),
        pos=torch.randn(n, 3, generator=g, dtype=torch.float64),
        y=torch.randn(1, 19, generator=g, dtype=torch.float64) * 3 + 5,
        dipole_vec=torch.randn(1, 3, generator=g, dtype=torch.float64) + torch.tensor([[4.0, 0, 0]]),
        quadrupole=torch.randn(1, 5, generator=g, dtype=torch.float64) * 2,
        charges=torch.randn(n, 1, generator=g, dtype=torch.float64),
        mixed=torch.randn(1, 5, generator=g, dtype=torch.float64) + 1.0,
    )


class Tiny(InMemoryDataset):
    def __init__(self, items):
        super().__init__(None)
        self._data, self.slices = self.collate(items)


@pytest.fixture(scope="module")
def items():
    g = torch.Generator().manual_seed(0)
    return [molecule(k, g) for k in range(40)]


def test_statistics(items):
    b = Batch.from_data_list(items)
    s = Standardize(["homo", "dipole_vec", "quadrupole", "charges:node:0e", "mixed:graph:2x0e+1o"]).fit(b)
    homo = b.y[:, 2]
    torch.testing.assert_close(s.mean["homo"], homo.mean().view(1))
    torch.testing.assert_close(s.std["homo"], homo.std().view(1))
    # vectors and tensors: no mean, one RMS scale per irrep copy
    assert torch.equal(s.mean["dipole_vec"], torch.zeros(3, dtype=torch.float64))
    rms = b.dipole_vec.pow(2).mean().sqrt()
    torch.testing.assert_close(s.std["dipole_vec"], rms.expand(3))
    torch.testing.assert_close(s.std["quadrupole"], b.quadrupole.pow(2).mean().sqrt().expand(5))
    torch.testing.assert_close(s.mean["charges"], b.charges.mean().view(1))
    m = b.mixed
    torch.testing.assert_close(s.mean["mixed"][:2], m[:, :2].mean(0))
    assert torch.equal(s.mean["mixed"][2:], torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(s.std["mixed"][2:], m[:, 2:].pow(2).mean().sqrt().expand(3))
    out = s(SelectTargets("homo")(b.clone()))
    # a mean over the nodes of standardised values of size ~1: rounding of a sum of that many terms
    tol = float64_atol(float(out.homo.abs().max()), terms=out.homo.numel())
    torch.testing.assert_close(out.homo.mean(), torch.tensor(0.0, dtype=torch.float64), atol=tol, rtol=0)
    torch.testing.assert_close(out.homo.std(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(out.dipole_vec.pow(2).mean(), torch.tensor(1.0, dtype=torch.float64))


def test_standardised_vectors_stay_equivariant(items):
    b = Batch.from_data_list(items[:5])
    s = Standardize(["dipole_vec", "quadrupole"]).fit(Batch.from_data_list(items))

    def fn(d):
        out = s(d.clone())
        return {"dipole_vec": out.dipole_vec, "quadrupole": out.quadrupole}

    assert_equivariant(
        fn, b, in_types={"dipole_vec": graph("1o"), "quadrupole": graph("2e")},
        out_types={"dipole_vec": graph("1o"), "quadrupole": graph("2e")}, tol=1e-12,
    )  # fmt: skip
    # fitting on a rotated copy of the data gives the same scales (they are invariants)
    R = haar_o3(1, 3, dtype=torch.float64)[0]
    rotated = act_on_data(Batch.from_data_list(items), GroupElement(R))
    s2 = Standardize(["dipole_vec", "quadrupole"]).fit(rotated)
    torch.testing.assert_close(s2.std["dipole_vec"], s.std["dipole_vec"])
    torch.testing.assert_close(s2.std["quadrupole"], s.std["quadrupole"])


def test_atomref_and_inverse(items):
    ref = qm9_atomref("U0")
    b = Batch.from_data_list(items)
    s = Standardize(["U0", "gap"], atomref={"U0": ref}).fit(b)
    sums = torch.zeros(b.num_graphs, dtype=torch.float64).index_add_(0, b.batch, ref[b.z])
    residual = b.y[:, QM9_TARGETS.index("U0")] - sums
    torch.testing.assert_close(s.mean["U0"], residual.mean().view(1))
    sel = SelectTargets(["U0", "gap"])(b.clone())
    normed = s(sel.clone())
    back = s.inverse({"U0": normed.U0, "gap": normed.gap, "other": torch.ones(1)}, normed)
    torch.testing.assert_close(back["U0"], sel.U0)
    torch.testing.assert_close(back["gap"], sel.gap)
    assert torch.equal(back["other"], torch.ones(1))
    with pytest.raises(ValueError, match="pass the batch"):
        s.inverse({"U0": normed.U0})
    with pytest.raises(ValueError, match="graph-level 0e"):
        Standardize(["dipole_vec"], atomref={"dipole_vec": ref})


def test_fit_paths_agree_and_use_the_split(items):
    ds = Tiny(items)
    train = ds.index_select(torch.arange(0, 40, 2))
    targets = ["homo", "U0", "quadrupole", "charges:node:0e"]
    fast = Standardize(targets, atomref={"U0": qm9_atomref("U0")}).fit(train)
    slow = Standardize(targets, atomref={"U0": qm9_atomref("U0")}).fit([items[k] for k in range(0, 40, 2)])
    for name in ("homo", "U0", "quadrupole", "charges"):
        torch.testing.assert_close(fast.mean[name], slow.mean[name])
        torch.testing.assert_close(fast.std[name], slow.std[name])
    full = Standardize(targets, atomref={"U0": qm9_atomref("U0")}).fit(ds)
    assert not torch.allclose(full.mean["homo"], fast.mean["homo"])  # the training split only
    got = gather_fields(train, ["homo", "charges"], with_batch=True)
    assert got["homo"].shape == (20, 1) and got["batch"].shape == got["z"].shape == got["charges"].shape[:1]


def test_state_dict_and_errors(items):
    b = Batch.from_data_list(items)
    s = Standardize(["homo", "dipole_vec"])
    with pytest.raises(RuntimeError, match="call fit"):
        s(b)
    s.fit(b)
    t = Standardize(["homo", "dipole_vec"]).load_state_dict(s.state_dict())
    assert t.fitted and torch.equal(t.std["dipole_vec"], s.std["dipole_vec"])
    with pytest.raises(ValueError, match="state is for targets"):
        Standardize(["gap"]).load_state_dict(s.state_dict())
    with pytest.raises(KeyError, match="SelectTargets"):
        s(b.clone())  # homo not selected yet
    with pytest.raises(ValueError, match=r"must be \[\*, 3\]"):
        Standardize(["dipole_vec"]).fit(Data(dipole_vec=torch.zeros(4, 2), pos=torch.zeros(1, 3)))
    with pytest.raises(ValueError, match="empty"):
        Standardize(["homo"]).fit([])
    with pytest.warns(UserWarning, match="zero or undefined spread"):
        Standardize(["homo"]).fit(Batch.from_data_list(items[:1]))
    assert "fitted=True" in repr(s)
