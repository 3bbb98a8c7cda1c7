"""Optional dependencies: which extra of ``pip install gdl[...]`` brings which package.

The core install (torch, torch_geometric, torch-cluster, e3nn, numpy, scipy) serves ``gdl.nn``,
``gdl.models``, ``gdl.symmetry``, ``gdl.groups``, ``gdl.testing`` and the synthetic datasets.
Everything else is an extra, and a module that needs one calls :func:`require` before importing
it, so that a missing extra stops with a message naming it instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtraError", "missing_extra", "require"]

#: extra -> the packages (import names) it provides
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("lightning", "hydra", "omegaconf", "yaml"),
    "analysis": ("pandas", "matplotlib", "yaml"),
    "qm9": ("qm9pack", "pandas"),
    "galaxy": ("h5py", "colossus", "camb"),
    "slurm": ("hydra_plugins.hydra_submitit_launcher",),
    "peers": ("egnn_pytorch", "se3_transformer_pytorch", "nequip"),
    "dev": ("pytest", "hypothesis", "ruff"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or sys.modules[module] = None
        return False


def missing_extra(extra: str, what: str, missing: tuple[str, ...]) -> MissingExtraError:
    """The error for ``missing`` packages of ``extra`` that ``what`` needs (raise it)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; gdl's extras: {sorted(EXTRAS)}")
    names = ", ".join(repr(m.split(".")[0]) for m in missing)
    return MissingExtraError(
        f"{what} needs {names}, which {'is' if len(missing) == 1 else 'are'} not installed: it comes "
        f"with gdl's `{extra}` extra — pip install 'gdl[{extra}]' (from a checkout: "
        f"pip install -e '.[{extra}]'; `make install` installs every extra)"
    )


def require(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` unless the packages of ``extra`` (or ``modules``) are
    installed; ``what`` names the feature that needs them (e.g. ``"gdl.training"``)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; gdl's extras: {sorted(EXTRAS)}")
    missing = tuple(m for m in (modules or EXTRAS[extra]) if not _installed(m))
    if missing:
        raise missing_extra(extra, what, missing)
