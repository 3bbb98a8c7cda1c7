import json
import os

import pytest
import torch

from gdl.data import _paths
from gdl.data._paths import check_writable, data_root, file_is_valid, load_checked, save_atomic


def test_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GDL_DATA_DIR", str(tmp_path))
    assert data_root() == tmp_path and data_root("qm9") == tmp_path / "qm9"
    monkeypatch.delenv("GDL_DATA_DIR")
    # in a source checkout the default is <repository>/data
    assert data_root().name == "data" and (data_root().parent / "pyproject.toml").is_file()


def test_save_and_load_roundtrip(tmp_path):
    obj = {"a": torch.arange(5), "s": ["x", "y"]}
    path = tmp_path / "sub" / "f.pt"
    save_atomic(obj, path, "v1", meta={"n": 5})
    assert file_is_valid(path, "v1") == (True, "")
    out = load_checked(path, "v1")
    assert torch.equal(out["a"], obj["a"]) and out["s"] == ["x", "y"]
    assert json.loads((tmp_path / "sub" / "f.pt.json").read_text())["n"] == 5
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    mode = _paths._file_mode()
    assert (
        path.stat().st_mode & 0o777 == mode
        and (tmp_path / "sub" / "f.pt.json").stat().st_mode & 0o777 == mode
    )


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_stamp", "version", "missing"])
def test_damaged_files_are_rejected(tmp_path, damage):
    path = tmp_path / "f.pt"
    save_atomic({"a": torch.randn(1000)}, path, "v1")
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "no_stamp":
        (tmp_path / "f.pt.json").unlink()
    elif damage == "missing":
        path.unlink()
    ok, reason = file_is_valid(path, "v2" if damage == "version" else "v1")
    assert not ok and reason
    assert load_checked(path, "v2" if damage == "version" else "v1") is None


def test_failed_write_leaves_no_file(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"x": Unpicklable()}, tmp_path / "f.pt", "v1")
    assert list(tmp_path.iterdir()) == []


def test_check_writable(tmp_path, monkeypatch):
    assert check_writable(tmp_path / "new") == tmp_path / "new"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="GDL_DATA_DIR"):
        check_writable(blocker / "sub")
    monkeypatch.setattr(_paths.os, "access", lambda *a: False)
    with pytest.raises(PermissionError, match="not writable"):
        check_writable(tmp_path)
    assert os.path.isdir(tmp_path)


def test_build_lock_makes_a_second_builder_wait(tmp_path, capsys):
    """A second holder blocks (and says why on stderr) until the first releases the lock."""
    import threading

    entered = threading.Event()

    def second():
        with _paths.build_lock(tmp_path / "cache", "the test data"):
            entered.set()

    with _paths.build_lock(tmp_path / "cache", "the test data"):
        t = threading.Thread(target=second)
        t.start()
        assert not entered.wait(0.5)  # blocked while the first holds the lock
    assert entered.wait(30)
    t.join()
    err = capsys.readouterr().err
    assert "waiting for another process that is building the test data" in err and "cache" in err
    assert (tmp_path / "cache" / _paths.BUILD_LOCK).is_file()
    with _paths.build_lock(tmp_path / "cache"):  # free again: no wait, no message
        pass
    assert "waiting" not in capsys.readouterr().err
