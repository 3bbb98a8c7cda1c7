"""Symmetry strategies: objects that make any model exactly, approximately, partially or not at all
equivariant (one per file), all following :class:`SymmetryStrategy`."""

from .base import Exact, SymmetryStrategy, symmetry_report

__all__ = ["Exact", "SymmetryStrategy", "symmetry_report"]
