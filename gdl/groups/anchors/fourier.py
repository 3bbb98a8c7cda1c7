r"""Fourier analysis on anchor sets: the readout bases (:func:`anchor_basis`), what degrees a set
resolves (:func:`anchor_rank`, :func:`anchor_bias`) and the least-squares Fourier weights of the
readouts (:func:`fourier_weights`, :func:`fourier_condition`).

Which output degrees an anchor set can produce (:meth:`AnchorSet.resolves`). Readouts of degree
:math:`l \ge 1` are Fourier transforms on the anchors, :math:`y = \sum_a W_a u_a` of invariant
per-anchor coefficients :math:`u_a`, with weights built from :math:`B_l`, the Wigner matrix
:math:`D^l(R_a)` (so3) or the harmonic :math:`Y^l(o_a)` (sphere) (:func:`anchor_basis`): plain
quadrature :math:`W_a = B_l(a)/A`, or the least-squares transform of :func:`fourier_weights`, which
first removes the anchor mean of :math:`u` exactly. The mean must go: over Haar measure
:math:`\int D^l = 0`, but on a finite anchor set a signal that is equal at every anchor (an
isolated atom, whose :math:`l \ge 1` outputs must vanish) leaks into the output through
:math:`\frac1A \sum_a B_l(a)` (:func:`anchor_bias`: exactly 0 for a finite group that resolves
``l``, about :math:`2/\sqrt{A}` for random anchors).

The anchor set resolves degree ``l`` when the *centred* basis :math:`B_l(a) - \frac1A \sum_b B_l(b)`
spans all :math:`2l+1` components (:func:`anchor_rank`). It fails when some degree-``l`` direction
is seen identically from every anchor: cyclic groups at ``l = 1`` (their axis), dihedral at 2,
tetrahedral at 3, octahedral at 4, icosahedral at 6; one or two SO(3) anchors at every ``l``;
sphere sets with too few or too symmetric points (``A - 1 < 2l + 1``, or the 6 octahedron
vertices, which span only the 2 diagonal ``2e`` components).
"""

from __future__ import annotations

import math

import torch

from ...keys import change_of_basis_2e
from ..so3 import wigner_D
from .frames import anchor_space

__all__ = ["anchor_basis", "anchor_bias", "anchor_rank", "fourier_condition", "fourier_weights"]


def _parse_irrep(irrep: str) -> tuple[int, int]:
    s = str(irrep).strip().removeprefix("1x")
    if len(s) < 2 or not s[:-1].isdigit() or s[-1] not in "eo":
        raise ValueError(f"expected a single irrep such as '0e', '1o', '2e', got {irrep!r}")
    return int(s[:-1]), (1 if s[-1] == "e" else -1)


def anchor_basis(anchors: torch.Tensor, irrep: str) -> torch.Tensor:
    r"""The Fourier basis of a readout of type ``irrep`` at each anchor.

    * so3 anchors ``[A, 3, 3]``: the Wigner matrices :math:`D^{\text{irrep}}(R_a)` ``[A, 2l+1, 2l+1]``
      in e3nn's basis (parity included for improper anchors). ``0e``, ``1o`` and ``2e`` are written
      with tensor operations only (differentiable, ``torch.compile``-friendly, exact in float64:
      :math:`D^{1o}(R) = R` (e3nn 0.6 orders 1o as x, y, z) and :math:`D^{2e}(R)_{kl} =
      \mathrm{tr}(Q_k R Q_l R^\top)` with the ``2e`` basis :math:`Q`); other irreps call
      :func:`gdl.groups.wigner_D` (e3nn).
    * sphere anchors ``[A, 3]``: unit-norm harmonics ``[A, 2l+1, 1]`` — ``0e``: 1, ``1o``: :math:`o_a`,
      ``2e``: :math:`(o_a \otimes o_a)_0` in e3nn's ``2e`` basis, scaled to unit norm.
    """
    l, p = _parse_irrep(irrep)
    space = anchor_space(anchors)
    A, dtype, device = anchors.shape[0], anchors.dtype, anchors.device
    if l == 0 and p == 1:
        return torch.ones(A, 1, 1, dtype=dtype, device=device)
    if space == "sphere":
        if (l, p) == (1, -1):
            return anchors.unsqueeze(-1)
        if (l, p) == (2, 1):
            Q = change_of_basis_2e(dtype, device)
            y = torch.einsum("kij,ai,aj->ak", Q, anchors, anchors) * math.sqrt(1.5)
            return y.unsqueeze(-1)
        raise ValueError(f"sphere anchors give readouts of type 0e, 1o and 2e, not {irrep!r}")
    if (l, p) == (1, -1):
        return anchors
    if (l, p) == (2, 1):
        Q = change_of_basis_2e(dtype, device)
        return torch.einsum("kij,ajm,lmn,ain->akl", Q, anchors, Q, anchors)
    return wigner_D(f"{l}{'e' if p == 1 else 'o'}", anchors)


def anchor_bias(anchors: torch.Tensor, irrep: str) -> float:
    r"""The normalised norm of the anchor average of the readout basis, in ``[0, 1]``: 0 for a finite
    group without degree-``l`` invariants, about :math:`2/\sqrt{A}` for random sets, 1 when a
    direction is seen identically by every anchor (module docstring)."""
    B = anchor_basis(anchors.to(torch.float64), irrep)  # [A, d, k]
    mean = torch.linalg.matrix_norm(B.mean(0), ord=2)
    scale = torch.linalg.matrix_norm(B, ord=2).max()
    return float(mean / scale)


def anchor_rank(anchors: torch.Tensor, irrep: str, rtol: float = 1e-6) -> int:
    """Dimension of the span of the centred readout basis over the anchors (at most ``2l + 1``);
    singular values below ``rtol`` times the largest count as zero. ``0e`` has rank 1."""
    if _parse_irrep(irrep)[0] == 0:
        return 1
    B = anchor_basis(anchors.to(torch.float64), irrep)  # [A, d, k]
    B = B - B.mean(0)
    M = B.permute(1, 0, 2).reshape(B.shape[1], -1)
    return int(torch.linalg.matrix_rank(M, rtol=rtol))


def fourier_weights(
    anchors: torch.Tensor, irrep: str, fit_degrees: tuple[int, ...] = (1, 2), cutoff: float = 1e-6
) -> torch.Tensor:
    r"""Quadrature weights ``W [A, 2l+1, k]`` of the least-squares Fourier transform on the anchors:
    a readout :math:`y = \sum_a W_a u_a` of per-anchor coefficients ``u [A, k]`` returns the
    degree-``l`` Fourier component of :math:`u` (the integral :math:`\int B_l\, u`, see
    :func:`anchor_basis`).

    The anchor mean of :math:`u` is removed exactly, then :math:`u` is fitted by least squares with
    the basis functions of the degrees ``fit_degrees`` and ``l`` (matrix coefficients of
    :math:`D^{l'}` for so3 anchors, harmonics for sphere anchors), and the degree-``l``
    coefficients are read off. On random anchors this removes the aliasing of degrees ``0..2`` into
    the output, the dominant equivariance error of plain quadrature :math:`W_a = B_l(a)/A` (about 3x
    smaller errors with 60 random anchors, ``benchmarks/README.md``).

    On a finite group the fit and plain quadrature are related by a fixed equivariant map,
    :math:`W_a = M_l\, B_l(a)/A`. Restricted to the group, :math:`D^l` splits into irreducible
    pieces :math:`\rho` (over :math:`\mathbb{C}`) of dimension :math:`d_\rho`, and :math:`M_l`
    multiplies each piece by :math:`d_\rho / \sum_{l'} (2l'+1)`, the sum over the fitted degrees
    :math:`l'` whose restriction contains :math:`\rho` (Schur orthogonality on the group). So the
    two agree, :math:`M_l = 1`, only when :math:`D^l` stays irreducible on the group and shares no
    piece with another fitted degree: the icosahedral group at ``1o`` and ``2e``, the octahedral
    and cube groups at ``1o``. They differ at ``2e`` on the octahedral and cube groups (the default
    anchors), where :math:`D^2 = E \oplus T_2` and the gains are 2/5 and 3/5, and on the
    tetrahedral group (:math:`T` shared by degrees 1 and 2: gain 3/8). Both transforms are exactly
    equivariant on the group; they are different functions, and a model trained with one is not a
    model trained with the other.

    The least-squares inverse is a *continuous* spectral filter of the Gram matrix
    :math:`G = \Phi^\top\Phi / A` of the basis scaled to unit mean square (orthonormal on an exact
    design): eigenvalues :math:`s \ge 2\tau` (``tau = cutoff``) are inverted exactly, those below
    :math:`\tau` dropped, and a smoothstep joins the two. A hard pseudo-inverse is discontinuous: a
    design next to a rank-deficient one (a finite group moved by 1e-6) has eigenvalues ~1e-12 that it
    would invert into weights of size 1e6 and an O(1) equivariance error. The filter is a matrix
    function of :math:`G`, so the weights transform with the anchors (:math:`\Phi` of rotated anchors
    is :math:`\Phi` times an orthogonal block-diagonal matrix, rows permuted for a closed set):
    readouts stay exactly equivariant for groups and equivariant in distribution for Haar anchors.
    The weights are computed without gradient with respect to the anchors (``eigh`` has no stable
    gradient at the degenerate spectra of exact designs).
    """
    l, _ = _parse_irrep(irrep)
    if l == 0:
        raise ValueError("fourier_weights is for degrees l >= 1; 0e readouts pool over anchors")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff}")
    anchors = anchors.detach()
    A = anchors.shape[0]
    degrees = sorted({d for d in fit_degrees if d >= 1} | {l})
    # basis blocks [A, 2d+1, k'] scaled to unit mean square per column; centred design [A, P]
    blocks, phi = _fit_design(anchors, irrep, fit_degrees)
    evals, evecs = torch.linalg.eigh(phi.T @ phi / A)  # [P], [P, P]
    ramp = ((evals / cutoff) - 1.0).clamp(0.0, 1.0)
    gain = ramp * ramp * (3.0 - 2.0 * ramp) / evals.clamp_min(cutoff)  # smoothstep / s
    solve = (evecs * gain) @ (evecs.T @ phi.T) / A  # [P, A]: filtered (Phi^T Phi)^-1 Phi^T
    start = sum(b[0].numel() for b in blocks[: degrees.index(l)])
    d, k = blocks[degrees.index(l)].shape[1:]
    # coefficient c of sqrt(2l+1) B_l  ->  integral of B_l u = c / sqrt(2l+1)
    return solve[start : start + d * k].T.reshape(A, d, k) / math.sqrt(2 * l + 1)


def _fit_design(anchors: torch.Tensor, irrep: str, fit_degrees: tuple[int, ...]) -> tuple[list, torch.Tensor]:
    """The basis blocks ``[A, 2d+1, k']`` of :func:`fourier_weights` (unit mean square) and the
    centred design matrix ``[A, P]``."""
    l, _ = _parse_irrep(irrep)
    names = {1: "1o", 2: "2e"}
    degrees = sorted({d for d in fit_degrees if d >= 1} | {l})
    blocks = [anchor_basis(anchors, irrep if d == l else names[d]) * math.sqrt(2 * d + 1) for d in degrees]
    phi = torch.cat([b.flatten(1) for b in blocks], dim=1)  # [A, P]
    return blocks, phi - phi.mean(dim=0)  # the anchor mean is removed exactly


def fourier_condition(
    anchors: torch.Tensor, irrep: str, fit_degrees: tuple[int, ...] = (1, 2), cutoff: float = 1e-6
) -> float:
    """Condition number of the least-squares fit behind :func:`fourier_weights`: the ratio of the
    largest to the smallest eigenvalue of its Gram matrix that the spectral filter keeps (those
    above ``cutoff``). 1 on an exact design whose degrees stay irreducible (icosahedral group),
    2.5 on the octahedral group, large near a rank-deficient set; it bounds how much rounding the
    weights amplify (tests use it for their float64 tolerances)."""
    _, phi = _fit_design(anchors.detach().to(torch.float64), irrep, fit_degrees)
    evals = torch.linalg.eigvalsh(phi.T @ phi / anchors.shape[0])
    kept = evals[evals > cutoff]
    return float(kept.max() / kept.min()) if kept.numel() else math.inf
