r"""QM9 read offline from the ``qm9pack`` CSV files, with PyG's targets and equivariant extras."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset
from tqdm.auto import tqdm

from ...keys import QM9_TARGETS, cartesian_to_2e
from .._paths import build_lock, data_root, file_is_valid, load_checked, save_atomic
from ._qm9_raw import ATOM_REF_HARTREE, DEBYE_PER_E_ANGSTROM, HAR2EV, compute_targets, read_qm9_csv
from .splits import split_indices

__all__ = ["QM9", "mulliken_multipoles", "qm9_atomref", "qm9_target_index"]


def qm9_target_index(target: str | int) -> int:
    """Column of ``y`` of a target given by name (``"homo"``) or index, with a clear error."""
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if 0 <= target < len(QM9_TARGETS):
            return int(target)
    elif target in QM9_TARGETS:
        return QM9_TARGETS.index(target)
    raise ValueError(
        f"unknown QM9 target {target!r}; valid names (columns 0..18 of y): {', '.join(QM9_TARGETS)}"
    )


def qm9_atomref(target: str | int) -> torch.Tensor | None:
    """Free-atom reference energies ``[100]`` (eV, indexed by atomic number) of ``U0``, ``U``, ``H``
    or ``G``; ``None`` for the other targets (whose ``*_atom`` forms already have them subtracted).
    ``y[:, U0] - atomref("U0")[z].sum() == y[:, U0_atom]``."""
    name = QM9_TARGETS[qm9_target_index(target)]
    if name not in ("U0", "U", "H", "G"):
        return None
    k = ("U0", "U", "H", "G").index(name)
    out = torch.zeros(100, dtype=torch.float64)
    for z, refs in ATOM_REF_HARTREE.items():
        out[z] = refs[k] * HAR2EV
    return out


def mulliken_multipoles(
    pos: torch.Tensor, charges: torch.Tensor, batch: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Dipole ``[B, 3]`` (Debye) and traceless quadrupole ``[B, 5]`` (e·Å², e3nn ``2e``) of point
    charges about the geometric centre of each graph — the definitions of QM9's ``dipole_vec`` and
    ``quadrupole``: :math:`\sum_i q_i (r_i - \bar r)` and the traceless part of
    :math:`\sum_i q_i (r_i - \bar r)(r_i - \bar r)^T`. ``pos [N, 3]``, ``charges [N]`` or ``[N, 1]``."""
    q = charges.reshape(-1)
    if pos.dim() != 2 or pos.shape[-1] != 3 or q.numel() != pos.shape[0]:
        raise ValueError(
            f"need pos [N, 3] and charges [N]: got {tuple(pos.shape)} and {tuple(charges.shape)}"
        )
    if batch is None:
        batch = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
    num = int(batch.max()) + 1 if batch.numel() else 0
    count = torch.bincount(batch, minlength=num).to(pos.dtype).clamp_min(1)
    centre = (
        torch.zeros(num, 3, dtype=pos.dtype, device=pos.device).index_add_(0, batch, pos) / count[:, None]
    )
    r = pos - centre[batch]
    dipole = torch.zeros(num, 3, dtype=pos.dtype, device=pos.device).index_add_(0, batch, q[:, None] * r)
    second = q[:, None, None] * r[:, :, None] * r[:, None, :]  # [N, 3, 3]
    second = torch.zeros(num, 3, 3, dtype=pos.dtype, device=pos.device).index_add_(0, batch, second)
    return dipole * DEBYE_PER_E_ANGSTROM, cartesian_to_2e(second)


class QM9(InMemoryDataset):
    r"""The QM9 dataset (`Ramakrishnan et al. 2014 <https://doi.org/10.1038/sdata.2014.22>`_): the
    130,831 molecules of up to 9 heavy atoms (C, N, O, F) that passed the consistency check, with
    B3LYP/6-31G(2df,p) geometries and properties, read offline from the CSV files shipped by the
    ``qm9pack`` package. Targets follow PyG's :class:`torch_geometric.datasets.QM9` (order, units),
    plus Mulliken charges, dipole and quadrupole as equivariant targets.

    Each molecule is a :class:`~torch_geometric.data.Data` with

    ==================  =========  ======  ===============================================================
    field               shape      type    meaning
    ==================  =========  ======  ===============================================================
    ``z``               [N]        inv.    atomic numbers (int64)
    ``pos``             [N, 3]     pos     coordinates, Å, as in the source files (not centred)
    ``charges``         [N, 1]     0e      Mulliken partial charges, e
    ``y``               [1, 19]    inv.    PyG's targets (table below)
    ``dipole_vec``      [1, 3]     1o      :math:`\sum_i q_i (r_i - \bar r)`, Debye (1 e·Å = 4.80320 D)
    ``quadrupole``      [1, 5]     2e      traceless part of :math:`\sum_i q_i (r_i-\bar r)(r_i-\bar r)^T`,
                                           e·Å², e3nn's 2e basis (:func:`gdl.keys.cartesian_to_2e`)
    ``polarizability``  [1, 3]     3x0e    eigenvalues of the polarizability tensor, ascending, bohr³
    ``idx``             [1]        inv.    official molecule index 1..133885 (int64)
    ``smiles``          str                SMILES string
    ==================  =========  ======  ===============================================================

    No graph is stored: build one with :mod:`gdl.data.transforms` (``RadiusGraph``, ``KNNGraph``,
    ``FullyConnected``). ``SelectTargets`` copies columns of ``y`` into fields named after them
    (``data.homo`` ``[1, 1]``). Floats are float32 as in PyG (the ulp of U0 ≈ -11,000 eV is 1 meV).

    Example::

        qm9 = QM9()                                             # $GDL_DATA_DIR/qm9 or <repo>/data/qm9
        parts = qm9.get_split("cormorant", seed=0, train_size=10_000)   # {"train", "val", "test"}
        scaler = Standardize(["homo", "dipole_vec"]).fit(parts["train"])  # training split only
        for part in parts.values():
            part.transform = Compose([SelectTargets(["homo"]), RadiusGraph(5.0), scaler])

    ======  ==========  ======================================================  ==============
    column  name        property                                                unit
    ======  ==========  ======================================================  ==============
    0       mu          dipole moment (DFT)                                     D
    1       alpha       isotropic polarizability                                bohr³
    2       homo        HOMO energy                                             eV
    3       lumo        LUMO energy                                             eV
    4       gap         LUMO - HOMO                                             eV
    5       r2          electronic spatial extent                               bohr²
    6       zpve        zero-point vibrational energy                           eV
    7       U0          internal energy at 0 K                                  eV
    8       U           internal energy at 298.15 K                             eV
    9       H           enthalpy at 298.15 K                                    eV
    10      G           free energy at 298.15 K                                 eV
    11      cv          heat capacity at 298.15 K                               cal/(mol·K)
    12      U0_atom     U0 minus the free-atom reference energies               eV
    13      U_atom      U minus the free-atom references                        eV
    14      H_atom      H minus the free-atom references                        eV
    15      G_atom      G minus the free-atom references                        eV
    16      A           rotational constant                                     GHz
    17      B           rotational constant                                     GHz
    18      C           rotational constant                                     GHz
    ======  ==========  ======================================================  ==============

    Hartree → eV with 27.211386246 (PyG's factor). The ``*_atom`` columns subtract, per atom, the
    free-atom energies of the QM9 paper (:func:`qm9_atomref`), computed here in hartree and then
    converted (PyG converts the kcal/mol values of its own CSV, so last digits may differ).
    ``A`` is 0 for the 9 linear molecules (the moment of inertia about their axis vanishes) and up to
    619,868 GHz for near-linear ones: the values are kept as given, as PyG reads them verbatim from
    its CSV (conversion factor 1), which was converted from the same source files.

    **Centre of the multipoles.** The dipole and quadrupole are taken about the geometric centre
    :math:`\bar r` (mean of the atom positions), an equivariant function of the positions that
    models can reproduce. The Mulliken charges of a molecule sum to zero up to rounding
    (:math:`|\sum_i q_i| \le 6\cdot10^{-6}` e over the dataset), so the dipole does not depend on the
    centre (a shift of 5 Å changes it by < 1.5e-4 D); the quadrupole of a polar molecule does. The
    Mulliken dipole is not the DFT dipole (``mu``): its magnitude correlates with ``mu`` with Pearson
    r = 0.94 over the dataset (tested). The Buckingham quadrupole is 3/2 times ``from_2e(quadrupole)``.

    **Polarizability frame.** ``qm9_polarizability.csv`` gives the full tensor, but not in the frame
    of the coordinates: acetylene (idx 4) lies along x while its largest component is zz (27.863
    vs 10.491 bohr³). Its trace / 3 equals ``alpha`` to 0.0054 bohr³ for every molecule. The data
    are consistent with a principal-axis frame of each molecule (as Gaussian's standard
    orientation): the eigenvector of the largest eigenvalue is within 26° of the tensor frame's x
    axis for 85% of the molecules, whereas, read in the coordinate frame, it is within 26° of the
    molecule's longest axis (of the nuclear-charge distribution) for only 8%. A principal-axis
    frame fixes the rotation only up to the sign of each axis (and the order of degenerate axes,
    and symmetry conventions such as water's C2 axis along z); the signs flip off-diagonal
    components (median 4% of the tensor's norm) and nothing in the files fixes them, so the frame
    cannot be recovered and verified. Only the rotation-invariant eigenvalues are exposed
    (``polarizability``). The numbers of this paragraph are checked in ``tests/data/test_qm9.py``.

    **Processing and cache.** The CSV files (~230 MB) are parsed once, vectorised, into
    ``<root>/processed/qm9_v1.pt`` (written atomically, with a stamp of size and SHA-256 that is
    checked at every load; a corrupt or partial file is rebuilt with a warning). ``root=None`` uses
    ``$GDL_DATA_DIR/qm9`` or ``<repository>/data/qm9`` (:func:`gdl.data._paths.data_root`). Timing::

        python -m benchmarks.dataset_timing qm9 --root /tmp/qm9-timing --force-reload

    measured on a quiet 2-core machine (AMD EPYC, 2026-11-23, commit dce8714)::

        QM9 at /tmp/qm9-timing: 130831 molecules; 2 cores, torch 2.13.0+cu130
        first load, processing the CSV files: 6.6 s
        reload: 0.55 s

    (under the load of four other jobs the same command took 18.4 s and 1.78 s; peak memory while
    processing 1.7 GB).

    Args:
        root: folder of the processed file. Default ``None`` (see above).
        transform: applied to each ``Data`` at access. Default ``None``.
        pre_transform: applied to each ``Data`` before saving (slower, per-molecule processing).
            Default ``None``.
        pre_filter: keeps the molecules for which it returns ``True``. Default ``None``.
        force_reload: re-process even if a valid processed file exists. Default ``False``.
        log: print progress. Default ``True``.
    """

    VERSION = "gdl-qm9-1"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        pre_filter: Callable | None = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        root = Path(root).expanduser() if root is not None else data_root("qm9")
        path = root / "processed" / self.processed_file_names[0]
        ok, _ = file_is_valid(path, self.VERSION)
        building = force_reload or not ok
        # one process builds, the others of a sweep wait for it and load its file (gdl.data._paths)
        with build_lock(root / "processed", "the processed QM9 dataset") if building else nullcontext():
            ok, reason = file_is_valid(path, self.VERSION)  # again, now that no one else builds it
            if not ok and path.exists():
                warnings.warn(f"QM9: rebuilding the processed file {path}: {reason}", stacklevel=2)
                path.unlink()
            super().__init__(
                str(root), transform, pre_transform, pre_filter, log=log, force_reload=force_reload
            )
        obj = load_checked(path, self.VERSION)
        if obj is None:  # pragma: no cover - only if the file is altered between processing and loading
            raise RuntimeError(f"QM9: the processed file {path} is invalid right after processing")
        self._data = Data.from_dict(obj["data"])
        self.slices = obj["slices"]

    @property
    def raw_file_names(self) -> list[str]:
        return []  # the CSV files live in the qm9pack package (see _qm9_raw.qm9pack_data_dir)

    @property
    def processed_file_names(self) -> list[str]:
        return ["qm9_v1.pt"]

    def process(self) -> None:
        bar = tqdm(total=7, desc="QM9", unit="step", disable=not self.log, file=sys.stderr)

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        raw = read_qm9_csv(step=step)
        data, slices = self._collated(raw)
        step("compute targets")
        if self.pre_filter is not None or self.pre_transform is not None:
            data, slices = self._apply_pre(data, slices)
        save_atomic(
            {"data": data.to_dict(), "slices": slices},
            self.processed_paths[0],
            self.VERSION,
            meta={"num_molecules": int(slices["y"].numel() - 1)},
        )
        step("save")
        bar.close()

    @staticmethod
    def _collated(raw: dict[str, np.ndarray]) -> tuple[Data, dict[str, torch.Tensor]]:
        """The internal storage of :class:`InMemoryDataset`, built directly from whole-dataset arrays."""
        t = compute_targets(raw)
        m = raw["num_atoms"].size
        f32 = torch.float32
        data = Data(
            z=torch.tensor(raw["z"], dtype=torch.long),
            pos=torch.from_numpy(raw["pos"]).to(f32),
            charges=torch.from_numpy(raw["charges"]).to(f32).view(-1, 1),
            y=torch.from_numpy(t["y"]).to(f32),
            dipole_vec=torch.from_numpy(t["dipole_vec"]).to(f32),
            quadrupole=cartesian_to_2e(torch.from_numpy(t["quadrupole_cart"])).to(f32),
            polarizability=torch.from_numpy(t["polarizability"]).to(f32),
            idx=torch.tensor(raw["index"], dtype=torch.long),
            smiles=[str(s) for s in raw["smiles"]],
        )
        node = torch.zeros(m + 1, dtype=torch.long)
        node[1:] = torch.tensor(raw["num_atoms"], dtype=torch.long).cumsum(0)
        graph = torch.arange(m + 1)
        slices = {k: (node if k in ("z", "pos", "charges") else graph) for k in data.keys()}
        return data, slices

    def _apply_pre(self, data: Data, slices: dict) -> tuple[Data, dict]:
        self._data, self.slices = data, slices
        data_list = []
        for i in tqdm(
            range(len(slices["y"]) - 1), desc="QM9 pre_transform", disable=not self.log, file=sys.stderr
        ):
            d = self.get(i)
            if self.pre_filter is not None and not self.pre_filter(d):
                continue
            data_list.append(self.pre_transform(d) if self.pre_transform is not None else d)
        self._data_list = None
        if not data_list:
            raise ValueError("QM9: pre_filter rejected every molecule")
        out, out_slices = self.collate(data_list)
        return out, out_slices

    # ------------------------------------------------------------------------------------------
    def atomref(self, target: str | int) -> torch.Tensor | None:
        """PyG-style ``[100, 1]`` free-atom energies (eV) of ``U0``/``U``/``H``/``G``, else ``None``."""
        ref = qm9_atomref(target)
        return None if ref is None else ref.view(-1, 1).float()

    def split_indices(
        self, split: str = "cormorant", seed: int = 0, train_size: int | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"train", "val", "test"}`` index tensors of a named split (:mod:`gdl.data.datasets.splits`)."""
        return split_indices(len(self), split, seed, train_size)

    def get_split(
        self, split: str = "cormorant", seed: int = 0, train_size: int | None = None
    ) -> dict[str, QM9]:
        """``{"train", "val", "test"}`` subsets (``index_select`` views sharing this storage)."""
        return {k: self.index_select(v) for k, v in self.split_indices(split, seed, train_size).items()}
