"""A context manager for torch's default dtype (never set globally at import)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["default_dtype"]


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Switch ``torch``'s default dtype inside a ``with`` block and restore it afterwards.

    e3nn builds Wigner-D matrices and spherical-harmonic constants in the default dtype, so float64
    equivariance checks must run under ``with default_dtype(torch.float64):``.
    """
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)
