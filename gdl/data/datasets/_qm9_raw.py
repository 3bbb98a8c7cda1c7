"""Reading QM9 from the CSV files of the ``qm9pack`` package, vectorised (no per-row parsing).

``import qm9pack`` itself fails on recent setuptools (it imports ``pkg_resources``), so the package
is located with :func:`importlib.util.find_spec` and its ``data/`` folder read directly:
``qm9_part1..3.csv`` (one row per molecule) and ``qm9_polarizability.csv`` (the six independent
components of the polarizability tensor). List-valued columns (``Elements``, ``XYZ_Ang``,
``Mulliken_pop``) are parsed for all molecules at once by joining them into one string, dropping
brackets and quotes and splitting on commas.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..._extras import MissingExtraError, require
from ...keys import QM9_TARGETS

__all__ = [
    "ATOM_REF_HARTREE",
    "DEBYE_PER_E_ANGSTROM",
    "HAR2EV",
    "QM9_NUM_MOLECULES",
    "compute_targets",
    "qm9pack_data_dir",
    "read_qm9_csv",
]

HAR2EV = 27.211386246  # eV per hartree (PyG's constant)
DEBYE_PER_E_ANGSTROM = 4.80320  # 1 e·Å = 4.80320 D
QM9_NUM_MOLECULES = 130_831  # 133,885 minus the 3,054 molecules that failed the consistency check
SYMBOL_TO_Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
#: Free-atom reference energies in hartree, (U0, U, H, G), of the QM9 paper's atomref table.
ATOM_REF_HARTREE: dict[int, tuple[float, float, float, float]] = {
    1: (-0.500273, -0.498857, -0.497912, -0.510927),
    6: (-37.846772, -37.845355, -37.844411, -37.861317),
    7: (-54.583861, -54.582445, -54.581501, -54.598897),
    8: (-75.064579, -75.063162, -75.062219, -75.079532),
    9: (-99.718730, -99.717314, -99.716370, -99.733544),
}

CSV_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
POLARIZABILITY_FILE = "qm9_polarizability.csv"
_SCALAR_COLUMNS = (
    "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au",
    "InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au",
    "Heatcapacity_Cv_cal_mol_K", "RotA_GHz", "RotB_GHz", "RotC_GHz",
)  # fmt: skip
_COLUMNS = ("XYZ_file", "Index", "SMILES", "N_atoms", "Elements", "XYZ_Ang", "Mulliken_pop") + _SCALAR_COLUMNS
_POL_COLUMNS = ("XYZ_file", "A_xx", "A_xy", "A_yy", "A_xz", "A_yz", "A_zz")


def qm9pack_data_dir() -> Path:
    """The ``data/`` folder of the installed ``qm9pack`` package, with clear errors when the package
    or its CSV files are missing."""
    require("qm9", "QM9 (read offline from the CSV files of the 'qm9pack' package)")
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - require() said so
        raise MissingExtraError("the 'qm9pack' package is not importable as a package")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    missing = [f for f in CSV_FILES + (POLARIZABILITY_FILE,) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the 'qm9pack' package at {folder.parent} lacks {missing} in {folder}; reinstall it with "
            "`pip install --force-reinstall qm9pack`"
        )
    return folder


def _flat_numbers(column, name: str) -> np.ndarray:
    text = ",".join(column.tolist()).replace("[", "").replace("]", "")
    try:
        return np.array(text.split(","), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"QM9 column {name!r} holds a value that is not a number: {e}") from None


def _check_counts(counts: np.ndarray, expected: np.ndarray, index: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(counts != expected)
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"QM9 column {name!r} of molecule {int(index[i])} has {int(counts[i])} entries for "
            f"{int(expected[i])} atoms ({bad.size} molecules affected)"
        )


def read_qm9_csv(
    folder: str | Path | None = None, step: Callable[[str], None] | None = None
) -> dict[str, np.ndarray]:
    """All molecules of the qm9pack CSV files, sorted by their official index, in the CSV's units.

    Returns a dict: ``index [M]``, ``smiles`` (object array ``[M]``), ``num_atoms [M]``, ``z [A]``,
    ``pos [A, 3]`` (Å), ``charges [A]`` (Mulliken, e), ``polarizability_tensor [M, 3, 3]`` (bohr³),
    and one ``[M]`` array per scalar CSV column (hartree, debye, bohr, GHz, cal/mol/K) — with ``A``
    atoms in total. ``step(name)`` is called after each stage (for a progress bar).
    """
    require("qm9", "reading the QM9 CSV files", ("pandas",))
    import pandas as pd

    folder = Path(folder) if folder is not None else qm9pack_data_dir()
    step = step or (lambda name: None)
    parts = []
    for name in CSV_FILES:
        parts.append(pd.read_csv(folder / name, usecols=list(_COLUMNS)))
        step(f"read {name}")
    df = pd.concat(parts, ignore_index=True).sort_values("Index", kind="stable", ignore_index=True)
    if not df["Index"].is_unique:
        raise ValueError("the qm9pack CSV files list some molecule index twice")
    pol = pd.read_csv(folder / POLARIZABILITY_FILE, usecols=list(_POL_COLUMNS))
    pol = df[["XYZ_file"]].merge(pol, on="XYZ_file", how="left", validate="one_to_one")
    if pol["A_xx"].isna().any():
        missing = df["XYZ_file"][pol["A_xx"].isna()].tolist()
        raise ValueError(f"{len(missing)} molecules lack a polarizability row, e.g. {missing[:3]}")
    step(f"read {POLARIZABILITY_FILE}")

    index = df["Index"].to_numpy(np.int64)
    num_atoms = df["N_atoms"].to_numpy(np.int64)
    symbols = ",".join(df["Elements"].tolist()).replace("[", "").replace("]", "").replace("'", "").split(",")
    _check_counts(df["Elements"].str.count(",").to_numpy() + 1, num_atoms, index, "Elements")
    _check_counts(df["Mulliken_pop"].str.count(",").to_numpy() + 1, num_atoms, index, "Mulliken_pop")
    _check_counts(df["XYZ_Ang"].str.count(r"\[").to_numpy() - 1, num_atoms, index, "XYZ_Ang")
    uniq, inverse = np.unique(np.array(symbols), return_inverse=True)
    unknown = [s for s in uniq if s.strip() not in SYMBOL_TO_Z]
    if unknown:
        raise ValueError(f"QM9 column 'Elements' holds unknown element symbols {unknown}")
    z = np.array([SYMBOL_TO_Z[s.strip()] for s in uniq], dtype=np.int64)[inverse]
    pos = _flat_numbers(df["XYZ_Ang"], "XYZ_Ang").reshape(-1, 3)
    charges = _flat_numbers(df["Mulliken_pop"], "Mulliken_pop")
    step("parse atoms")

    a = pol[list(_POL_COLUMNS[1:])].to_numpy(np.float64)  # xx, xy, yy, xz, yz, zz
    tensor = a[:, [0, 1, 3, 1, 2, 4, 3, 4, 5]].reshape(-1, 3, 3)
    out = {
        "index": index,
        "smiles": df["SMILES"].to_numpy(object),
        "num_atoms": num_atoms,
        "z": z,
        "pos": pos,
        "charges": charges,
        "polarizability_tensor": tensor,
    }
    for col in _SCALAR_COLUMNS:
        out[col] = df[col].to_numpy(np.float64)
    return out


def compute_targets(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyG's 19 targets and the equivariant extras from :func:`read_qm9_csv` (float64).

    Returns ``y [M, 19]`` (PyG's order and units), ``dipole_vec [M, 3]`` (D), ``quadrupole_cart
    [M, 3, 3]`` (traceless, e·Å²) and ``polarizability [M, 3]`` (ascending eigenvalues, bohr³); the
    dipole and quadrupole are taken about the geometric centre of each molecule.
    """
    n = raw["num_atoms"]
    m = n.size
    mol = np.repeat(np.arange(m), n)  # molecule of each atom

    refs = np.zeros((10, 4))
    for zz, r in ATOM_REF_HARTREE.items():
        refs[zz] = r
    ref_sum = np.stack([np.bincount(mol, refs[raw["z"], k], minlength=m) for k in range(4)], 1)  # [M, 4] Ha
    energies = np.stack(
        [raw[c] for c in ("InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au",
                          "GibbsFreeEnergy_298K_au")], 1
    )  # fmt: skip
    columns = {
        "mu": raw["Dipole_debye"],
        "alpha": raw["Polarizability_bohr3"],
        "homo": raw["HOMO_au"] * HAR2EV,
        "lumo": raw["LUMO_au"] * HAR2EV,
        "gap": raw["HOMO_LUMO_gap_au"] * HAR2EV,
        "r2": raw["R2_bohr2"],
        "zpve": raw["ZPVE_au"] * HAR2EV,
        "cv": raw["Heatcapacity_Cv_cal_mol_K"],
        "A": raw["RotA_GHz"],
        "B": raw["RotB_GHz"],
        "C": raw["RotC_GHz"],
    }
    for k, name in enumerate(("U0", "U", "H", "G")):
        columns[name] = energies[:, k] * HAR2EV
        columns[f"{name}_atom"] = (energies[:, k] - ref_sum[:, k]) * HAR2EV
    y = np.stack([columns[name] for name in QM9_TARGETS], 1)

    pos, q = raw["pos"], raw["charges"]
    centre = np.stack([np.bincount(mol, pos[:, k], minlength=m) for k in range(3)], 1) / n[:, None]
    r = pos - centre[mol]
    dipole = (
        np.stack([np.bincount(mol, q * r[:, k], minlength=m) for k in range(3)], 1) * DEBYE_PER_E_ANGSTROM
    )
    second = np.empty((m, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            second[:, i, j] = second[:, j, i] = np.bincount(mol, q * r[:, i] * r[:, j], minlength=m)
    quad = second - np.trace(second, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3.0
    pol_eig = np.linalg.eigvalsh(raw["polarizability_tensor"])  # ascending
    return {"y": y, "dipole_vec": dipole, "quadrupole_cart": quad, "polarizability": pol_eig}
