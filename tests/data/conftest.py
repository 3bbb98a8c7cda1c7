"""Shared fixtures of the data tests.

The full QM9 dataset is processed once into the default data root (``$GDL_DATA_DIR/qm9`` or
``<repository>/data/qm9``) and reused by later test sessions; ``tiny_qm9pack`` points the reader at
a few rows of the real CSV files so that processing, corruption and error paths run in seconds.
"""

from pathlib import Path

import pandas as pd
import pytest

from gdl.data import QM9
from gdl.data._paths import data_root
from gdl.data.datasets import _qm9_raw


@pytest.fixture(scope="session")
def qm9() -> QM9:
    return QM9(data_root("qm9"), log=True)


@pytest.fixture(scope="session")
def tiny_csv_dir(tmp_path_factory) -> Path:
    """The first rows of each qm9pack CSV part (methane first, acetylene included)."""
    src = _qm9_raw.qm9pack_data_dir()
    out = tmp_path_factory.mktemp("qm9pack_tiny")
    names = []
    for k, name in enumerate(_qm9_raw.CSV_FILES):
        df = pd.read_csv(src / name, nrows=12 if k == 0 else 5)
        df.to_csv(out / name, index=False)
        names += df["XYZ_file"].tolist()
    pol = pd.read_csv(src / _qm9_raw.POLARIZABILITY_FILE)
    pol[pol["XYZ_file"].isin(names)].to_csv(out / _qm9_raw.POLARIZABILITY_FILE, index=False)
    return out


@pytest.fixture
def tiny_qm9pack(tiny_csv_dir, monkeypatch) -> Path:
    monkeypatch.setattr(_qm9_raw, "qm9pack_data_dir", lambda: tiny_csv_dir)
    return tiny_csv_dir
