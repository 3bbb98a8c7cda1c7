r"""Anchor providers for regular-representation layers: group elements of :math:`SO(3)` or orientations
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

Which degrees a provider resolves: :meth:`AnchorSet.resolves` (:mod:`gdl.groups.anchors.fourier`);
redrawn providers are checked on one representative draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..finite import cayley_table, finite_group, icosahedral
from ..so3 import as_generator, haar, quaternion_to_matrix
from ..sphere import fibonacci_sphere, icosahedron_vertices, orbit, random_sphere
from .fourier import _parse_irrep, anchor_bias, anchor_rank
from .frames import anchor_permutation, check_anchors

__all__ = [
    "AnchorSet",
    "FixedAnchors",
    "GroupAnchors",
    "HaarAnchors",
    "RandomAnchors",
    "SphereAnchors",
    "SuperFibonacciAnchors",
    "UniformSphereAnchors",
    "super_fibonacci",
]

#: Super-Fibonacci constants (Alexa 2022): sqrt(2) and the real root of psi^4 = psi + 4.
_SF_PHI = math.sqrt(2.0)
_SF_PSI = 1.533751168755204288118041


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
