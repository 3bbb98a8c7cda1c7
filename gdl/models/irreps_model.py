r"""What the irreps-route models (:class:`~gdl.models.TFN`, :class:`~gdl.models.SE3Transformer`) share:
typed node inputs, spherical harmonics and radial embedding computed once per forward pass, and
the typed readout."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from e3nn import o3
from torch import nn

from ..keys import FIELDS, TargetLike
from ..nn.embedding import NodeEmbedding
from ..nn.geometry import edge_vectors
from ..nn.irreps import check_irreps_chain, so3_label, spherical_harmonics_irreps
from ..nn.irreps_readout import REDUCTIONS, IrrepsReadout
from ..nn.radial import node_pairs
from ..nn.spherical_edge_embedding import SphericalEdgeEmbedding, default_radial
from .base import GDLModel

__all__ = ["IrrepsModel"]

#: Degrees the irreps models are built and tested for.
L_MAX_RANGE = (0, 1, 2, 3)


class IrrepsModel(GDLModel):
    r"""Base of the irreps-route models. Subclasses build ``self.layers`` (via :meth:`build_layers`)
    and may override :meth:`interact`; everything else is shared:

    1. node inputs: invariant embedding of ``z``/``x`` (``hidden_channels x 0e``) followed by the
       ``vector_inputs`` fields as ``1o`` (``[N, 3]`` each);
    2. edge attributes computed once: spherical harmonics up to ``l_max`` and a Bessel radial basis
       with a polynomial cutoff at ``cutoff``, handed to every layer; the radial part once per node
       pair (:func:`gdl.nn.radial.node_pairs`: both directions of an edge have the same length, so
       the layers' radial MLPs also run once per pair);
    3. the layers; the last one emits only the irreps the readout consumes (:attr:`readout_irreps`,
       from the typed targets: ``0e`` for energies, ``0e + 1o`` for an energy and a dipole, ...), so
       the paths that would produce features nobody reads are never computed. On fixed weights the
       outputs equal those of the same model with a full last layer (``prune_last_layer=False``);
    4. the readout (:class:`gdl.nn.IrrepsReadout`): an equivariant linear map per target, pooled with
       ``reduce`` for graph-level targets.

    Args: see the subclasses; the first eight are the core shared by every gdl model.
    ``prune_last_layer`` (default ``True``) and ``tp_backend`` (default ``"e3nn"``, the tensor
    product + scatter unit :class:`gdl.nn.edge_tensor_product.EdgeTensorProduct`) are the last two.
    """

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int,
        num_layers: int,
        num_types: int = 10,
        in_channels: int = 0,
        cutoff: float = 5.0,
        vector_inputs: Sequence[str] = (),
        reduce: str = "sum",
        l_max: int = 2,
        parity: bool = True,
        prune_last_layer: bool = True,
        tp_backend: str = "e3nn",
    ):
        super().__init__(targets)
        name = type(self).__name__
        if l_max not in L_MAX_RANGE or isinstance(l_max, bool):
            raise ValueError(f"{name}: l_max must be one of {L_MAX_RANGE}, got {l_max!r}")
        if hidden_channels < 1 or num_layers < 1:
            raise ValueError(
                f"{name}: need hidden_channels >= 1 and num_layers >= 1, got {hidden_channels}, {num_layers}"
            )
        if reduce not in REDUCTIONS:
            raise ValueError(f"{name}: reduce must be one of {REDUCTIONS}, got {reduce!r}")
        if isinstance(vector_inputs, str):
            vector_inputs = (vector_inputs,)
        self.vector_inputs = tuple(vector_inputs)
        if self.vector_inputs and l_max == 0:
            raise ValueError(
                f"{name}: vector_inputs {list(self.vector_inputs)} need l_max >= 1 "
                "(l_max=0 keeps only scalars)"
            )
        for v in self.vector_inputs:
            info = FIELDS.get(v)
            if info is not None and (info.level != "node" or info.rep != "1o" or info.shape != "[N, 3]"):
                raise ValueError(
                    f"{name}: vector input {v!r} is registered as {info.level} {info.rep} {info.shape}, "
                    "not node 1o [N, 3]"
                )
        self.hidden_channels, self.num_layers = hidden_channels, num_layers
        self.l_max, self.parity, self.cutoff, self.reduce = l_max, parity, float(cutoff), reduce
        self.prune_last_layer, self.tp_backend = bool(prune_last_layer), tp_backend
        #: the irreps the readout reads off the features (SO(3) labels with ``parity=False``)
        self.readout_irreps: frozenset[o3.Irrep] = frozenset(
            ir for t in self.targets for _, ir in (t.irreps if parity else so3_label(t.irreps))
        )

        self.embedding = NodeEmbedding(hidden_channels, num_types, in_channels)
        self.num_types, self.in_channels = num_types, in_channels
        vec = "1o" if parity else "1e"
        self.irreps_input = o3.Irreps(f"{hidden_channels}x0e") + (
            o3.Irreps(f"{len(self.vector_inputs)}x{vec}") if self.vector_inputs else o3.Irreps("")
        )
        self.radial = default_radial(cutoff)
        self.edge_embedding = SphericalEdgeEmbedding(spherical_harmonics_irreps(l_max, parity), self.radial)
        self.irreps_sh = self.edge_embedding.irreps_sh

        #: what the last layer could emit (set by ``build_layers`` through :meth:`last_layer_irreps`)
        self.irreps_full_features: o3.Irreps | None = None
        self.layers = nn.ModuleList(self.build_layers())
        check_irreps_chain(list(self.layers))
        self.irreps_features = self.layers[-1].irreps_out if len(self.layers) else self.irreps_input
        full = self.irreps_full_features if self.irreps_full_features is not None else self.irreps_features
        self.check_targets(IrrepsReadout.supported_irreps(full, parity))
        self.readout = IrrepsReadout(self.irreps_features, self.targets, reduce, parity)

    def build_layers(self) -> list[nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def last_layer_irreps(self, irreps_full: o3.Irreps) -> o3.Irreps:
        """The output irreps of the last layer: the blocks of ``irreps_full`` (what it could emit)
        that the readout reads, or all of them with ``prune_last_layer=False``. When no block would be
        left (a target the layer cannot reach: ``check_targets`` then raises) the full irreps are kept."""
        self.irreps_full_features = irreps_full
        if not self.prune_last_layer:
            return irreps_full
        kept = o3.Irreps([(mul, ir) for mul, ir in irreps_full if ir in self.readout_irreps])
        return kept if kept.dim else irreps_full

    def node_inputs(self, data: Any) -> torch.Tensor:
        """``[N, irreps_input.dim]``: the invariant embedding, then each vector input."""
        n = data.pos.shape[0]
        z = getattr(data, "z", None) if self.num_types > 0 else None
        x = getattr(data, "x", None) if self.in_channels > 0 else None
        parts = [self.embedding(n, z, x)]
        for v in self.vector_inputs:
            value = getattr(data, v, None)
            if value is None:
                raise ValueError(f"{type(self).__name__} needs the vector input `{v}` [N, 3] in the batch")
            if value.dim() != 2 or value.shape[0] != n or value.shape[1] != 3:
                raise ValueError(f"vector input `{v}` must have shape [{n}, 3], got {tuple(value.shape)}")
            parts.append(value.to(parts[0].dtype))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def interact(
        self,
        h: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        pair_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the layers; ``edge_sh``/``edge_radial`` are shared by all of them (``edge_radial`` per
        node pair when ``pair_index`` is given)."""
        for layer in self.layers:
            h = layer(h, pos, edge_index, edge_sh=edge_sh, edge_radial=edge_radial, pair_index=pair_index)
        return h

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        pos, edge_index = data.pos, data.edge_index
        h = self.node_inputs(data)
        given = getattr(data, "edge_vec", None)
        edge_vec = edge_vectors(pos, edge_index, given)
        # the radial part depends only on the length: once per node pair (both directions share it)
        first, pair_index = node_pairs(edge_index, pos.shape[0], given is None)
        # (both through SphericalEdgeEmbedding.forward, whatever it does at zero-length edges; the
        # unused halves are cheap next to the layers)
        edge_sh, edge_radial = self.edge_embedding(edge_vec)
        if first is not None:
            _, edge_radial = self.edge_embedding(edge_vec.index_select(0, first))
        h = self.interact(h, pos, edge_index, edge_sh, edge_radial, pair_index)
        return self.readout(h, self.batch_vector(data), self.num_graphs(data))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"l_max={self.l_max}, parity={self.parity}, cutoff={self.cutoff}, reduce={self.reduce!r}, "
            f"vector_inputs={list(self.vector_inputs)}"
        )
