r"""Loaders of real galaxy/halo catalogues on disk (nothing is downloaded), yielding the same
``Data`` fields as :class:`gdl.data.GalaxyClouds`: ``pos`` (Mpc/h, wrapped into [0, L)),
``velocity`` (km/s, when the file has velocities), ``omega_m`` and ``sigma_8`` (``[1, 1]``,
when present) and ``box`` (``[1, 3]``).

* :class:`CosmoBench` — CosmoBench HDF5 files (Huang et al. 2025): ``f["params"]["Omega_m"][i]``,
  ``f["params"]["sigma_8"][i]`` and per cloud ``f[grp][f"{grp}_{i}"]`` with datasets
  ``X Y Z VX VY VZ``; ``grp`` is ``BSQ`` (Quijote, 1000 Mpc/h), ``LH`` (CAMELS-SAM 100 Mpc/h,
  CAMELS-TNG 25 Mpc/h) or ``fiducial``. Needs ``h5py`` (``pip install gdl[galaxy]``).
* :class:`QuijoteTFRecord` — the TFRecord files ``halos_{train,val,test}_*.tfrecord`` of Balla
  et al. 2024: per record, float32 ``TensorProto``\ s ``x y z v_x v_y v_z ...`` (5000 halos) and
  scalars ``Omega_m ... sigma_8`` (read with :mod:`gdl.data.datasets.tfrecord`, no TensorFlow).
* :class:`PointCloudFile` — a generic ``.npz`` or ``.csv`` file with named columns ``x y z``
  (required), ``vx vy vz``, ``omega_m``, ``sigma_8`` and ``cloud`` (cloud id per row, for several
  clouds in one file); ``columns`` renames the file's columns to these.

Bad input: missing columns raise a ``KeyError`` naming what is missing and what is there; NaN or
infinite positions or velocities raise a ``ValueError`` naming the cloud; positions outside the
box are wrapped into it with one warning per dataset.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data, Dataset

from ..._extras import require
from ..sim.grid import wrap_positions
from .tfrecord import parse_example, parse_tensor, read_record, tfrecord_index

__all__ = ["CosmoBench", "PointCloudFile", "QuijoteTFRecord"]


def _require_h5py():
    require("galaxy", "reading CosmoBench HDF5 files", ("h5py",))
    import h5py

    return h5py


class _CatalogueDataset(Dataset):
    """Common checks and ``Data`` assembly of the loaders."""

    def __init__(self, transform: Callable | None, dtype: torch.dtype):
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        self.dtype = dtype
        self._warned_wrap = False
        super().__init__(None, transform)

    def _make(
        self, where: str, pos: np.ndarray, vel: np.ndarray | None, omega_m, sigma_8, box: np.ndarray
    ) -> Data:
        pos = np.asarray(pos, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"{where}: positions must have shape [N, 3], got {pos.shape}")
        if not np.isfinite(pos).all():
            raise ValueError(f"{where}: positions contain NaN or inf (rows {_bad_rows(pos)})")
        if ((pos < 0) | (pos >= box)).any():
            if not self._warned_wrap:
                warnings.warn(
                    f"{where}: positions outside the box [0, {box.tolist()}) were wrapped into it "
                    "(further occurrences in this dataset are wrapped silently)",
                    stacklevel=3,
                )
                self._warned_wrap = True
            pos = wrap_positions(pos, box)
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=self.dtype)  # noqa: E731
        data = Data(pos=t(pos), box=t(box).reshape(1, 3))
        if vel is not None:
            vel = np.asarray(vel, dtype=np.float64)
            if vel.shape != pos.shape:
                raise ValueError(f"{where}: velocities have shape {vel.shape}, positions {pos.shape}")
            if not np.isfinite(vel).all():
                raise ValueError(f"{where}: velocities contain NaN or inf (rows {_bad_rows(vel)})")
            data.velocity = t(vel)
        for name, val in (("omega_m", omega_m), ("sigma_8", sigma_8)):
            if val is not None:
                if not np.isfinite(val):
                    raise ValueError(f"{where}: {name} is {val}")
                data[name] = t(val).reshape(1, 1)
        return data


def _bad_rows(a: np.ndarray) -> list[int]:
    return np.nonzero(~np.isfinite(a).all(1))[0][:5].tolist()


def _box3(box_size: float | Sequence[float], what: str) -> np.ndarray:
    b = np.asarray(box_size, dtype=np.float64).reshape(-1)
    b = np.repeat(b, 3) if b.size == 1 else b
    if b.size != 3 or not (np.isfinite(b).all() and (b > 0).all()):
        raise ValueError(f"{what}: box size must be > 0 (one side or three), got {box_size!r}")
    return b


# ---------------------------------------------------------------------------------------------
# CosmoBench HDF5
# ---------------------------------------------------------------------------------------------
class CosmoBench(_CatalogueDataset):
    """Point clouds of a CosmoBench HDF5 file (module docstring), read lazily.

    Args:
        path: the ``.hdf5`` file.
        group: ``"BSQ"``, ``"LH"`` or ``"fiducial"``; ``None`` picks the one present. Default ``None``.
        box_size: box side (Mpc/h); ``None`` means 1000 for ``BSQ``/``fiducial`` and is required
            for ``LH`` (CAMELS-SAM 100, CAMELS-TNG 25). Default ``None``.
        transform: PyG transform (e.g. :class:`~gdl.data.PeriodicRadiusGraph`). Default ``None``.
        dtype: floating dtype of the fields. Default ``torch.float32``.
    """

    GROUPS = ("BSQ", "LH", "fiducial")
    BOX_SIZES = {"BSQ": 1000.0, "fiducial": 1000.0}
    COLUMNS = ("X", "Y", "Z", "VX", "VY", "VZ")

    def __init__(
        self,
        path: str | os.PathLike,
        group: str | None = None,
        box_size: float | None = None,
        transform: Callable | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        h5py = _require_h5py()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"CosmoBench file not found: {self.path}")
        with h5py.File(self.path, "r") as f:
            present = [g for g in self.GROUPS if g in f]
            if group is None:
                if len(present) != 1:
                    raise KeyError(
                        f"{self.path}: cannot pick a cloud group among {present or 'none'} "
                        f"(top-level keys {list(f)}); pass group="
                    )
                group = present[0]
            if group not in f:
                raise KeyError(f"{self.path}: no group {group!r}; top-level keys {list(f)}")
            if "params" not in f:
                raise KeyError(
                    f"{self.path}: no 'params' group with Omega_m and sigma_8; top-level keys {list(f)}"
                )
            missing = [k for k in ("Omega_m", "sigma_8") if k not in f["params"]]
            if missing:
                raise KeyError(f"{self.path}: params lacks {missing}; it has {list(f['params'])}")
            self.omega_m = np.asarray(f["params"]["Omega_m"][...], dtype=np.float64).reshape(-1)
            self.sigma_8 = np.asarray(f["params"]["sigma_8"][...], dtype=np.float64).reshape(-1)
            clouds = set(f[group].keys())
        if len(self.omega_m) != len(self.sigma_8):
            raise ValueError(
                f"{self.path}: {len(self.omega_m)} Omega_m but {len(self.sigma_8)} sigma_8 values"
            )
        absent = [i for i in range(len(self.omega_m)) if f"{group}_{i}" not in clouds]
        if absent:
            raise KeyError(
                f"{self.path}: group {group!r} lacks clouds {[f'{group}_{i}' for i in absent[:5]]} "
                f"({len(absent)} in all)"
            )
        if box_size is None:
            if group not in self.BOX_SIZES:
                raise ValueError(
                    f"{self.path}: group {group!r} (CAMELS: 100 or 25 Mpc/h) needs an explicit box_size"
                )
            box_size = self.BOX_SIZES[group]
        self.group = group
        self.box = _box3(box_size, str(self.path))
        self._file = None
        self._pid = None
        super().__init__(transform, dtype)

    def _handle(self):
        if self._file is None or self._pid != os.getpid():  # one handle per process (data-loader workers)
            self._file = _require_h5py().File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def len(self) -> int:
        return len(self.omega_m)

    def get(self, idx: int) -> Data:
        name = f"{self.group}_{idx}"
        g = self._handle()[self.group][name]
        missing = [c for c in self.COLUMNS if c not in g]
        if missing:
            raise KeyError(f"{self.path}: cloud {name} lacks columns {missing}; it has {sorted(g.keys())}")
        pos = np.stack([g[c][...] for c in "XYZ"], axis=1)
        vel = np.stack([g[c][...] for c in ("VX", "VY", "VZ")], axis=1)
        return self._make(
            f"{self.path.name}:{name}", pos, vel, self.omega_m[idx], self.sigma_8[idx], self.box
        )

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.path.name}, group={self.group!r}, {len(self)} clouds, box={self.box[0]})"


# ---------------------------------------------------------------------------------------------
# Quijote TFRecord (Balla et al. 2024)
# ---------------------------------------------------------------------------------------------
class QuijoteTFRecord(_CatalogueDataset):
    """Clouds of the Quijote TFRecord files of Balla et al. 2024 (module docstring), read lazily.

    Args:
        paths: a file, a directory (all ``*.tfrecord`` in it), a glob pattern or a list of files.
        box_size: box side (Mpc/h). Default ``1000.0``.
        transform: PyG transform (e.g. :class:`~gdl.data.PeriodicKNNGraph`). Default ``None``.
        dtype: floating dtype of the fields. Default ``torch.float32``.
        verify: check the CRC-32C of every record read. Default ``True``.
    """

    POSITION = ("x", "y", "z")
    VELOCITY = ("v_x", "v_y", "v_z")
    PARAMS = ("Omega_m", "sigma_8")

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        box_size: float = 1000.0,
        transform: Callable | None = None,
        dtype: torch.dtype = torch.float32,
        verify: bool = True,
    ):
        self.files = _expand_paths(paths)
        self.box = _box3(box_size, "QuijoteTFRecord")
        self.verify = verify
        self.records = [(fi, off, ln) for fi, f in enumerate(self.files) for off, ln in tfrecord_index(f)]
        super().__init__(transform, dtype)

    def len(self) -> int:
        return len(self.records)

    def example(self, idx: int) -> dict[str, np.ndarray]:
        """All features of record ``idx`` as arrays (tensor-valued bytes features are decoded)."""
        fi, off, ln = self.records[idx]
        with open(self.files[fi], "rb") as f:
            payload = read_record(f, off, ln, self.verify, str(self.files[fi]))
        out = {}
        for name, (kind, vals) in parse_example(payload).items():
            out[name] = parse_tensor(vals[0]) if kind == "bytes" and len(vals) == 1 else np.asarray(vals)
        return out

    def get(self, idx: int) -> Data:
        ex = self.example(idx)
        where = f"{self.files[self.records[idx][0]].name} record {idx}"
        missing = [k for k in self.POSITION + self.VELOCITY + self.PARAMS if k not in ex]
        if missing:
            raise KeyError(f"{where}: missing features {missing}; it has {sorted(ex)}")
        pos = np.stack([ex[k].reshape(-1) for k in self.POSITION], axis=1)
        vel = np.stack([ex[k].reshape(-1) for k in self.VELOCITY], axis=1)
        om, s8 = (float(np.asarray(ex[k]).reshape(-1)[0]) for k in self.PARAMS)
        return self._make(where, pos, vel, om, s8, self.box)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.files)} files, {len(self)} clouds, box={self.box[0]})"


def _expand_paths(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        p = Path(paths)
        if p.is_dir():
            files = sorted(p.glob("*.tfrecord"))
        elif p.is_file():
            files = [p]
        else:
            files = [Path(x) for x in sorted(glob.glob(str(paths)))]
    else:
        files = [Path(x) for x in paths]
    if not files:
        raise FileNotFoundError(f"no TFRecord files found at {paths!r}")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"TFRecord file not found: {f}")
    return files


# ---------------------------------------------------------------------------------------------
# generic .npz / .csv
# ---------------------------------------------------------------------------------------------
class PointCloudFile(_CatalogueDataset):
    """One or several point clouds from a ``.npz`` or ``.csv`` file with named columns.

    Columns (after ``columns`` renaming): ``x y z`` required; ``vx vy vz`` optional (all three);
    ``omega_m``, ``sigma_8`` optional (constant within a cloud); ``cloud`` optional integer cloud id
    per row (clouds in increasing id order). A ``.npz`` may instead hold ``pos [N, 3]`` and
    ``velocity [N, 3]`` arrays, and ``box_size`` (one value or three).

    Args:
        path: the file.
        box_size: box side(s) (Mpc/h); required unless a ``.npz`` stores ``box_size``. Default ``None``.
        columns: ``{name in the file: gdl name}``, e.g. ``{"X": "x", "VX": "vx"}``. Default ``None``.
        transform: PyG transform. Default ``None``.
        dtype: floating dtype of the fields. Default ``torch.float32``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        box_size: float | Sequence[float] | None = None,
        columns: Mapping[str, str] | None = None,
        transform: Callable | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"point-cloud file not found: {self.path}")
        table = self._read_table(self.path)
        table = {dict(columns or {}).get(k, k): v for k, v in table.items()}
        if box_size is None:
            if "box_size" not in table:
                raise ValueError(f"{self.path}: pass box_size= (the file stores no 'box_size')")
            box_size = np.asarray(table["box_size"], dtype=np.float64)
        self.box = _box3(box_size, str(self.path))
        self._columns = _split_vectors(table, self.path)
        missing = [c for c in ("x", "y", "z") if c not in self._columns]
        if missing:
            raise KeyError(
                f"{self.path}: missing position columns {missing}; columns present: {sorted(table)}"
            )
        vel = [c for c in ("vx", "vy", "vz") if c in self._columns]
        if vel and len(vel) != 3:
            raise KeyError(f"{self.path}: velocity needs vx, vy and vz; found only {vel}")
        n = len(self._columns["x"])
        bad = [k for k, v in self._columns.items() if len(v) != n]
        if bad:
            raise ValueError(f"{self.path}: columns {bad} do not have {n} rows like x")
        ids = np.asarray(self._columns.get("cloud", np.zeros(n, dtype=np.int64)))
        self.cloud_ids, inverse = np.unique(ids, return_inverse=True)
        self._rows = [np.nonzero(inverse == k)[0] for k in range(len(self.cloud_ids))]
        super().__init__(transform, dtype)

    @staticmethod
    def _read_table(path: Path) -> dict[str, np.ndarray]:
        suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: np.asarray(z[k]) for k in z.files}
        if suffix in (".csv", ".csv.gz"):
            import pandas as pd

            df = pd.read_csv(path)
            return {str(k): df[k].to_numpy() for k in df.columns}
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .npz or .csv")

    def len(self) -> int:
        return len(self._rows)

    def get(self, idx: int) -> Data:
        rows = self._rows[idx]
        c = self._columns
        where = f"{self.path.name} cloud {self.cloud_ids[idx]}"
        pos = np.stack([np.asarray(c[k], dtype=np.float64)[rows] for k in ("x", "y", "z")], axis=1)
        vel = (
            np.stack([np.asarray(c[k], dtype=np.float64)[rows] for k in ("vx", "vy", "vz")], axis=1)
            if "vx" in c
            else None
        )
        scalars = {}
        for name in ("omega_m", "sigma_8"):
            if name in c:
                vals = np.unique(np.asarray(c[name], dtype=np.float64)[rows])
                if len(vals) != 1:
                    raise ValueError(
                        f"{where}: column {name} must be constant within a cloud, found {vals[:5].tolist()}"
                    )
                scalars[name] = float(vals[0])
        return self._make(where, pos, vel, scalars.get("omega_m"), scalars.get("sigma_8"), self.box)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path.name}, {len(self)} clouds, box={self.box.tolist()})"


def _split_vectors(table: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Per-row columns, with ``pos``/``velocity`` ``[N, 3]`` arrays split into x y z / vx vy vz."""
    out = {}
    for k, v in table.items():
        if k == "box_size":
            continue
        v = np.asarray(v)
        if k in ("pos", "velocity"):
            if v.ndim != 2 or v.shape[1] != 3:
                raise ValueError(f"{path}: array {k!r} must have shape [N, 3], got {v.shape}")
            names = ("x", "y", "z") if k == "pos" else ("vx", "vy", "vz")
            out.update({n: v[:, a] for a, n in enumerate(names)})
        elif v.ndim == 1:
            out[k] = v
        else:
            raise ValueError(f"{path}: column {k!r} must be one-dimensional, got shape {v.shape}")
    return out
