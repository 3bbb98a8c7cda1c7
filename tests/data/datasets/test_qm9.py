"""QM9 from qm9pack: counts, PyG's targets and units, equivariant extras, splits, cache and errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from gdl.data import QM9, RandomRotation, mulliken_multipoles, qm9_atomref, qm9_target_index
from gdl.data._paths import file_is_valid
from gdl.data.datasets import _qm9_raw
from gdl.keys import QM9_TARGETS
from gdl.testing import assert_equivariant, default_dtype, graph

HAR2EV = 27.211386246
COL = {name: k for k, name in enumerate(QM9_TARGETS)}


def _atomref_sums(ds, target):
    store, sl = ds._data, ds.slices
    mol = torch.repeat_interleave(torch.arange(len(ds)), sl["z"][1:] - sl["z"][:-1])
    ref = qm9_atomref(target)[store.z]
    return torch.zeros(len(ds), dtype=torch.float64).index_add_(0, mol, ref)


# --- content ------------------------------------------------------------------------------------
def test_counts_and_fields(qm9):
    assert len(qm9) == 130_831
    store = qm9._data
    assert store.y.shape == (130_831, 19) and store.y.dtype == torch.float32
    assert store.pos.shape == (int(qm9.slices["z"][-1]), 3)
    assert store.charges.shape == (store.pos.shape[0], 1)
    assert store.dipole_vec.shape == (130_831, 3) and store.quadrupole.shape == (130_831, 5)
    assert store.polarizability.shape == (130_831, 3)
    assert set(store.z.unique().tolist()) == {1, 6, 7, 8, 9} and store.z.dtype == torch.long
    idx = store.idx
    assert int(idx.min()) == 1 and int(idx.max()) == 133_885 and bool((idx[1:] > idx[:-1]).all())
    assert len(store.smiles) == 130_831
    sizes = qm9.slices["z"][1:] - qm9.slices["z"][:-1]
    assert int(sizes.min()) == 3 and int(sizes.max()) == 29
    d = qm9[12345]
    assert d.y.shape == (1, 19) and d.dipole_vec.shape == (1, 3) and d.quadrupole.shape == (1, 5)
    assert d.charges.shape == (d.num_nodes, 1) and d.idx.shape == (1,) and isinstance(d.smiles, str)
    assert torch.isfinite(store.y).all() and torch.isfinite(store.quadrupole).all()


def test_methane(qm9):
    d = qm9[0]
    assert int(d.idx) == 1 and d.smiles == "C" and d.z.tolist() == [6, 1, 1, 1, 1]
    y = d.y[0].double()
    assert abs(y[COL["U0"]] - (-40.47893 * HAR2EV)) < 1e-3
    assert abs(y[COL["U0"]] - (-1101.4878)) < 1e-3
    assert abs(y[COL["U0_atom"]] - (-0.631066 * HAR2EV)) < 1e-3
    assert abs(y[COL["U0_atom"]] - (-17.172)) < 1e-3
    # the rest of PyG's row for methane (eV, D, bohr^3, bohr^2, cal/mol/K, GHz)
    pyg = {"mu": 0.0, "alpha": 13.21, "homo": -10.5499, "lumo": 3.1865, "gap": 13.7363, "r2": 35.3641,
           "zpve": 1.2177, "U": -1101.4098, "H": -1101.3840, "G": -1102.0229, "cv": 6.469,
           "A": 157.7118, "B": 157.70997, "C": 157.70699}  # fmt: skip
    for name, value in pyg.items():
        assert abs(float(y[COL[name]]) - value) < 2e-3, name


def test_atom_references_consistent(qm9):
    y = qm9._data.y.double()
    for target in ("U0", "U", "H", "G"):
        atom = y[:, COL[target]] - _atomref_sums(qm9, target)
        # float32 storage: the ulp of -19,000 eV is 2e-3 eV
        assert (atom - y[:, COL[f"{target}_atom"]]).abs().max() < 4e-3, target
    assert qm9_atomref("homo") is None and qm9.atomref("gap") is None
    assert qm9.atomref("U0").shape == (100, 1)


def test_linear_molecules_have_A_zero(qm9):
    a = qm9._data.y[:, COL["A"]]
    linear = qm9._data.idx[a == 0].tolist()
    assert len(linear) == 9 and 4 in linear  # acetylene
    assert float(a.max()) > 6e5  # near-linear molecules, kept as given (as PyG)


def test_target_index():
    assert qm9_target_index("homo") == 2 and qm9_target_index(18) == 18
    with pytest.raises(ValueError, match="valid names"):
        qm9_target_index("HOMO")
    with pytest.raises(ValueError, match="valid names"):
        qm9_target_index(19)


# --- equivariant extras ------------------------------------------------------------------------
def test_charges_sum_to_zero(qm9):
    sl = qm9.slices["z"]
    mol = torch.repeat_interleave(torch.arange(len(qm9)), sl[1:] - sl[:-1])
    total = torch.zeros(len(qm9), dtype=torch.float64).index_add_(0, mol, qm9._data.charges[:, 0].double())
    assert total.abs().max() < 1e-5


def test_mulliken_dipole_correlates_with_mu(qm9):
    mag = qm9._data.dipole_vec.double().norm(dim=1).numpy()
    mu = qm9._data.y[:, COL["mu"]].double().numpy()
    r = np.corrcoef(mag, mu)[0, 1]
    assert r > 0.9, r


def test_stored_multipoles_match_definition(qm9):
    rows = torch.randperm(len(qm9), generator=torch.Generator().manual_seed(0))[:300].tolist()
    batch = Batch.from_data_list([qm9[i] for i in rows])
    dip, quad = mulliken_multipoles(batch.pos.double(), batch.charges.double(), batch.batch)
    torch.testing.assert_close(dip.float(), batch.dipole_vec, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(quad.float(), batch.quadrupole, atol=2e-4, rtol=1e-4)


def _multipoles(data):
    dip, quad = mulliken_multipoles(data.pos, data.charges, data.batch)
    return {"dipole_vec": dip, "quadrupole": quad}


def test_multipoles_are_typed_1o_and_2e(qm9):
    batch = Batch.from_data_list([qm9[i] for i in (1000, 50_000, 130_000)])
    with default_dtype(torch.float64):
        errors = assert_equivariant(
            _multipoles, batch, out_types={"dipole_vec": graph("1o"), "quadrupole": graph("2e")}, tol=1e-10
        )
    assert set(errors.transforms) == {"rotation", "reflection", "translation", "permutation"}


@pytest.mark.parametrize("group", ["SO3", "O3"])
def test_rotation_transform_rotates_dipole_and_quadrupole(qm9, group):
    """The transform rotates the stored dipole_vec as 1o and quadrupole as 2e, consistently with
    the positions: after it, they still equal the multipoles recomputed from the new positions."""
    transform = RandomRotation(group, seed=0)
    for i in (7, 1000, 77_777):
        d = qm9[i]
        d.pos, d.charges = d.pos.double(), d.charges.double()
        d.dipole_vec, d.quadrupole = _multipoles(d).values()  # float64 ground truth
        for _ in range(3):
            r = transform(d)
            assert not torch.allclose(r.pos, d.pos)
            torch.testing.assert_close(r.pos.norm(dim=1), d.pos.norm(dim=1))
            ref = _multipoles(r)
            torch.testing.assert_close(r.dipole_vec, ref["dipole_vec"], atol=1e-10, rtol=1e-10)
            torch.testing.assert_close(r.quadrupole, ref["quadrupole"], atol=1e-10, rtol=1e-10)
            # invariants stay put
            assert torch.equal(r.y, d.y) and torch.equal(r.polarizability, d.polarizability)


def test_polarizability_invariants_and_frame(qm9):
    """Claims of the QM9 docstring about qm9_polarizability.csv (its tensor and frame)."""
    pol = pd.read_csv(_qm9_raw.qm9pack_data_dir() / _qm9_raw.POLARIZABILITY_FILE)
    pol["Index"] = pol["XYZ_file"].str.extract(r"_(\d+)\.xyz")[0].astype(int)
    pol = pol.set_index("Index").loc[qm9._data.idx.numpy()]
    a = pol[["A_xx", "A_xy", "A_yy", "A_xz", "A_yz", "A_zz"]].to_numpy()
    t = a[:, [0, 1, 3, 1, 2, 4, 3, 4, 5]].reshape(-1, 3, 3)
    w, v = np.linalg.eigh(t)
    stored = qm9._data.polarizability.double().numpy()
    np.testing.assert_allclose(stored, w, atol=1e-4)
    assert (np.diff(stored, axis=1) >= 0).all()
    alpha = qm9._data.y[:, COL["alpha"]].double().numpy()
    assert np.abs(w.mean(1) - alpha).max() < 0.0054
    # acetylene (idx 4) lies along x, yet its largest component is zz
    ac = int((qm9._data.idx == 4).nonzero())
    pos = qm9[ac].pos.double()
    assert float(pos[:, 0].std()) > 1.0 and float(pos[:, 1:].std(0).max()) < 1e-6
    assert t[ac, 2, 2] == t[ac].diagonal().max() > 2 * t[ac, 0, 0]
    # principal axes of the nuclear charge distribution in the coordinate frame
    sl = qm9.slices["z"]
    mol = np.repeat(np.arange(len(qm9)), (sl[1:] - sl[:-1]).numpy())
    z = qm9._data.z.double().numpy()
    x = qm9._data.pos.double().numpy()
    ztot = np.bincount(mol, z)
    c = np.stack([np.bincount(mol, z * x[:, k]) for k in range(3)], 1) / ztot[:, None]
    r = x - c[mol]
    m = np.stack(
        [np.stack([np.bincount(mol, z * r[:, i] * r[:, j]) for j in range(3)], 1) for i in range(3)], 1
    )
    long_axis = np.linalg.eigh(m)[1][:, :, 2]
    big = v[:, :, 2]  # eigenvector of the largest polarizability
    in_coordinates = (np.abs((long_axis * big).sum(1)) > 0.9).mean()
    in_own_frame = (np.abs(big[:, 0]) > 0.9).mean()
    assert in_coordinates < 0.10 and in_own_frame > 0.80, (in_coordinates, in_own_frame)  # 8% vs 85%
    off = np.sqrt(2 * (t[:, [0, 0, 1], [1, 2, 2]] ** 2).sum(1)) / np.linalg.norm(t, axis=(1, 2))
    assert 0.03 < np.median(off) < 0.05


# --- splits --------------------------------------------------------------------------------------
def test_splits_on_dataset(qm9):
    parts = qm9.get_split("cormorant", seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [100_000, 17_748, 13_083]
    ids = {k: set(parts[k]._data.idx[parts[k].indices()].tolist()) for k in parts}
    assert (
        not (ids["train"] & ids["val"])
        and not (ids["train"] & ids["test"])
        and not (ids["val"] & ids["test"])
    )
    small = qm9.split_indices("cormorant", train_size=1000)["train"]
    larger = qm9.split_indices("cormorant", train_size=2000)["train"]
    assert set(small.tolist()) < set(larger.tolist())
    d = qm9.get_split("dimenet")
    assert [len(d[k]) for k in ("train", "val", "test")] == [110_000, 10_000, 10_831]
    with pytest.raises(ValueError, match="valid splits"):
        qm9.split_indices("scaffold")
    with pytest.raises(ValueError, match="valid train_size values are 1..100000"):
        qm9.get_split("cormorant", train_size=200_000)


# --- processing, cache and errors (a few rows of the real CSV files) --------------------------
def test_tiny_processing_matches_full(tiny_qm9pack, tmp_path, qm9):
    ds = QM9(tmp_path, log=False)
    assert len(ds) == 22
    rows = torch.searchsorted(qm9._data.idx, ds._data.idx)
    assert torch.equal(qm9._data.idx[rows], ds._data.idx)
    for k in range(len(ds)):
        a, b = ds[k], qm9[int(rows[k])]
        for key in ("z", "pos", "charges", "y", "dipole_vec", "quadrupole", "polarizability"):
            assert torch.equal(a[key], b[key]), key
        assert a.smiles == b.smiles


def test_corrupt_or_partial_files_are_rebuilt(tiny_qm9pack, tmp_path):
    QM9(tmp_path, log=False)
    path = tmp_path / "processed" / "qm9_v1.pt"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 3])  # a partial write
    with pytest.warns(UserWarning, match="rebuilding"):
        ds = QM9(tmp_path, log=False)
    assert len(ds) == 22 and file_is_valid(path, QM9.VERSION)[0]
    (tmp_path / "processed" / "qm9_v1.pt.json").unlink()  # interrupted before the stamp
    with pytest.warns(UserWarning, match="no stamp"):
        QM9(tmp_path, log=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(QM9(tmp_path, log=False)) == 22  # valid now: loaded silently


def test_root_not_writable(tiny_qm9pack, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="GDL_DATA_DIR"):
        QM9(blocker / "qm9", log=False)
    QM9(tmp_path / "ok", log=False)
    from gdl.data import _paths

    monkeypatch.setattr(_paths.os, "access", lambda *a: False)
    assert len(QM9(tmp_path / "ok", log=False)) == 22  # a valid file loads from a read-only root
    with pytest.raises(PermissionError, match="not writable"):
        QM9(tmp_path / "other", log=False)


def test_missing_qm9pack(tmp_path, monkeypatch):
    real = _qm9_raw.importlib.util.find_spec
    monkeypatch.setattr(
        _qm9_raw.importlib.util, "find_spec", lambda n, *a: None if n == "qm9pack" else real(n, *a)
    )
    with pytest.raises(ImportError, match=r"`qm9` extra.*gdl\[qm9\]"):
        QM9(tmp_path, log=False)


def test_pre_filter_and_pre_transform(tiny_qm9pack, tmp_path):
    def mark(d):
        d.heavy = (d.z > 1).sum().view(1)
        return d

    ds = QM9(tmp_path, pre_filter=lambda d: d.num_nodes > 4, pre_transform=mark, log=False)
    assert 0 < len(ds) < 22
    assert all(ds[k].num_nodes > 4 and int(ds[k].heavy) == int((ds[k].z > 1).sum()) for k in range(len(ds)))
