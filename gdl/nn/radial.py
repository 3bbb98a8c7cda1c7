r"""Radial bases and smooth cutoffs of edge lengths, shared by all routes.

A radial embedding of a distance :math:`d` is ``basis(d) * cutoff(d)``: a vector of smooth
functions that goes to zero (with its derivatives) at the cutoff radius, so that neighbours entering
or leaving the radius do not make the model jump.

* :class:`GaussianBasis` — SchNet: :math:`e_k(d) = \exp(-\gamma (d - \mu_k)^2)`, centres evenly spaced.
* :class:`BesselBasis` — DimeNet/NequIP: :math:`e_n(d) = \sqrt{2/c}\, \sin(n \pi d / c) / d`,
  written with ``sinc`` so that it is finite (no NaN) at :math:`d = 0`.
* :class:`CosineCutoff` — :math:`\tfrac12 (\cos(\pi d / c) + 1)` for :math:`d < c`, else 0.
* :class:`PolynomialCutoff` — DimeNet's envelope of order ``p``: 1 at 0, zero with ``p`` derivatives at ``c``.
* :class:`RadialEmbedding` — a basis times a cutoff.
* :func:`node_pairs` — the unordered node pairs of the edges: what depends only on an edge's length
  (basis, cutoff, radial MLPs) is computed once for both directions of an edge.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "BesselBasis",
    "CosineCutoff",
    "GaussianBasis",
    "PolynomialCutoff",
    "RadialEmbedding",
    "node_pairs",
    "symmetric_pair_nodes",
]


class GaussianBasis(nn.Module):
    r"""Gaussian radial basis (SchNet, Schütt et al. 2017).

    Far from its centre a Gaussian falls below the smallest normal float (``1.2e-38`` in float32:
    :math:`\gamma (d - \mu_k)^2 > 87.3`); with SchNet's 50 Gaussians on ``[0, 5]`` about 4% of the
    values of a QM9 batch are then subnormal numbers, which many CPUs multiply tens of times more
    slowly than normal ones (in this basis, the filter network's products and their gradients).
    With ``exact_zero_tails`` (default) those values are exact zeros instead: the change is below the
    smallest normal float (far below float tolerance), and no global flush-to-zero setting is needed.

    Args:
        num_basis: number of Gaussians. Default ``16``.
        cutoff: the last centre. Default ``5.0``.
        start: the first centre. Default ``0.0``.
        exact_zero_tails: return 0 where :math:`e_k(d)` would be below the smallest normal number of
            the dtype (``torch.finfo(dtype).tiny``). Default ``True``.

    Shapes:
        ``[E] -> [E, num_basis]``
    """

    def __init__(
        self, num_basis: int = 16, cutoff: float = 5.0, start: float = 0.0, exact_zero_tails: bool = True
    ):
        super().__init__()
        if num_basis < 1 or cutoff <= start:
            raise ValueError(f"need num_basis >= 1 and cutoff > start, got {num_basis}, {cutoff}, {start}")
        self.num_basis, self.cutoff, self.start = num_basis, float(cutoff), float(start)
        self.register_buffer("centers", torch.linspace(start, cutoff, num_basis), persistent=False)
        spacing = (cutoff - start) / max(num_basis - 1, 1)
        self.gamma = 0.5 / spacing**2
        self.exact_zero_tails = bool(exact_zero_tails)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        a = self.gamma * (d.unsqueeze(-1) - self.centers.to(d.dtype)) ** 2
        if self.exact_zero_tails:
            # exp(-inf) = 0 exactly, and its gradient is 0: no subnormal result in either pass
            a = torch.where(a < -math.log(torch.finfo(d.dtype).tiny), a, math.inf)
        return torch.exp(-a)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_basis={self.num_basis}, cutoff={self.cutoff}, start={self.start}"
            + ("" if self.exact_zero_tails else ", exact_zero_tails=False")
            + ")"
        )


class BesselBasis(nn.Module):
    r"""Spherical Bessel basis of order 0 (DimeNet, Gasteiger et al. 2020; NequIP).

    .. math::
        e_n(d) = \sqrt{2/c}\; \frac{\sin(n \pi d / c)}{d}, \qquad n = 1 \dots N

    Args:
        num_basis: number of functions ``N``. Default ``8``.
        cutoff: radius ``c``. Default ``5.0``.
        trainable: learn the frequencies :math:`n\pi/c` (NequIP does). Default ``False``.

    Shapes:
        ``[E] -> [E, num_basis]``; finite at ``d = 0`` (its limit :math:`\sqrt{2/c}\, n\pi/c`).
    """

    def __init__(self, num_basis: int = 8, cutoff: float = 5.0, trainable: bool = False):
        super().__init__()
        if num_basis < 1 or cutoff <= 0:
            raise ValueError(f"need num_basis >= 1 and cutoff > 0, got {num_basis}, {cutoff}")
        self.num_basis, self.cutoff, self.trainable = num_basis, float(cutoff), trainable
        freq = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi / cutoff
        if trainable:
            self.freq = nn.Parameter(freq)
        else:
            self.register_buffer("freq", freq, persistent=False)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        w = self.freq.to(d.dtype)
        # sin(w d) / d = w * sinc(w d / pi), finite at d = 0
        return self.prefactor * w * torch.sinc(d.unsqueeze(-1) * w / math.pi)

    def __repr__(self) -> str:
        name = self.__class__.__name__
        return f"{name}(num_basis={self.num_basis}, cutoff={self.cutoff}, trainable={self.trainable})"


class CosineCutoff(nn.Module):
    r"""Cosine cutoff :math:`\tfrac12(\cos(\pi d/c) + 1)` for :math:`d < c`, 0 beyond (SchNet).

    Args:
        cutoff: radius ``c``. Default ``5.0``.
    """

    def __init__(self, cutoff: float = 5.0):
        super().__init__()
        if cutoff <= 0:
            raise ValueError(f"cutoff must be > 0, got {cutoff}")
        self.cutoff = float(cutoff)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.cos(d * (math.pi / self.cutoff)) + 1.0) * (d < self.cutoff).to(d.dtype)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(cutoff={self.cutoff})"


class PolynomialCutoff(nn.Module):
    r"""Polynomial envelope of DimeNet (Gasteiger et al. 2020), used by NequIP: with :math:`x = d/c`,

    .. math::
        u(x) = 1 - \tfrac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \tfrac{p(p+1)}{2} x^{p+2}

    for :math:`x < 1` and 0 beyond: equal to 1 at 0 and vanishing smoothly at ``c``.

    Args:
        cutoff: radius ``c``. Default ``5.0``.
        p: order. Default ``6``.
    """

    def __init__(self, cutoff: float = 5.0, p: int = 6):
        super().__init__()
        if cutoff <= 0 or p < 1:
            raise ValueError(f"need cutoff > 0 and p >= 1, got {cutoff}, {p}")
        self.cutoff, self.p = float(cutoff), int(p)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = d / self.cutoff
        out = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        return out * (x < 1.0).to(d.dtype)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(cutoff={self.cutoff}, p={self.p})"


class RadialEmbedding(nn.Module):
    r"""A radial basis multiplied by a smooth cutoff: ``basis(d) * cutoff(d)[:, None]``.

    Args:
        basis: e.g. :class:`BesselBasis` or :class:`GaussianBasis`.
        cutoff: e.g. :class:`PolynomialCutoff` or :class:`CosineCutoff`; ``None`` for no cutoff.

    Shapes:
        ``[E] -> [E, basis.num_basis]``
    """

    def __init__(self, basis: nn.Module, cutoff: nn.Module | None = None):
        super().__init__()
        self.basis, self.cutoff_fn = basis, cutoff
        self.num_basis = int(basis.num_basis)

    @property
    def out_dim(self) -> int:
        return self.num_basis

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        e = self.basis(d)
        if self.cutoff_fn is not None:
            e = e * self.cutoff_fn(d).unsqueeze(-1)
        return e


def symmetric_pair_nodes(
    edge_index: torch.Tensor, first: torch.Tensor | None, pair_index: torch.Tensor | None
) -> torch.Tensor | None:
    """``[2, P]``: the nodes ``(a, b)`` of every pair of :func:`node_pairs` when each pair holds
    exactly the two edges ``b -> a`` and ``a -> b`` (a symmetric graph without duplicate edges),
    else ``None``."""
    if first is None or pair_index is None or edge_index.shape[1] != 2 * first.shape[0]:
        return None
    counts = torch.bincount(pair_index, minlength=first.shape[0])
    nodes = edge_index[:, first].flip(0)  # (target a, source b) of the first edge of each pair
    # the two edges of a pair are opposite: their sources are a and b (not the same node twice)
    sources = torch.zeros_like(counts).index_add_(0, pair_index, edge_index[0])
    if (
        bool((counts != 2).any())
        or bool((nodes[0] == nodes[1]).any())
        or bool((sources != nodes.sum(0)).any())
    ):
        return None
    return nodes


def node_pairs(
    edge_index: torch.Tensor, num_nodes: int, symmetric_lengths: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(first [P], pair_index [E])``: for the unordered node pairs of the edges, one edge of each
    (``first``) and the pair of every edge, so that what depends only on an edge's length is computed
    once per pair; ``(None, None)`` when it would not save anything (no pair has two edges), when the
    lengths are not a function of the pair (given ``edge_vec``, e.g. periodic images:
    ``symmetric_lengths=False``) and under ``torch.compile`` (data-dependent sizes).

    The two directions ``pos[j] - pos[i]`` and ``pos[i] - pos[j]`` are exact negations, so the
    lengths, and everything computed from them, are bit-identical."""
    if not symmetric_lengths or torch.compiler.is_compiling() or edge_index.shape[1] == 0:
        return None, None
    j, i = edge_index[0], edge_index[1]
    key = torch.minimum(i, j) * num_nodes + torch.maximum(i, j)
    pairs, pair_index = torch.unique(key, return_inverse=True)
    if pairs.shape[0] == key.shape[0]:
        return None, None
    arange = torch.arange(key.shape[0], device=key.device)
    first = torch.full_like(pairs, key.shape[0]).scatter_reduce_(0, pair_index, arange, "amin")
    return first, pair_index
