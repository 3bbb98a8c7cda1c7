r"""Readouts that turn node features into typed targets (``0e``, ``1o``, ``2e``) at graph and node level.

A readout is built for a tuple of :class:`gdl.keys.Target` and is *injected* into a model (models
take a readout class or factory), so that what a model can predict is decided by the object it is
given, not by a flag inside ``forward``:

* :class:`InvariantReadout` — ``0e`` only: an MLP on invariant node features, pooled per graph.
* :class:`ScalarizationReadout` — ``0e``, ``1o`` and ``2e`` from invariant features and edge vectors
  (the scalarization route, README.md): invariant edge weights times relative vectors,

  .. math::
      y^{0e}_i = \mathrm{MLP}(h_i), \qquad
      y^{1o}_i = \sum_{j} w_{ij}\, r_{ij} + \sum_v u_{iv}\, v_{iv}, \qquad
      y^{2e}_i = \sum_{j} w'_{ij}\, \big(r_{ij} \otimes r_{ij} - \tfrac13 \lVert r_{ij}\rVert^2 I\big)

  with :math:`r_{ij} = x_j - x_i`, weights :math:`w_{ij} = \mathrm{MLP}(h_i, h_j, e(\lVert r_{ij}\rVert))
  \cdot c(\lVert r_{ij}\rVert)` (a radial basis :math:`e` and a smooth cutoff :math:`c`), optional
  equivariant node vectors :math:`v_{iv}` (e.g. EGNN's displacement :math:`x^L_i - x^0_i` or input
  velocities) with invariant gates :math:`u_{iv} = \mathrm{Linear}(h_i)`, and the traceless
  symmetric tensor in e3nn's 5-component ``2e`` basis (:func:`traceless_outer`). Graph-level targets
  pool node-level values (``sum`` or ``mean``). Equivariant under :math:`O(3)` and translations when
  ``h`` is invariant.
* :class:`PlainReadout` — the no-symmetry baseline: every component of every target is a raw output
  of an MLP on ``h`` (any irreps), so nothing about it is equivariant.

All readouts share one constructor signature
``(targets, in_channels, hidden_channels=None, cutoff=5.0, reduce="sum", vector_channels=0)`` and one
``forward(h, edge_index, edge_vec, batch=None, num_graphs=1, node_vec=None)``; a readout raises at
construction when a target needs an irrep it cannot produce.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import ClassVar

import torch
from e3nn import o3
from torch import nn
from torch_geometric.utils import scatter

from ..keys import Target, TargetLike, as_targets
from .radial import CosineCutoff, GaussianBasis

__all__ = [
    "InvariantReadout",
    "PlainReadout",
    "Readout",
    "ReadoutFactory",
    "ScalarizationReadout",
    "safe_norm",
    "traceless_outer",
]

from .geometry import safe_norm  # noqa: E402  (re-exported: gdl.nn.safe_norm)

_S2, _S6 = math.sqrt(2.0), math.sqrt(6.0)


def traceless_outer(r: torch.Tensor) -> torch.Tensor:
    r"""The ``2e`` part of :math:`r \otimes r` in e3nn's basis (same as
    ``gdl.keys.cartesian_to_2e(r[..., :, None] * r[..., None, :])``, written out):
    :math:`(\sqrt2\, xz,\ \sqrt2\, xy,\ (2y^2 - x^2 - z^2)/\sqrt6,\ \sqrt2\, yz,\ (z^2 - x^2)/\sqrt2)`.

    Shapes: ``[..., 3] -> [..., 5]``.
    """
    x, y, z = r.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    return torch.stack(
        [_S2 * x * z, _S2 * x * y, (2 * yy - xx - zz) / _S6, _S2 * y * z, (zz - xx) / _S2], dim=-1
    )


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))


class Readout(nn.Module):
    """Base of readouts: target layout, validation, pooling and assembly of typed outputs.

    Subclasses set :attr:`supported_irreps` (``None`` = any irreps) and implement
    :meth:`node_parts`, returning ``{irrep: [N, mul, irrep_dim]}`` with the multiplicity summed over
    all targets; :meth:`forward` slices each target's channels and pools graph-level ones.

    Args:
        targets: the targets to produce (anything :func:`gdl.keys.as_targets` accepts).
        in_channels: width of the invariant node features ``h``.
        hidden_channels: width of the readout MLPs; ``None`` uses ``in_channels``. Default ``None``.
        cutoff: radius of the smooth cutoff on edge weights (readouts that use edges). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        vector_channels: number ``V`` of equivariant node vectors ``node_vec [N, V, 3]`` the readout
            may use (readouts that do not use them ignore this). Default ``0``.
    """

    #: irreps (as strings) the readout can produce; ``None`` for any.
    supported_irreps: ClassVar[tuple[str, ...] | None] = ("0e",)

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        in_channels: int,
        hidden_channels: int | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        vector_channels: int = 0,
    ):
        super().__init__()
        self.targets: tuple[Target, ...] = as_targets(targets)
        self.check_targets(self.targets)
        if in_channels < 1:
            raise ValueError(f"{type(self).__name__}: in_channels must be >= 1, got {in_channels}")
        if reduce not in ("sum", "mean"):
            raise ValueError(f"{type(self).__name__}: reduce must be 'sum' or 'mean', got {reduce!r}")
        if vector_channels < 0:
            raise ValueError(f"{type(self).__name__}: vector_channels must be >= 0, got {vector_channels}")
        self.in_channels = int(in_channels)
        self.hidden_channels = int(hidden_channels or in_channels)
        self.cutoff = float(cutoff)
        self.reduce = reduce
        self.vector_channels = int(vector_channels)
        # Plain-Python layout (torch.compile cannot guard e3nn objects): per target
        # (name, level, ((irrep, offset, mul, dim), ...)) with offsets into node_parts()[irrep].
        self.multiplicity: dict[str, int] = {}
        layout = []
        for t in self.targets:
            segments = []
            for mul, ir in t.irreps:
                key = str(ir)
                off = self.multiplicity.get(key, 0)
                segments.append((key, off, int(mul), int(ir.dim)))
                self.multiplicity[key] = off + int(mul)
            layout.append((t.name, t.level, tuple(segments)))
        self.layout: tuple[tuple[str, str, tuple[tuple[str, int, int, int], ...]], ...] = tuple(layout)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    @classmethod
    def check_targets(cls, targets: Iterable[Target]) -> None:
        """Raise ``ValueError`` naming the target when it needs an irrep this readout cannot produce."""
        if cls.supported_irreps is None:
            return
        supported = {o3.Irrep(s) for s in cls.supported_irreps}
        for t in targets:
            bad = sorted({str(mi.ir) for mi in t.irreps if mi.ir not in supported})
            if bad:
                raise ValueError(
                    f"{cls.__name__} cannot produce target {t.name!r} ({t.level} {t.irreps}): it gives "
                    f"{list(cls.supported_irreps)}, not {bad}. Use a readout that produces {bad} "
                    f"(ScalarizationReadout gives 0e, 1o and 2e) or drop the target."
                )

    def node_parts(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        node_vec: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        batch: torch.Tensor | None = None,
        num_graphs: int = 1,
        node_vec: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Typed predictions ``{target name: [B or N, irreps.dim]}``.

        Args:
            h: invariant node features ``[N, in_channels]``.
            edge_index: ``[2, E]``, messages ``j = edge_index[0] -> i = edge_index[1]``.
            edge_vec: ``r_ij = pos[j] - pos[i]`` ``[E, 3]`` (minimum image in periodic boxes).
            batch: graph index of each node ``[N]``; ``None`` for a single graph.
            num_graphs: number of graphs ``B``.
            node_vec: equivariant node vectors ``[N, vector_channels, 3]`` or ``None``.
        """
        if h.dim() != 2 or h.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: h must have shape [N, {self.in_channels}], got {tuple(h.shape)}"
            )
        if node_vec is not None and (node_vec.dim() != 3 or node_vec.shape[1:] != (self.vector_channels, 3)):
            raise ValueError(
                f"{type(self).__name__}: node_vec must have shape [N, {self.vector_channels}, 3], "
                f"got {tuple(node_vec.shape)}"
            )
        parts = self.node_parts(h, edge_index, edge_vec, node_vec)
        n = h.shape[0]
        if batch is None:
            batch = torch.zeros(n, dtype=torch.long, device=h.device)
        out: dict[str, torch.Tensor] = {}
        for name, level, segments in self.layout:
            # [N, mul, dim] slices flattened mul-major, as e3nn lays out "mul x irrep"
            y = torch.cat([parts[k][:, o : o + m].reshape(n, m * d) for k, o, m, d in segments], dim=-1)
            if level == "graph":
                y = scatter(y, batch, dim=0, dim_size=num_graphs, reduce=self.reduce)
            out[name] = y
        return out

    def extra_repr(self) -> str:
        return (
            "targets=[" + ", ".join(str(t) for t in self.targets) + f"], in_channels={self.in_channels}, "
            f"hidden_channels={self.hidden_channels}, reduce={self.reduce!r}"
        )


class InvariantReadout(Readout):
    r"""Invariant-only readout: ``0e`` targets (any multiplicity) from :math:`\mathrm{MLP}(h_i)`,
    pooled per graph for graph-level targets. Raises at construction for ``1o``/``2e`` targets.

    Args: see :class:`Readout`; ``cutoff`` and ``vector_channels`` are not used.

    Shapes:
        ``h [N, in_channels]`` (invariant) -> ``{name: [B or N, mul]}`` (invariant).
    """

    supported_irreps: ClassVar[tuple[str, ...] | None] = ("0e",)

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        in_channels: int,
        hidden_channels: int | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        vector_channels: int = 0,
    ):
        super().__init__(targets, in_channels, hidden_channels, cutoff, reduce, vector_channels)
        n0 = self.multiplicity.get("0e", 0)
        self.scalar_mlp = _mlp(self.in_channels, self.hidden_channels, n0) if n0 else None
        self.reset_parameters()

    def node_parts(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        node_vec: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        if self.scalar_mlp is None:
            return {}
        return {"0e": self.scalar_mlp(h).unsqueeze(-1)}  # [N, n0, 1]


class ScalarizationReadout(InvariantReadout):
    r"""``0e``, ``1o`` and ``2e`` targets from invariant node features and edge vectors (module
    docstring): :math:`\sum_j w_{ij} r_{ij}` for ``1o`` (plus gated node vectors), :math:`\sum_j w'_{ij}
    (r_{ij}\otimes r_{ij})_0` for ``2e``.

    The edge weights come from one MLP for all equivariant channels; its first layer acts on the
    concatenation :math:`[h_i, h_j, e(\lVert r_{ij}\rVert)]` but is evaluated as
    :math:`A h_i + B h_j + C e` with :math:`A h, B h` computed per node (same function, fewer FLOPs).
    The radial basis is 16 Gaussians on ``[0, cutoff]``; weights are multiplied by a cosine cutoff, so
    they vanish smoothly at ``cutoff``. Weights depend on ``h_i`` and ``h_j`` separately, so a graph
    sum :math:`\sum_{ij} w_{ij} r_{ij}` does not cancel by antisymmetry.

    Args: see :class:`Readout`.

    Shapes:
        ``h [N, in_channels]`` (invariant), ``edge_vec [E, 3]`` (1o), ``node_vec [N, V, 3]`` (1o)
        -> ``{name: [B or N, irreps.dim]}`` typed by the targets.
    """

    supported_irreps: ClassVar[tuple[str, ...] | None] = ("0e", "1o", "2e")
    num_basis: ClassVar[int] = 16

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        in_channels: int,
        hidden_channels: int | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        vector_channels: int = 0,
    ):
        super().__init__(targets, in_channels, hidden_channels, cutoff, reduce, vector_channels)
        n1, n2 = self.multiplicity.get("1o", 0), self.multiplicity.get("2e", 0)
        self.n1, self.n2 = n1, n2
        f, hid = self.in_channels, self.hidden_channels
        if n1 + n2:
            self.basis = GaussianBasis(self.num_basis, self.cutoff)
            self.envelope = CosineCutoff(self.cutoff)
            self.lin_node = nn.Linear(f, 2 * hid)  # [A; B] of the fused first layer (bias = the layer's bias)
            self.lin_radial = nn.Linear(self.num_basis, hid, bias=False)
            self.lin_weights = nn.Linear(hid, n1 + n2)
        else:
            self.basis = self.envelope = self.lin_node = self.lin_radial = self.lin_weights = None
        self.gate = nn.Linear(f, n1 * self.vector_channels) if (n1 and self.vector_channels) else None
        self.reset_parameters()

    def node_parts(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        node_vec: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        parts = super().node_parts(h, edge_index, edge_vec, node_vec)
        if self.lin_weights is None:
            return parts
        n, n1, n2 = h.shape[0], self.n1, self.n2
        j, i = edge_index[0], edge_index[1]
        d = safe_norm(edge_vec)  # [E]
        a, b = self.lin_node(h).chunk(2, dim=-1)  # [N, hid] each: A h + bias, B h
        z = a.index_select(0, i) + b.index_select(0, j) + self.lin_radial(self.basis(d))
        w = self.lin_weights(torch.nn.functional.silu(z)) * self.envelope(d).unsqueeze(-1)  # [E, n1 + n2]
        pieces = []
        if n1:
            pieces.append((w[:, :n1, None] * edge_vec[:, None, :]).reshape(-1, 3 * n1))  # [E, n1 * 3]
        if n2:
            pieces.append((w[:, n1:, None] * traceless_outer(edge_vec)[:, None, :]).reshape(-1, 5 * n2))
        summed = scatter(torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0], i, dim=0, dim_size=n)
        if n1:
            vec = summed[:, : 3 * n1].reshape(n, n1, 3)
            if self.gate is not None:
                if node_vec is None:
                    raise ValueError(
                        f"{type(self).__name__} was built with vector_channels={self.vector_channels} "
                        "but got node_vec=None"
                    )
                u = self.gate(h).reshape(n, n1, self.vector_channels)
                vec = vec + torch.bmm(u, node_vec)  # [N, n1, V] @ [N, V, 3]
            parts["1o"] = vec
        if n2:
            parts["2e"] = summed[:, 3 * n1 :].reshape(n, n2, 5)
        return parts

    def extra_repr(self) -> str:
        return super().extra_repr() + f", cutoff={self.cutoff}, vector_channels={self.vector_channels}"


class PlainReadout(Readout):
    r"""The no-symmetry readout: every output component is a raw number from
    :math:`\mathrm{MLP}(h_i)` (node level) or the pooled MLP outputs (graph level), for targets of
    any irreps. Nothing transforms as declared under rotations; permutation equivariance and
    translation invariance come from the backbone.

    Args: see :class:`Readout`; ``cutoff`` and ``vector_channels`` are not used.

    Shapes:
        ``h [N, in_channels]`` -> ``{name: [B or N, irreps.dim]}`` (not equivariant).
    """

    supported_irreps: ClassVar[tuple[str, ...] | None] = None

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        in_channels: int,
        hidden_channels: int | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        vector_channels: int = 0,
    ):
        super().__init__(targets, in_channels, hidden_channels, cutoff, reduce, vector_channels)
        # every (irrep, offset) slot of every target is a block of raw outputs
        self.sizes = tuple((k, self.multiplicity[k], o3.Irrep(k).dim) for k in sorted(self.multiplicity))
        self.mlp = _mlp(self.in_channels, self.hidden_channels, sum(m * d for _, m, d in self.sizes))
        self.reset_parameters()

    def node_parts(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        node_vec: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        raw = self.mlp(h)
        parts, start = {}, 0
        for k, m, d in self.sizes:
            parts[k] = raw[:, start : start + m * d].reshape(-1, m, d)
            start += m * d
        return parts


#: What models accept as ``readout``: a readout class or any callable with the same keyword
#: arguments, e.g. ``functools.partial(ScalarizationReadout, hidden_channels=64)``.
ReadoutFactory = Callable[..., Readout]
