r"""Tolerances for float64 comparisons that follow the conditioning of the computation.

A float64 result carries rounding errors of order :math:`\epsilon = 2.2\times10^{-16}` per
operation, amplified by the condition number of the computation and accumulated over the terms of
its sums. The error is not the same on every CPU: BLAS libraries (OpenBLAS, MKL; AMD and Intel
kernels) block, vectorise and order their sums differently. A test that asserts what one machine
happens to reproduce (``atol=1e-12, rtol=0`` after a least-squares solve) fails on another, so
tight comparisons in gdl's tests name the three ingredients of a bound instead:

.. math::
    \text{atol} = u \cdot \epsilon \cdot \kappa \cdot n \cdot s

with :math:`s` the size of the compared values, :math:`\kappa` the condition number (1 for
products of orthogonal matrices and permutations; the ratio of the extreme retained eigenvalues
of the Gram matrix after a least-squares fit), :math:`n` the number of rounded terms that
accumulate (the length of the longest sum or chain of products), and :math:`u` a safety factor
for the spread between summation orders (16). This is the worst-case linear bound times a small
margin, not a fit to one machine's error.

Comparisons that are *exact by construction* (the same operations on the same numbers, a copy, a
permutation) may use ``atol=0``; anything else uses :func:`float64_atol`.
"""

from __future__ import annotations

import torch

__all__ = ["EPS64", "float64_atol"]

#: unit roundoff of float64 (machine epsilon), 2.22e-16
EPS64: float = float(torch.finfo(torch.float64).eps)


def float64_atol(scale: float = 1.0, *, cond: float = 1.0, terms: int = 1, safety: float = 16.0) -> float:
    """``safety * EPS64 * cond * terms * scale``: the absolute tolerance of a float64 result of size
    ``scale`` from a computation of condition number ``cond`` whose longest sum or chain has
    ``terms`` rounded terms (module docstring).

    Args:
        scale: the size of the compared values (e.g. their largest magnitude). Default ``1.0``.
        cond: the condition number of the computation. Default ``1.0``.
        terms: rounded terms that accumulate. Default ``1``.
        safety: margin for summation orders of different BLAS builds. Default ``16``.
    """
    for name, value in (("scale", scale), ("cond", cond), ("terms", terms), ("safety", safety)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    return float(safety * EPS64 * cond * terms * scale)
