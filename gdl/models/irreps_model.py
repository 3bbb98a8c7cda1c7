r"""What the irreps-route models (:class:`~gdl.models.TFN`, :class:`~gdl.models.SE3Transformer`,
:class:`~gdl.models.MACE`) share: one constructor core, typed node inputs, spherical harmonics and
radial embedding computed once per forward pass, and the typed readout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from e3nn import o3
from torch import nn

from ..keys import TargetLike
from ..nn.geometry import edge_vectors
from ..nn.irreps import check_irreps_chain, so3_label, spherical_harmonics_irreps
from ..nn.irreps_readout import REDUCTIONS, IrrepsReadout
from ..nn.spherical_edge_embedding import SphericalEdgeEmbedding, default_radial
from .base import GDLModel
from .inputs import NodeInputs, check_model_core, in_length_unit

__all__ = ["IrrepsModel"]

#: Degrees the irreps models are built and tested for.
L_MAX_RANGE = (0, 1, 2, 3)


class IrrepsModel(GDLModel):
    r"""Base of the irreps-route models: the constructor core, written once. Subclasses set their
    defaults in their signature, declare their options (:attr:`model_options`,
    :attr:`layer_options`), build ``self.layers`` in :meth:`build_layers` and may override
    :meth:`interact`; everything else is shared:

    1. node inputs (``inputs``, a :class:`~gdl.models.NodeInputs`): the invariant embedding of
       ``z``/``x`` (``hidden_channels x 0e``) followed by the ``vector_inputs`` fields as ``1o``
       (``[N, 3]`` each);
    2. edge attributes computed once per forward pass: spherical harmonics up to ``l_max`` and a
       Bessel radial basis with a polynomial cutoff at ``cutoff`` (one ``radial`` module injected
       into every layer; in units of ``inputs.length_scale``, below), handed to every layer as
       ``edge_sh=`` / ``edge_radial=``;
    3. the layers; in TFN and the SE(3)-Transformer the last one emits only the irreps the readout
       consumes (:attr:`readout_irreps`, from the typed targets: ``0e`` for energies, ``0e + 1o``
       for an energy and a dipole, ...), so the paths that would produce features nobody reads are
       never computed. On fixed weights the outputs equal those of the same model with a full last
       layer (``prune_last_layer=False``);
    4. the readout (:class:`gdl.nn.IrrepsReadout`): an equivariant linear map per target, pooled with
       ``reduce`` for graph-level targets.

    **Units.** Coordinates are read in units of ``inputs.length_scale``
    (:class:`~gdl.models.NodeInputs`, as in :class:`~gdl.models.EGNN`,
    :class:`~gdl.models.InvariantNet` and :class:`~gdl.models.GroupConvNet`): ``pos``, ``edge_vec``
    and ``cutoff`` are divided by it before any layer, here and nowhere else (the shared radial
    embedding is built on :attr:`unit_cutoff`); node vector inputs (``vector_inputs``, e.g.
    velocities) are not lengths and are read as given. The spherical harmonics of the edge
    directions and the envelope are unit-free, but the Bessel basis
    :math:`\sqrt{2/c}\, \sin(n \pi d / c) / d` has units of length\ :sup:`-3/2`: with galaxy
    coordinates in Mpc/h (neighbours ~60 apart) the inputs of every radial MLP are
    :math:`58.5^{-3/2} \approx 1/450` of their size in units of the mean spacing. On the cloud-level
    distance task of the tests (width 8, 2 layers, ``l_max`` 1, no node features; held-out
    :math:`R^2` at seeds 0-2, measured 2026-12-02), reading such coordinates as given, TFN reached
    0.340, 0.106, 0.033 (seed-dependent, as on the galaxy clouds, issue 21), the SE(3)-Transformer
    (2 heads) 0.029, 0.148, 0.227 and MACE (correlation 2) 0.472, 0.386, 0.478; in units of
    ``length_scale`` TFN reached 0.630, 0.639, 0.681 (its values on the same clouds in unit
    coordinates), the SE(3)-Transformer 0.706, 0.690, 0.649 and MACE 0.663, 0.706, 0.554.
    The short-edge guard of the spherical harmonics
    (:class:`~gdl.nn.SphericalEdgeEmbedding`'s ``eps``) is then a length in units of
    ``length_scale`` too. Outputs are not rescaled: the readout is an equivariant linear map of
    features that depend on the geometry only through edge directions and the radial basis of
    :math:`\lVert r_{ij} \rVert / \text{length\_scale}`, so a ``1o`` target (a dipole in e·Å, a
    velocity) is produced in its own units by learned weights, as in EGNN (whose ``1o`` outputs are
    linear in the rescaled :math:`r_{ij}` and are not multiplied back either). With
    ``length_scale = 1`` (the default; QM9 in Å, N-body) nothing is rescaled: the same operations as
    before it existed, so those results are unchanged. Outputs are unchanged when ``pos``,
    ``edge_vec``, ``cutoff`` and ``length_scale`` are all multiplied by one factor (a change of
    units).

    **How the many knobs are grouped** (the same for the whole irreps family). The constructor
    takes the core every gdl model shares (``targets, hidden_channels, num_layers, inputs, cutoff,
    reduce``), the degree ``l_max`` that every irreps model has, and ``**kwargs`` — as PyG's
    ``BasicGNN(**kwargs)`` forwards layer options. A keyword is either

    * a **model option** (:attr:`model_options`: ``parity`` everywhere, ``prune_last_layer`` in TFN
      and the SE(3)-Transformer, ``hidden_l_max`` in MACE), read by the model itself; or
    * a **layer option** (:attr:`layer_options`: e.g. ``avg_num_neighbors``, ``tp_backend``,
      ``radial_hidden``, ``num_heads``, ``correlation``, ``gate``), forwarded unchanged to every
      layer's constructor, with the model's default where it differs from the layer's.

    Each option is stored as an attribute of the same name (``model.avg_num_neighbors``) and
    ``layer_kwargs`` holds the layer options. Any other keyword stops with an error naming it. The
    Hydra configs keep the same flat keys (``model.correlation``, ``model.avg_num_neighbors``), so
    combos and ablation presets set them as before.

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`).
        hidden_channels: channels per irrep.
        num_layers: number of layers, ``>= 1`` (the readout reads the last layer's irreps).
        inputs: the node inputs (:class:`~gdl.models.NodeInputs` or a mapping with its keys,
            ``length_scale`` included; the config's ``inputs:`` block). Default ``None``:
            ``NodeInputs()`` (10 atom types).
        cutoff: radius of the radial basis' smooth cutoff, in the units of ``pos`` (Å for
            molecules). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        l_max: largest degree of the spherical harmonics (and, in TFN and the SE(3)-Transformer, of
            the features), in ``{0, 1, 2, 3}``. Default ``2``.
        **kwargs: model and layer options (above; each subclass lists its own).
    """

    #: options the model reads itself, with their defaults
    model_options: ClassVar[dict[str, Any]] = {"parity": True}
    #: options forwarded to every layer, with the model's defaults
    layer_options: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 32,
        num_layers: int = 3,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        l_max: int = 2,
        **kwargs: Any,
    ):
        super().__init__(targets)
        name = type(self).__name__
        known = {**self.model_options, **self.layer_options}
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise TypeError(f"{name}: unknown option(s) {unknown}; the options of {name} are {sorted(known)}")
        options = {**known, **kwargs}
        for k, v in options.items():
            setattr(self, k, v)
        #: the layer options, forwarded to every layer's constructor
        self.layer_kwargs: dict[str, Any] = {k: options[k] for k in self.layer_options}
        self.inputs = NodeInputs.of(inputs)
        check_model_core(name, hidden_channels, num_layers, cutoff, reduce, min_layers=1, reduces=REDUCTIONS)
        if l_max not in L_MAX_RANGE or isinstance(l_max, bool):
            raise ValueError(f"{name}: l_max must be one of {L_MAX_RANGE}, got {l_max!r}")
        if self.vector_inputs and l_max == 0:
            raise ValueError(
                f"{name}: vector_inputs {list(self.vector_inputs)} need l_max >= 1 "
                "(l_max=0 keeps only scalars)"
            )
        parity = bool(self.parity)
        self.hidden_channels, self.num_layers = hidden_channels, num_layers
        self.l_max, self.parity, self.cutoff, self.reduce = l_max, parity, float(cutoff), reduce
        self.check_options()
        #: the irreps the readout reads off the features (SO(3) labels with ``parity=False``)
        self.readout_irreps: frozenset[o3.Irrep] = frozenset(
            ir for t in self.targets for _, ir in (t.irreps if parity else so3_label(t.irreps))
        )

        self.embedding = self.inputs.embedding(hidden_channels)
        vec = "1o" if parity else "1e"
        self.irreps_input = o3.Irreps(f"{hidden_channels}x0e") + (
            o3.Irreps(f"{self.inputs.num_vectors}x{vec}") if self.vector_inputs else o3.Irreps("")
        )
        #: the unit of length of the layers, in the units of ``pos`` (``inputs.length_scale``)
        self.length_scale = self.inputs.length_scale
        #: the cutoff in that unit: the radius the shared radial basis and envelope are built on
        self.unit_cutoff = self.cutoff / self.length_scale
        self.radial = default_radial(self.unit_cutoff)
        self.edge_embedding = SphericalEdgeEmbedding(spherical_harmonics_irreps(l_max, parity), self.radial)
        self.irreps_sh = self.edge_embedding.irreps_sh

        #: what the last layer could emit (set by ``build_layers`` through :meth:`last_layer_irreps`)
        self.irreps_full_features: o3.Irreps | None = None
        self.layers = nn.ModuleList(self.build_layers())
        check_irreps_chain(list(self.layers))
        self.irreps_features = self.layers[-1].irreps_out
        full = self.irreps_full_features if self.irreps_full_features is not None else self.irreps_features
        self.check_targets(IrrepsReadout.supported_irreps(full, parity))
        self.readout = IrrepsReadout(self.irreps_features, self.targets, reduce, parity)

    # read-only views of the node inputs (strategies and the symmetry code read them)
    @property
    def vector_inputs(self) -> tuple[str, ...]:
        return self.inputs.vector_inputs

    @property
    def num_types(self) -> int:
        return self.inputs.num_types

    @property
    def in_channels(self) -> int:
        return self.inputs.in_channels

    def check_options(self) -> None:
        """Validate the model's options (set as attributes) before the layers are built; the layers
        validate theirs."""

    def build_layers(self) -> list[nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Re-draw every weight: embedding, layers and readout."""
        self.embedding.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.readout.reset_parameters()

    def last_layer_irreps(self, irreps_full: o3.Irreps) -> o3.Irreps:
        """The output irreps of the last layer: the blocks of ``irreps_full`` (what it could emit)
        that the readout reads, or all of them with ``prune_last_layer=False``. When no block would be
        left (a target the layer cannot reach: ``check_targets`` then raises) the full irreps are kept."""
        self.irreps_full_features = irreps_full
        if not getattr(self, "prune_last_layer", False):
            return irreps_full
        kept = o3.Irreps([(mul, ir) for mul, ir in irreps_full if ir in self.readout_irreps])
        return kept if kept.dim else irreps_full

    def node_inputs(self, data: Any) -> torch.Tensor:
        """``[N, irreps_input.dim]``: the invariant embedding, then each vector input (checked in
        ``validate``)."""
        n = data.pos.shape[0]
        z = getattr(data, "z", None) if self.num_types > 0 else None
        x = getattr(data, "x", None) if self.in_channels > 0 else None
        h = self.embedding(n, z, x)
        vectors = self.inputs.vectors(data)  # [N, V, 3] or None
        if vectors is None:
            return h
        return torch.cat([h, vectors.to(h.dtype).reshape(n, -1)], dim=-1)

    def layer_inputs(self, data: Any) -> dict[str, torch.Tensor]:
        """Per-node keyword inputs of every layer besides the shared edge attributes (MACE: the
        node types)."""
        return {}

    def interact(
        self, h: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor, **edge: Any
    ) -> torch.Tensor:
        """Run the layers; ``edge`` (``edge_sh``, ``edge_radial`` and :meth:`layer_inputs`) is
        shared by all of them."""
        for layer in self.layers:
            h = layer(h, pos, edge_index, **edge)
        return h

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        pos, edge_index = data.pos, data.edge_index
        h = self.node_inputs(data)
        edge_vec = edge_vectors(pos, edge_index, getattr(data, "edge_vec", None))
        # the layers' unit of length (class docstring, Units)
        pos, edge_vec = in_length_unit(pos, self.length_scale), in_length_unit(edge_vec, self.length_scale)
        edge_sh, edge_radial = self.edge_embedding(edge_vec)
        h = self.interact(
            h, pos, edge_index, edge_sh=edge_sh, edge_radial=edge_radial, **self.layer_inputs(data)
        )
        return self.readout(h, self.batch_vector(data), self.num_graphs(data))

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={getattr(self, k)!r}" for k in {**self.model_options, **self.layer_options})
        return (
            f"{super().extra_repr()}, hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"l_max={self.l_max}, cutoff={self.cutoff}, reduce={self.reduce!r}, "
            f"vector_inputs={list(self.vector_inputs)}, {opts}"
            + ("" if self.length_scale == 1.0 else f", length_scale={self.length_scale}")
        )
