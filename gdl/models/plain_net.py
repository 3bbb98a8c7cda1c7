r"""PlainNet: the no-symmetry baseline (:class:`~gdl.nn.PlainConv` layers, raw-component readout)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..keys import TargetLike
from ..nn.conv.plain_conv import PlainConv
from ..nn.geometry import safe_norm
from ..nn.radial import CosineCutoff
from ..nn.scalar_readout import PlainReadout, ReadoutFactory
from .inputs import NodeInputs
from .scalar_base import ScalarModelBase

__all__ = ["PlainNet"]


class PlainNet(ScalarModelBase):
    r"""A message-passing network with no built-in rotation symmetry: relative vectors enter as raw
    numbers (:class:`~gdl.nn.PlainConv`) and every output component is a raw number
    (:class:`~gdl.nn.PlainReadout`), for targets of any irreps at graph and node level.

    .. math::
        h^0_i = \mathrm{Emb}(z_i, x_i) + W\,[v_{i1}, \dots] , \quad
        h^{l+1} = \mathrm{PlainConv}_l(h^l, \{r_{ij}\}), \quad
        y = \mathrm{PlainReadout}(h^L)

    Vector inputs enter as their raw components. It is the backbone that the ``augment``,
    ``frame_average`` and ``rpp`` strategies wrap, so its outputs have the declared shapes
    (``[B or N, irreps.dim]``, ``2e`` slots in e3nn's basis order) even though nothing makes them
    transform as declared.

    Units: it reads ``pos`` as given and ignores ``inputs.length_scale``
    (:attr:`reads_length_scale` is ``False``): its outputs do not scale with the coordinates (the
    readout reads ``h`` only), and on the galaxy velocity task (Mpc/h) PlainNet + augment learned
    less with coordinates in units of the clouds' spacing than with raw Mpc/h (measured in
    ``conf/ablation/galaxy_velocity_scaling.yaml``).

    Symmetry: translation-invariant and permutation-equivariant; **not** rotation- or
    reflection-equivariant (measured: relative rotation error well above ``1e-2``; see the tests).

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`); any irreps.
        hidden_channels: width of node features and MLPs. Default ``128``.
        num_layers: number of :class:`~gdl.nn.PlainConv` layers. Default ``4``.
        num_types: atom-type vocabulary (``0`` ignores ``z``). Default ``10``.
        in_channels: width of node features ``x`` (``0`` ignores ``x``). Default ``0``.
        cutoff: radius of the cosine cutoff on messages. Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        readout: readout class or factory. Default :class:`~gdl.nn.PlainReadout`.

    Shapes:
        ``Batch`` -> ``{name: [B or N, irreps.dim]}`` as :class:`~gdl.models.EGNN`.
    """

    #: raw coordinates (class docstring, Units)
    reads_length_scale: ClassVar[bool] = False

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 128,
        num_layers: int = 4,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        readout: ReadoutFactory = PlainReadout,
    ):
        super().__init__(targets, hidden_channels, num_layers, inputs, cutoff, reduce)
        v = len(self.vector_inputs)
        self.convs = nn.ModuleList(
            [
                PlainConv(self.hidden_channels, radial=CosineCutoff(self.unit_cutoff))
                for _ in range(self.num_layers)
            ]
        )
        self.vector_linear = nn.Linear(3 * v, self.hidden_channels, bias=False) if v else None
        self.readout = self.build_readout(readout, vector_channels=v)

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        pos, edge_index = self.positions(data), data.edge_index  # as given (reads_length_scale)
        h = self.embed(data)
        vel = self.vectors(data)  # [N, V, 3] or None
        if self.vector_linear is not None and vel is not None:
            h = h + self.vector_linear(vel.flatten(1))  # raw components
        r = self.edge_vectors(data)
        # the layers share one envelope (the same cutoff): computed once for all of them
        env = self.convs[0].radial(safe_norm(r)) if len(self.convs) else None
        for conv in self.convs:
            h = conv(h, pos, edge_index, edge_vec=r, edge_radial=env)
        return self.readout(h, edge_index, r, self.batch_vector(data), self.num_graphs(data), node_vec=vel)
