"""Where datasets keep their processed files, and how those files are written and checked.

Default data root (used when a dataset is given ``root=None``):

1. ``$GDL_DATA_DIR`` when that environment variable is set;
2. otherwise ``<repository>/data`` when gdl runs from a source checkout (the folder holding
   ``pyproject.toml``; ``/data/`` is git-ignored);
3. otherwise ``~/.cache/gdl``.

Each dataset uses a sub-folder (``qm9/``, ``nbody_charged/``). Processed files are written
atomically (to a temporary file in the same folder, then renamed) together with a stamp
``<file>.json`` recording a format version, the size and the SHA-256 of the file; a file whose stamp
is missing or does not match (a partial write, a corrupt copy, an older format) is rebuilt instead
of being loaded.

Generation is guarded by :func:`build_lock`: when several processes (the jobs of a sweep, a SLURM
array) need the same missing files at once, one builds them and the others wait for it and then load
what it wrote, instead of each generating its own copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = ["build_lock", "check_writable", "data_root", "file_is_valid", "load_checked", "save_atomic"]

ENV_VAR = "GDL_DATA_DIR"


def data_root(name: str | None = None) -> Path:
    """The default data root (module docstring), or its sub-folder ``name``."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parents[2]
        root = repo / "data" if (repo / "pyproject.toml").is_file() else Path.home() / ".cache" / "gdl"
    return root / name if name else root


def check_writable(folder: str | os.PathLike, what: str = "processed files") -> Path:
    """Create ``folder`` if needed and make sure files can be written there; raise a
    ``PermissionError`` naming the folder (and ``$GDL_DATA_DIR``) otherwise."""
    folder = Path(folder)
    hint = f"pass another root or set ${ENV_VAR} to a writable directory"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(
            f"cannot create the directory {str(folder)!r} for {what}: {e}; {hint}"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"the directory {str(folder)!r} is not writable, so {what} cannot be saved; {hint}"
        )
    return folder


BUILD_LOCK = ".build.lock"


@contextlib.contextmanager
def build_lock(folder: str | os.PathLike, what: str = "the dataset") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<folder>/.build.lock`` while generating files in ``folder``.

    Callers check their cache, and only when something is missing take this lock, check again
    (another process may have built it while they waited) and build what is still missing. The
    lock blocks; while it waits, one line on stderr names the folder, so a job that seems stuck says
    why. The operating system drops the lock when its holder dies (even by SIGKILL), and the files
    themselves are written by :func:`save_atomic`, so a build cut off half-way is resumed by the next
    process rather than loaded. ``flock`` is advisory and local: on network file systems without
    lock support it may not exclude other machines, which then only repeat the work.
    """
    folder = check_writable(folder, what)
    fd = os.open(folder / BUILD_LOCK, os.O_RDWR | os.O_CREAT, _file_mode())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"gdl: waiting for another process that is building {what} in {str(folder)!r}",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _file_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give (0666 minus the umask); ``mkstemp`` uses 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_atomic(obj: Any, path: str | os.PathLike, version: str, meta: dict | None = None) -> None:
    """``torch.save(obj)`` to ``path`` atomically, then write its stamp (version, size, SHA-256, ``meta``).

    The stamp is written last, so a crash at any point leaves either no stamp or a stamp that does
    not match the file: :func:`file_is_valid` rejects both."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = _stamp_path(path)
    if stamp.exists():
        stamp.unlink()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    info = {"version": version, "size": path.stat().st_size, "sha256": _sha256(path), **(meta or {})}
    fd, tmp = tempfile.mkstemp(prefix=stamp.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=1)
    os.chmod(tmp, _file_mode())
    os.replace(tmp, stamp)


def file_is_valid(path: str | os.PathLike, version: str) -> tuple[bool, str]:
    """Whether ``path`` and its stamp exist and agree (version, size, SHA-256); the reason if not."""
    path = Path(path)
    stamp = _stamp_path(path)
    if not path.is_file():
        return False, f"{path.name} does not exist"
    if not stamp.is_file():
        return False, f"{path.name} has no stamp {stamp.name} (an interrupted or foreign write)"
    try:
        info = json.loads(stamp.read_text())
    except (OSError, ValueError) as e:
        return False, f"the stamp {stamp.name} is unreadable ({e})"
    if info.get("version") != version:
        return False, f"{path.name} has format version {info.get('version')!r}, expected {version!r}"
    size = path.stat().st_size
    if info.get("size") != size:
        return (
            False,
            f"{path.name} has {size} bytes, its stamp says {info.get('size')} (partial or altered file)",
        )
    if info.get("sha256") != _sha256(path):
        return False, f"the SHA-256 of {path.name} does not match its stamp (corrupt file)"
    return True, ""


def load_checked(path: str | os.PathLike, version: str) -> Any | None:
    """The object saved by :func:`save_atomic` (tensors, numbers, strings, lists and dicts only: loaded
    with ``weights_only=True``), or ``None`` when the file is missing, stale or corrupt."""
    ok, _ = file_is_valid(path, version)
    if not ok:
        return None
    return torch.load(path, weights_only=True)
