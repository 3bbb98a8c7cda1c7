"""GroupConvNet: the regular-representation route (group convolutions over anchors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ..groups.anchors import AnchorSet, GroupAnchors
from ..groups.finite import octahedral
from ..keys import TargetLike
from ..nn.anchor_readout import AnchorReadout, SphereAnchorReadout
from ..nn.conv._anchor_kernel import default_radial
from ..nn.conv.group_conv import GroupConv
from ..nn.conv.lifting_conv import LiftingConv
from ..nn.conv.sphere_group_conv import SphereGroupConv
from ..nn.conv.sphere_lifting_conv import SphereLiftingConv
from ..nn.geometry import edge_vectors
from ..nn.pointwise_group_conv import PointwiseGroupConv
from .base import GDLModel
from .inputs import NodeInputs, check_model_core, in_length_unit

__all__ = ["GroupConvNet"]

LayerClasses = tuple[type[LiftingConv], type[GroupConv], type[AnchorReadout]]


class GroupConvNet(GDLModel):
    r"""Regular-representation network: node features lifted to functions over anchors, group
    convolutions, and Fourier readouts (LieConv, Finzi et al. 2020; separable position–orientation
    convolutions, Bekkers et al. 2024).

    .. math::
        f^{(0)} &= \mathrm{Lift}(h, v) \in \mathbb{R}^{N \times A \times C}, \quad
            h = \mathrm{Emb}(z, x) \\
        f^{(t+1)} &= S_t\big(f^{(t)}\big) + \mathrm{GroupConv}\big(\mathrm{SiLU}(\mathrm{LN}(f^{(t)}))\big) \\
        y &= \mathrm{Readout}\big(\mathrm{SiLU}(\mathrm{LN}(f^{(T)}))\big)

    with LayerNorm over channels per (node, anchor) and :math:`S_t` the residual shortcut: the
    identity when every stage uses the same anchors, and a :class:`~gdl.nn.PointwiseGroupConv` from
    the anchors of stage :math:`t` to those of stage :math:`t + 1` when the provider gives one anchor
    set per stage (below). The anchor set is an object
    (:mod:`gdl.groups.anchors`) called once per forward pass; its ``space`` picks the layers from
    the class attribute :attr:`layers`: SO(3) anchors use :class:`~gdl.nn.LiftingConv`,
    :class:`~gdl.nn.GroupConv` and :class:`~gdl.nn.AnchorReadout`; sphere anchors their ``Sphere*``
    variants. A subclass swaps layers by overriding :attr:`layers` (e.g. relaxed group
    convolutions). Graph-level targets pool the readout coefficients over nodes (``reduce``) before
    projecting them.

    Symmetry: exactly equivariant (every ``0e``, ``1o``, ``2e`` output, graph and node level) to the
    rotations of a finite anchor group (``GroupAnchors``, or ``SphereAnchors`` built as an orbit),
    and to reflections when the group has them (``GroupAnchors.named("cube")``); approximately
    equivariant for other fixed sets (error decreasing with their size) and equivariant in
    distribution for anchors redrawn per pass (``HaarAnchors``, which redraws in eval mode too:
    average predictions over draws to reduce the error). All layers and readouts of one pass use
    the same draw; :class:`~gdl.nn.GroupConv` also maps between different anchor sets
    (``anchors_out``): a provider with ``per_stage = True`` returns one tensor per stage
    (:meth:`stage_anchors`) for per-layer anchors, as the ``partial`` symmetry strategy does.

    Shortcuts between stages: a feature of stage :math:`t` is a function on the anchors
    :math:`\{R^{(t)}_b\}`, and the residual must carry it onto :math:`\{R^{(t+1)}_a\}`. Adding the
    two by anchor index would treat the value at :math:`R^{(t)}_a` as the value at
    :math:`R^{(t+1)}_a`. That pairing is not part of the method: in the Partial G-CNN (Romero &
    Lohit 2022) each layer's group elements are separate samples with no correspondence between
    layers, and its residual blocks use a pointwise group convolution from the input elements to
    the output ones whenever elements are sampled per layer; here the pairing would only be an
    artefact of how :class:`~gdl.symmetry.PartialAnchors` derives every stage from one base set.
    It depends on how each stage numbers its anchors, and it breaks the exact equivariance of two
    stages that are the same finite group listed in different orders (relative errors 0.07–0.45
    measured; tested). So :math:`S_t` is a pointwise group convolution whose kernel depends only on
    :math:`(R^{(t+1)}_a)^\top R^{(t)}_b`: independent of the numbering, exactly permuted when both
    stages are closed under a finite group, and at any angle consistent with the joint rotation —
    rotating the input and left-multiplying every stage's anchors by the same :math:`g` rotates the
    outputs by :math:`g` (tested at :math:`\theta < \pi`; the index pairing obeyed this law too, it
    is not what separates them). These shortcuts exist (and are trained) only for per-stage
    providers; one anchor set for all stages keeps the identity shortcut.

    Always translation invariant and permutation equivariant. Targets whose degree the anchors
    cannot resolve raise at construction.

    Units: coordinates are read in units of ``inputs.length_scale`` (:class:`~gdl.models.NodeInputs`,
    as :class:`~gdl.models.EGNN` and :class:`~gdl.models.InvariantNet` do): ``pos``, ``edge_vec`` and
    ``cutoff`` are divided by it before any layer (node vectors ``vec`` are not lengths and are read
    as given), and the layers are built on :attr:`unit_cutoff`. The kernels' direction invariants
    :math:`R_a^\top r_{ij} / c` and envelope are unit-free, but their Bessel basis
    :math:`\sqrt{2/c}\, \sin(n \pi d / c) / d` has units of length\ :sup:`-3/2`: with galaxy
    coordinates in Mpc/h (neighbours ~60 apart) its values are :math:`58.5^{-3/2} \approx 1/450` of
    those in units of the mean spacing. The distances then reached the kernel MLPs far below the
    direction invariants (at initialisation, width 8, on the clouds of the test below: the radial
    term of the lifting kernel's first layer 4e-3 of the direction term, the radial weights'
    gradients 1e-3 to 6e-3 of those in spacing units, the spread of the graph output across clouds
    29 times smaller), and with no node features (a constant embedding: the geometry is all there
    is) the network stayed at the mean predictor (issue 21; ``tests/models/test_group_conv_net.py::
    test_learns_a_cloud_level_distance_in_galaxy_units``). With ``length_scale = 1`` (the default)
    nothing is rescaled; outputs are unchanged when ``pos``, ``edge_vec``, ``cutoff`` and
    ``length_scale`` are all multiplied by one factor.

    Constructor: the eight arguments below are all the model's knobs (the node inputs are one
    :class:`~gdl.models.NodeInputs` value, mirroring the config's ``inputs:`` block); the layers'
    radial part is built from ``cutoff`` and ``num_basis`` (:func:`gdl.nn.conv._anchor_kernel.default_radial`:
    Bessel basis and polynomial envelope), so no layer option needs to be forwarded.

    Args:
        targets: typed targets made of ``0e``, ``1o``, ``2e`` (see :func:`gdl.keys.as_targets`).
        hidden_channels: channels per anchor ``C`` (also the kernel MLP width). Default ``32``.
        num_layers: number of group convolutions after the lifting (``0``: the readouts read the
            lifted features). Default ``3``.
        inputs: the node inputs, a :class:`~gdl.models.NodeInputs` or a mapping with its keys
            (``num_types``, ``in_channels``, ``vector_inputs``, ``length_scale``). Default ``None``:
            ``NodeInputs()``.
        cutoff: radius of the radial basis and envelope of every kernel, in the units of ``pos``
            (Å for molecules). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        anchors: an :class:`~gdl.groups.anchors.AnchorSet` (or a provider with the same interface;
            one with ``per_stage = True`` returns the anchors of every stage and gets pointwise group
            convolution shortcuts). Default ``None``: ``GroupAnchors(octahedral())`` (24 rotations).
        num_basis: size of the Bessel radial basis. Default ``8``.

    Shapes:
        ``data`` with ``pos [N, 3]``, ``edge_index [2, E]``, optional ``z [N]``, ``x [N, in_channels]``,
        ``edge_vec [E, 3]``, ``batch [N]`` and the ``vector_inputs`` -> ``{target: [B or N, irreps.dim]}``.
    """

    #: (lifting, convolution, readout) classes for each anchor space
    layers: ClassVar[dict[str, LayerClasses]] = {
        "so3": (LiftingConv, GroupConv, AnchorReadout),
        "sphere": (SphereLiftingConv, SphereGroupConv, SphereAnchorReadout),
    }

    def __init__(
        self,
        targets: TargetLike | Sequence[TargetLike],
        hidden_channels: int = 32,
        num_layers: int = 3,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        anchors: AnchorSet | Any | None = None,
        num_basis: int = 8,
    ):
        super().__init__(targets)
        self.check_targets(["0e", "1o", "2e"])
        # num_layers = 0 is allowed: the readouts read the lifted features
        check_model_core(type(self).__name__, hidden_channels, num_layers, cutoff, reduce)
        if int(num_basis) < 1:
            raise ValueError(f"{type(self).__name__}: num_basis must be >= 1, got {num_basis}")
        self.inputs = NodeInputs.of(inputs)
        anchors = anchors if anchors is not None else GroupAnchors(octahedral(), name="octahedral")
        space = self._check_anchors(anchors)
        lift_cls, conv_cls, readout_cls = self.layers[space]
        self.hidden_channels, self.num_layers, self.cutoff = hidden_channels, num_layers, float(cutoff)
        self.num_basis = int(num_basis)
        self.reduce = reduce
        #: the unit of length of the layers, in the units of ``pos`` (``inputs.length_scale``)
        self.length_scale = self.inputs.length_scale
        #: the cutoff in that unit: the radius the layers' radial basis and envelope are built on
        self.unit_cutoff = self.cutoff / self.length_scale
        self.embedding = self.inputs.embedding(hidden_channels)

        def kw() -> dict[str, Any]:
            radial = default_radial(self.num_basis, self.unit_cutoff)
            return dict(radial=radial, radial_hidden=hidden_channels)

        self.lift = lift_cls(hidden_channels, hidden_channels, self.inputs.num_vectors, **kw())
        self.convs = nn.ModuleList(
            [conv_cls(hidden_channels, hidden_channels, **kw()) for _ in range(num_layers)]
        )
        self.norms = nn.ModuleList([nn.LayerNorm(hidden_channels) for _ in range(num_layers + 1)])
        self.act = nn.SiLU()
        self.readouts = nn.ModuleDict(
            {name: readout_cls(hidden_channels, irreps) for name, _, irreps in self.target_specs}
        )
        self.shortcuts: nn.ModuleList | None = None
        self.set_anchors(anchors)

    @property
    def vector_inputs(self) -> tuple[str, ...]:
        """The names of the vector inputs (read by the symmetry strategies)."""
        return self.inputs.vector_inputs

    def _check_anchors(self, anchors: Any) -> str:
        space = getattr(anchors, "space", None)
        if space not in self.layers:
            raise TypeError(
                f"anchors must be an AnchorSet with space in {sorted(self.layers)}, got {anchors!r}"
            )
        if hasattr(self, "anchors") and space != self.anchors.space:
            raise ValueError(
                f"{type(self).__name__}.set_anchors: the layers were built for {self.anchors.space!r} "
                f"anchors, got a provider with space {space!r}"
            )
        if getattr(anchors, "per_stage", False) and space != "so3":
            raise ValueError(
                f"{type(self).__name__}: per-stage anchors (per_stage=True) need SO(3) anchors (the "
                f"pointwise group convolution shortcuts act on rotations), got space {space!r}"
            )
        for t in self.targets:
            for mi in t.irreps:
                if mi.ir.l > 0:
                    anchors.check_degree(str(mi.ir), what=f"target {t.name!r}")
        return space

    def set_anchors(self, anchors: AnchorSet | Any) -> None:
        """Replace the anchor provider (same ``space``; targets re-checked). A provider with
        ``per_stage = True`` gets fresh :class:`~gdl.nn.PointwiseGroupConv` shortcuts between
        consecutive stages (in the dtype and on the device of the model); any other provider the
        identity shortcuts."""
        self._check_anchors(anchors)
        self.anchors = anchors
        if getattr(anchors, "per_stage", False):
            p = next(self.embedding.parameters())
            c = self.hidden_channels
            self.shortcuts = nn.ModuleList(
                [PointwiseGroupConv(c, c, kernel_channels=c) for _ in range(self.num_layers)]
            ).to(dtype=p.dtype, device=p.device)
        else:
            self.shortcuts = None

    def reset_parameters(self) -> None:
        self.embedding.reset_parameters()
        self.lift.reset_parameters()
        for m in [*self.convs, *self.norms, *self.readouts.values(), *(self.shortcuts or ())]:
            m.reset_parameters()

    def stage_anchors(self, anchors: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The anchors of every stage (lifting, then the output of each convolution; the readouts use
        the last) from what the provider returned: one tensor for all stages, or a sequence of
        ``num_layers + 1`` tensors with equal anchor counts (per-layer anchors, e.g.
        :class:`gdl.symmetry.PartialAnchors`, whose ``per_stage`` is true). Convolution ``t`` maps
        stage ``t`` to stage ``t + 1``, and so does its pointwise group convolution shortcut."""
        if isinstance(anchors, torch.Tensor):
            return (anchors,) * (self.num_layers + 1)
        if self.shortcuts is None:
            raise ValueError(
                f"{type(self).__name__}: the anchor provider returned one anchor set per stage but does not "
                f"declare `per_stage = True`, so the model has no shortcuts between stages (adding features "
                f"of different anchor sets by index is not a group operation); set `per_stage = True` on "
                f"the provider class and pass it to the constructor or to set_anchors"
            )
        stages = tuple(anchors)
        if len(stages) != self.num_layers + 1 or len({int(a.shape[0]) for a in stages}) != 1:
            raise ValueError(
                f"{type(self).__name__}: per-stage anchors must be {self.num_layers + 1} tensors (lifting + "
                f"{self.num_layers} convolutions) with equal anchor counts, got "
                f"{[tuple(a.shape) for a in stages]}"
            )
        return stages

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        if not torch.compiler.is_compiling():
            self.validate(data)
        pos, edge_index = data.pos, data.edge_index
        n = pos.shape[0]
        stages = self.stage_anchors(self.anchors(dtype=pos.dtype, device=pos.device))  # one call per pass
        edge_vec = edge_vectors(pos, edge_index, getattr(data, "edge_vec", None))
        # the layers' unit of length (class docstring, Units)
        pos, edge_vec = in_length_unit(pos, self.length_scale), in_length_unit(edge_vec, self.length_scale)
        h = self.embedding(n, z=getattr(data, "z", None), x=getattr(data, "x", None))
        vec = self.inputs.vectors(data)
        f = self.lift(h, pos, edge_index, anchors=stages[0], vec=vec, edge_vec=edge_vec)  # [N, A, C]
        for t, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            R_in, R_out = stages[t], stages[t + 1]
            out_anchors = None if R_out is R_in else R_out
            skip = f if self.shortcuts is None else self.shortcuts[t](f, R_in, R_out)
            h = self.act(norm(f))
            f = skip + conv(h, pos, edge_index, anchors=R_in, edge_vec=edge_vec, anchors_out=out_anchors)
        f = self.act(self.norms[-1](f))
        R = stages[-1]
        batch = self.batch_vector(data)
        num_graphs = self.num_graphs(data)
        out: dict[str, torch.Tensor] = {}
        for name, level, _ in self.target_specs:
            readout = self.readouts[name]
            if level == "node":
                out[name] = readout(f, R)
            else:
                out[name] = readout(f, R, batch=batch, num_graphs=num_graphs, reduce=self.reduce)
        return out

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"anchors={self.anchors!r}, inputs={self.inputs}, reduce={self.reduce!r}"
        )
