"""``python -m benchmarks.dataset_timing``: first build and reload of QM9 (a few CSV rows) and N-body
(short trajectories)."""

from benchmarks import dataset_timing as timing
from gdl.data import NBodyConfig
from gdl.data.datasets import nbody as nbody_module
from tests.data.conftest import tiny_csv_dir, tiny_qm9pack  # noqa: F401  (fixtures)

SMALL = NBodyConfig(chunk=40, frame_in=3, frame_out=5)  # short trajectories: the mechanics only


def test_qm9_timing(tiny_qm9pack, tmp_path, capsys):  # noqa: F811  (the imported fixture)
    out = timing.main(["qm9", "--root", str(tmp_path)])
    text = capsys.readouterr().out
    assert out["molecules"] == 22 and out["processed"] is True
    assert "processing the CSV files" in text and "reload:" in text
    out = timing.main(["qm9", "--root", str(tmp_path)])
    assert out["processed"] is False


def test_nbody_timing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(nbody_module, "NBODY_SPLIT_SIZES", {"train": 20, "val": 10, "test": 10})
    monkeypatch.setattr(nbody_module, "NBodyConfig", lambda: SMALL)
    out = timing.main(["nbody", "--root", str(tmp_path), "--field-strength", "0.5"])
    text = capsys.readouterr().out
    assert "reload:" in text and "clipped" in text and 0 <= out["clipped"] <= 1
