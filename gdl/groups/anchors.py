r"""Anchor sets for regular-representation layers: group elements of :math:`SO(3)` or orientations
on :math:`S^2 = SO(3)/SO(2)` on which features ``f [N, A, C]`` live.

A layer sees anchors as a tensor: rotations ``R [A, 3, 3]`` (``space = "so3"``) or unit vectors
``o [A, 3]`` (``space = "sphere"``). An :class:`AnchorSet` is the object a model calls **once per
forward pass** to get that tensor, and passes to every layer and readout, so that all of them index
features by the same anchors:

=============================  ======  ==========  ====================================================
provider                       space   redrawn?    equivariance
=============================  ======  ==========  ====================================================
:class:`GroupAnchors`          so3     no          exact for the finite group (24 octahedral, 60 icosa.)
:class:`SuperFibonacciAnchors` so3     no          approximate; low-discrepancy set of any size
:class:`RandomAnchors`         so3     no          approximate; one seeded Haar sample
:class:`FixedAnchors`          so3     no          any given rotations (exact if they form a group)
:class:`HaarAnchors`           so3     every call  in distribution (seeded generator it owns)
:class:`SphereAnchors`         sphere  no          exact for ``group`` when built as an orbit
:class:`UniformSphereAnchors`  sphere  every call  in distribution
=============================  ======  ==========  ====================================================

How a rotation acts (conventions of :mod:`gdl.groups.so3`, ``x' = g x``). Features are invariant
functions of (point, anchor) pairs, e.g. :math:`f(i, a) = \phi(R_a^\top v_i)`. Rotating the input by
:math:`g` gives :math:`\phi(R_a^\top g v_i) = \phi((g^\top R_a)^\top v_i)`, so when the anchor set is
closed under :math:`R \mapsto g^\top R` the features are *permuted*:
:math:`f(g\cdot x)[:, a] = f(x)[:, \sigma_g(a)]` with :math:`R_{\sigma_g(a)} = g^\top R_a`
(:func:`anchor_permutation`). Sphere anchors: :math:`o_{\sigma_g(a)} = g^\top o_a`.

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
Redrawn providers are checked on one representative draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..keys import change_of_basis_2e
from .finite import cayley_table, finite_group, icosahedral, match_elements
from .so3 import as_generator, check_rotations, haar, quaternion_to_matrix, wigner_D
from .sphere import fibonacci_sphere, icosahedron_vertices, orbit, random_sphere

__all__ = [
    "AnchorSet",
    "FixedAnchors",
    "GroupAnchors",
    "HaarAnchors",
    "RandomAnchors",
    "SphereAnchors",
    "SuperFibonacciAnchors",
    "UniformSphereAnchors",
    "anchor_basis",
    "anchor_bias",
    "anchor_permutation",
    "anchor_rank",
    "anchor_space",
    "check_anchors",
    "fourier_condition",
    "fourier_weights",
    "frame_components",
    "relative_rotations",
    "sphere_components",
    "super_fibonacci",
]

#: Super-Fibonacci constants (Alexa 2022): sqrt(2) and the real root of psi^4 = psi + 4.
_SF_PHI = math.sqrt(2.0)
_SF_PSI = 1.533751168755204288118041


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def anchor_space(anchors: torch.Tensor) -> str:
    """``"so3"`` for ``[A, 3, 3]`` rotation stacks, ``"sphere"`` for ``[A, 3]`` unit vectors."""
    if anchors.dim() == 3 and anchors.shape[-2:] == (3, 3):
        return "so3"
    if anchors.dim() == 2 and anchors.shape[-1] == 3:
        return "sphere"
    raise ValueError(
        f"anchors must be rotations [A, 3, 3] or unit vectors [A, 3], got shape {tuple(anchors.shape)}"
    )


def check_anchors(
    anchors: torch.Tensor,
    space: str | None = None,
    name: str = "anchors",
    atol: float = 1e-5,
    proper: bool = True,
) -> torch.Tensor:
    """Validate anchors and return them; raise a clear error for an empty set, NaN, non-rotations
    (``space="so3"``: orthogonal, and ``det = +1`` when ``proper``) or non-unit vectors (``"sphere"``).

    ``space`` defaults to the one the shape implies (:func:`anchor_space`)."""
    if not isinstance(anchors, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(anchors).__name__}")
    found = anchor_space(anchors)
    if space is not None and found != space:
        want = "[A, 3, 3] rotations" if space == "so3" else "[A, 3] unit vectors"
        raise ValueError(f"{name} must be {want} for {space} anchors, got shape {tuple(anchors.shape)}")
    if anchors.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one anchor is required")
    if not anchors.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {anchors.dtype}")
    if found == "so3":
        return check_rotations(anchors, name, atol=atol, proper=proper)
    if not bool(torch.isfinite(anchors).all()):
        raise ValueError(f"{name} contain NaN or inf")
    err = (anchors.norm(dim=-1) - 1).abs()
    if bool((err > atol).any()):
        bad = (err > atol).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"{name} must be unit vectors within atol={atol}; entries {bad} have norms "
            f"{[round(float(n), 6) for n in anchors[bad].norm(dim=-1)]}"
        )
    return anchors


# ---------------------------------------------------------------------------------------------
# invariants of (vector, anchor) and (anchor, anchor) pairs
# ---------------------------------------------------------------------------------------------
def frame_components(vec: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    r"""Components of vectors in each anchor's frame, :math:`R_a^\top v`: ``[..., 3], [A, 3, 3] ->
    [..., A, 3]``. Invariant under :math:`(v, R_a) \mapsto (g v, g R_a)`."""
    return torch.einsum("aji,...j->...ai", rotations.to(vec.dtype), vec)


def sphere_components(vec: torch.Tensor, orientations: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    r"""The invariants of a vector and each orientation, :math:`[o_a \cdot v,\ \lVert v - (o_a\cdot v)
    o_a \rVert]`: ``[..., 3], [A, 3] -> [..., A, 2]``. The norm is :math:`\sqrt{|v_\perp|^2 + \epsilon}`
    so that its gradient stays finite when :math:`v \parallel o_a`."""
    par = vec @ orientations.to(vec.dtype).T  # [..., A]
    perp2 = (vec * vec).sum(-1, keepdim=True) - par * par
    return torch.stack([par, torch.sqrt(perp2.clamp_min(0) + eps)], dim=-1)


def relative_rotations(anchors_out: torch.Tensor, anchors_in: torch.Tensor) -> torch.Tensor:
    r""":math:`R_a^\top R_b` for every pair: ``[A, 3, 3], [B, 3, 3] -> [A, B, 3, 3]``."""
    return torch.einsum("aki,bkj->abij", anchors_out, anchors_in.to(anchors_out.dtype))


# ---------------------------------------------------------------------------------------------
# Fourier bases and what an anchor set can resolve
# ---------------------------------------------------------------------------------------------
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


def anchor_permutation(g: torch.Tensor, anchors: torch.Tensor, atol: float = 1e-6) -> torch.Tensor:
    r"""The permutation :math:`\sigma_g` of a closed anchor set under the rotation ``g [3, 3]``:
    ``anchors[σ[a]] = gᵀ anchors[a]``, so that features satisfy ``f(g·x)[:, a] = f(x)[:, σ[a]]``.
    Raises if the set is not closed under ``g``."""
    g = g.to(anchors.dtype)
    if anchor_space(anchors) == "so3":
        return match_elements(g.T @ anchors, anchors, atol)
    moved = anchors @ g  # rows: (gᵀ o_a)ᵀ
    err, idx = torch.cdist(moved, anchors).min(dim=-1)
    if bool((err > atol).any()):
        raise ValueError(f"{int((err > atol).sum())} anchors leave the set under this rotation (atol={atol})")
    return idx


def super_fibonacci(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` rotations ``[n, 3, 3]`` of a super-Fibonacci spiral (Alexa 2022, "Super-Fibonacci Spirals:
    Fast, Low-Discrepancy Sampling of SO(3)", CVPR): deterministic, near-uniform for every ``n``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    s = torch.arange(n, dtype=torch.float64) + 0.5
    r, rc = torch.sqrt(s / n), torch.sqrt(1 - s / n)
    alpha, beta = 2 * math.pi * s / _SF_PHI, 2 * math.pi * s / _SF_PSI
    q = torch.stack(
        [r * torch.sin(alpha), r * torch.cos(alpha), rc * torch.sin(beta), rc * torch.cos(beta)], -1
    )
    return quaternion_to_matrix(q).to(dtype)


# ---------------------------------------------------------------------------------------------
# providers
# ---------------------------------------------------------------------------------------------
class AnchorSet:
    """Base class of anchor providers: ``anchors(dtype, device)`` returns the tensor a model passes
    to its layers for one forward pass.

    Attributes (class-level defaults):
        space: ``"so3"`` (rotations ``[A, 3, 3]``) or ``"sphere"`` (unit vectors ``[A, 3]``).
        redraws: ``True`` when every call returns new anchors (nothing derived from them may be cached).
        group: the finite group ``[G, 3, 3]`` the anchors are closed under (exact equivariance), or ``None``.

    A provider that learns its anchors (e.g. rotations up to a learned angle) may be an
    ``nn.Module`` implementing the same interface; models register it as a submodule.
    """

    space: str = "so3"
    redraws: bool = False
    group: torch.Tensor | None = None

    @property
    def num_anchors(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def reference(self) -> torch.Tensor:
        """A float64 CPU sample of the anchors for checks (fixed sets: the anchors themselves)."""
        return self(torch.float64, "cpu")

    def bias(self, irrep: str) -> float:
        """:func:`anchor_bias` of :meth:`reference`."""
        return anchor_bias(self.reference(), irrep)

    def resolves(self, irrep: str) -> bool:
        """Whether readouts of type ``irrep`` are well-posed on these anchors (module docstring)."""
        l, _ = _parse_irrep(irrep)
        return l == 0 or anchor_rank(self.reference(), irrep) == 2 * l + 1

    def check_degree(self, irrep: str, what: str = "a readout") -> None:
        """Raise ``ValueError`` explaining why ``irrep`` cannot be resolved, if it cannot."""
        if self.resolves(irrep):
            return
        l, _ = _parse_irrep(irrep)
        rank = anchor_rank(self.reference(), irrep)
        raise ValueError(
            f"{self!r} cannot resolve {what} of type {irrep}: its centred degree-{l} Fourier basis spans "
            f"only {rank} of the {2 * l + 1} components (some degree-{l} direction looks the same from every "
            f"anchor, so the readout could not produce it equivariantly); use more or better-spread anchors, "
            f"e.g. the icosahedral group (resolves l <= 5) or >= {2 * l + 2} random ones"
        )


class FixedAnchors(AnchorSet):
    """A fixed set of rotations ``[A, 3, 3]`` (stored in float64, cast on each call).

    Args:
        rotations: the anchors; validated (non-empty, finite, orthogonal, ``det = +1``).
        allow_reflections: accept improper elements (``det = -1``), e.g. the cube group O_h; layers
            and readouts then also respect reflections. Default ``False``.
    """

    def __init__(self, rotations: torch.Tensor, allow_reflections: bool = False):
        R = torch.as_tensor(rotations)
        check_anchors(
            R.to(torch.float64) if R.is_floating_point() else R, "so3", proper=not allow_reflections
        )
        self._anchors = R.detach().to(torch.float64).cpu().clone()
        self.allow_reflections = bool(allow_reflections)

    @property
    def num_anchors(self) -> int:
        return int(self._anchors.shape[0])

    def __call__(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        return self._anchors.to(dtype=dtype or torch.get_default_dtype(), device=device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_anchors={self.num_anchors})"


class GroupAnchors(FixedAnchors):
    """The elements of a finite subgroup of SO(3) as anchors: layers are exactly equivariant to it.

    Args:
        group: ``[G, 3, 3]`` elements, e.g. :func:`gdl.groups.octahedral` (24) or
            :func:`gdl.groups.icosahedral` (60); closure under products is verified.
        allow_reflections: accept a subgroup of O(3) such as :func:`gdl.groups.cube_group`. Default ``False``.
        name: shown in ``repr``. Default ``None`` (the order).
    """

    def __init__(self, group: torch.Tensor, allow_reflections: bool = False, name: str | None = None):
        super().__init__(group, allow_reflections=allow_reflections)
        try:
            cayley_table(self._anchors)
        except ValueError as e:
            raise ValueError(
                f"GroupAnchors: the {self.num_anchors} given matrices are not closed under products "
                f"({e}); use FixedAnchors for a set that is not a group"
            ) from None
        self.group = self._anchors
        self.name = name

    @classmethod
    def named(cls, name: str) -> GroupAnchors:
        """A group by name (:func:`gdl.groups.finite_group`): ``"octahedral"``, ``"icosahedral"``,
        ``"tetrahedral"``, ``"cube"`` (with reflections), ``"C<n>"``, ``"D<n>"``."""
        return cls(finite_group(name), allow_reflections=(name == "cube"), name=name)

    def __repr__(self) -> str:
        what = f"{self.name!r}, " if self.name else ""
        return f"{type(self).__name__}({what}order={self.num_anchors})"


class SuperFibonacciAnchors(FixedAnchors):
    """``n`` deterministic, near-uniform rotations (:func:`super_fibonacci`). Default ``n`` required."""

    def __init__(self, n: int):
        super().__init__(super_fibonacci(n))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_anchors={self.num_anchors})"


class RandomAnchors(FixedAnchors):
    """``n`` Haar-random rotations drawn once from ``seed`` and then fixed.

    Args:
        n: number of anchors.
        seed: seed of the draw. Default ``0``.
    """

    def __init__(self, n: int, seed: int = 0):
        if n < 1:
            raise ValueError(f"RandomAnchors needs n >= 1, got {n}")
        super().__init__(haar(n, seed, dtype=torch.float64))
        self.seed = seed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_anchors={self.num_anchors}, seed={self.seed})"


class _RedrawnAnchors(AnchorSet):
    """``n`` random anchors redrawn at every call from a seeded generator owned by the set: the
    shared mechanics of :class:`HaarAnchors` (rotations) and :class:`UniformSphereAnchors`
    (orientations). Subclasses set ``space`` and ``_draw(n, generator_or_seed, dtype=...)``."""

    redraws = True
    _draw: Callable[..., torch.Tensor]

    def __init__(self, n: int, seed: int = 0):
        if n < 1:
            raise ValueError(f"{type(self).__name__} needs n >= 1, got {n}")
        self.n, self.seed = int(n), int(seed)
        self.generator = as_generator(self.seed)

    @property
    def num_anchors(self) -> int:
        return self.n

    def reset(self) -> None:
        """Reseed the generator: the next calls repeat the draws from the start."""
        self.generator.manual_seed(self.seed)

    @torch.compiler.disable
    def __call__(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        return self._draw(self.n, self.generator, dtype=torch.float64).to(
            dtype=dtype or torch.get_default_dtype(), device=device
        )

    def reference(self) -> torch.Tensor:
        return self._draw(self.n, self.seed, dtype=torch.float64)  # does not advance the generator

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_anchors={self.n}, seed={self.seed}, redrawn per call)"


class HaarAnchors(_RedrawnAnchors):
    """``n`` Haar-random rotations redrawn at **every call** from a seeded generator owned by the
    provider: layers are equivariant in distribution only (average predictions over draws to reduce
    the error). Calls in eval mode redraw too; :meth:`reset` restarts the sequence, so runs are
    reproducible. Under ``torch.compile`` the draw runs eagerly (a graph break).

    Args:
        n: number of anchors per draw.
        seed: seed of the generator. Default ``0``.
    """

    _draw = staticmethod(haar)


class SphereAnchors(AnchorSet):
    """A fixed set of orientations ``[A, 3]`` on the sphere (position–orientation space).

    Build with the constructors: :meth:`icosahedron` (12 vertices, exact for the icosahedral group),
    :meth:`orbit` (the orbit of a point under a finite group, exact for that group),
    :meth:`fibonacci` (any ``n``, near-uniform) or :meth:`random` (seeded).

    Args:
        points: unit vectors ``[A, 3]``; validated.
        group: the finite group the points are closed under, if any (verified). Default ``None``.
        name: shown in ``repr``. Default ``None``.
    """

    space = "sphere"

    def __init__(self, points: torch.Tensor, group: torch.Tensor | None = None, name: str | None = None):
        o = torch.as_tensor(points)
        check_anchors(o.to(torch.float64) if o.is_floating_point() else o, "sphere")
        self._anchors = o.detach().to(torch.float64).cpu().clone()
        if group is not None:
            for g in group.to(torch.float64):
                anchor_permutation(g, self._anchors)  # raises if the set is not closed
            self.group = group.to(torch.float64)
        self.name = name

    @classmethod
    def icosahedron(cls) -> SphereAnchors:
        """The 12 icosahedron vertices, closed under the icosahedral group."""
        return cls(icosahedron_vertices(), group=icosahedral(), name="icosahedron")

    @classmethod
    def orbit(cls, group: torch.Tensor, point: torch.Tensor | tuple[float, float, float]) -> SphereAnchors:
        """The orbit of ``point`` under ``group`` (e.g. a generic point under the 60 icosahedral
        rotations)."""
        G = torch.as_tensor(group, dtype=torch.float64)
        return cls(orbit(G, torch.as_tensor(point, dtype=torch.float64)), group=G, name="orbit")

    @classmethod
    def fibonacci(cls, n: int) -> SphereAnchors:
        """``n`` points of a Fibonacci spiral (:func:`gdl.groups.fibonacci_sphere`)."""
        return cls(fibonacci_sphere(n), name="fibonacci")

    @classmethod
    def random(cls, n: int, seed: int = 0) -> SphereAnchors:
        """``n`` uniform random points drawn once from ``seed``."""
        if n < 1:
            raise ValueError(f"need n >= 1, got {n}")
        return cls(random_sphere(n, seed), name=f"random(seed={seed})")

    @property
    def num_anchors(self) -> int:
        return int(self._anchors.shape[0])

    def __call__(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        return self._anchors.to(dtype=dtype or torch.get_default_dtype(), device=device)

    def __repr__(self) -> str:
        what = f"{self.name!r}, " if self.name else ""
        return f"{type(self).__name__}({what}num_anchors={self.num_anchors})"


class UniformSphereAnchors(_RedrawnAnchors):
    """``n`` uniform random orientations redrawn at every call from an owned, seeded generator
    (the sphere analogue of :class:`HaarAnchors`; also redraws in eval mode; :meth:`reset` restarts).

    Args:
        n: number of orientations per draw.
        seed: seed of the generator. Default ``0``.
    """

    space = "sphere"
    _draw = staticmethod(random_sphere)
