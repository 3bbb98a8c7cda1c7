r"""MACE: many-body equivariant messages on e3nn irreps, with typed readouts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from e3nn import o3
from torch import nn

from ..keys import TargetLike
from ..nn.conv.mace_conv import MACEConv, atomic_irreps, product_basis_irreps
from ..nn.irreps import so3_label, spherical_harmonics_irreps
from .inputs import NodeInputs
from .irreps_model import L_MAX_RANGE, IrrepsModel

__all__ = ["MACE"]


class MACE(IrrepsModel):
    r"""MACE (`Batatia, Kovács, Simm, Ortner & Csányi 2022 <https://arxiv.org/abs/2206.07697>`_):
    ``num_layers`` :class:`~gdl.nn.MACEConv` layers, each a symmetric contraction of a two-body
    atomic basis up to ``correlation`` :math:`\nu` (messages of body order :math:`\nu + 1`), then an
    equivariant linear readout per target.

    .. math::
        h^{(0)}_i = \mathrm{Emb}(z_i, x_i) \oplus v_i, \qquad
        h^{(t+1)} = \mathrm{MACEConv}_\nu\bigl(h^{(t)}, p, z\bigr), \qquad
        y = \mathrm{Readout}\bigl(h^{(T)}\bigr)

    Three orders are set apart, as in the MACE paper: the **message order** ``l_max`` (spherical
    harmonics and the atomic basis), the **feature order** ``hidden_l_max`` (what the layers carry:
    ``hidden_channels`` copies of ``0e+1o+...`` up to it, natural parities as in MACE; ``0`` keeps
    scalar features only) and the **body order** ``correlation + 1``. The last layer also emits
    ``hidden_channels`` copies of each target irrep the features lack (a dipole from a scalar-feature
    model), and each layer keeps only the irreps its product basis reaches. The contraction weights
    are learned per atom type (``z``, when ``num_types > 0``). Spherical harmonics and the radial basis
    are computed once per forward pass and shared by all layers; each layer's self-interaction is
    its residual (MACE's update), and the readout acts on the last layer (MACE sums a readout per
    layer).

    Args:
        targets: typed targets (:func:`gdl.keys.as_targets`); graph or node level, any irreps the
            last layer's product basis reaches.
        hidden_channels: channels per irrep (also the channels of the atomic basis). Default ``32``.
        num_layers: number of :class:`~gdl.nn.MACEConv` layers (``>= 1``). Default ``2``.
        inputs: node inputs (:class:`~gdl.models.NodeInputs`; with ``num_types > 0`` the contraction
            weights are learned per atom type, with ``0`` they are shared). Default ``None``: 10
            atom types.
        cutoff: radius of the radial basis' smooth cutoff, in the units of ``pos``; the layers read
            it and the coordinates in units of ``inputs.length_scale``
            (:class:`~gdl.models.IrrepsModel`, Units). Default ``5.0``.
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        l_max: message order: largest degree of the spherical harmonics and the atomic basis, in
            ``{0, 1, 2, 3}``. Default ``2``.
        **kwargs: options (:class:`~gdl.models.IrrepsModel` explains the grouping). Model options:
            ``parity`` (O(3) or SO(3)-only; default ``True``) and ``hidden_l_max`` (the feature
            order, in ``{0, 1, 2, 3}``; default ``0``, scalar features). Layer options, forwarded
            to every :class:`~gdl.nn.MACEConv`: ``correlation`` (:math:`\nu \ge 1`, the order of
            the symmetric contraction; default ``3``), ``avg_num_neighbors`` (:math:`\bar n`, each
            layer divides its sum by it; set it to the mean in-degree of the training graphs;
            default ``16.0``), ``gate`` (a gated nonlinearity after each layer; default ``False``,
            MACE's: the products are the nonlinearity) and ``radial_hidden`` (default ``64``).

    Shapes:
        ``Batch`` with ``pos [N, 3]``, ``edge_index [2, E]``, optional ``edge_vec [E, 3]``, ``z [N]``,
        ``x [N, in_channels]``, vector inputs ``[N, 3]``, ``batch [N]`` ->
        ``{name: [B, irreps.dim] (graph) or [N, irreps.dim] (node)}``, each output transforming by
        its target irreps (O(3), or SO(3) with ``parity=False``).
    """

    model_options: ClassVar[dict[str, Any]] = {"parity": True, "hidden_l_max": 0}
    layer_options: ClassVar[dict[str, Any]] = {
        "correlation": 3,
        "avg_num_neighbors": 16.0,
        "gate": False,
        "radial_hidden": 64,
    }

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 32,
        num_layers: int = 2,
        inputs: NodeInputs | Mapping[str, Any] | None = None,
        cutoff: float = 5.0,
        reduce: str = "sum",
        l_max: int = 2,
        **kwargs: Any,
    ):
        super().__init__(targets, hidden_channels, num_layers, inputs, cutoff, reduce, l_max, **kwargs)

    def check_options(self) -> None:
        c = self.correlation
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            raise ValueError(f"MACE: correlation must be an integer >= 1, got {c!r}")
        h = self.hidden_l_max
        if h not in L_MAX_RANGE or isinstance(h, bool):
            raise ValueError(f"MACE: hidden_l_max must be one of {L_MAX_RANGE}, got {h!r}")

    def build_layers(self) -> list[nn.Module]:
        c = self.hidden_channels
        hidden = o3.Irreps([(c, ir) for _, ir in spherical_harmonics_irreps(self.hidden_l_max, self.parity)])
        present = {ir for _, ir in hidden}
        extra: list[tuple[int, o3.Irrep]] = []
        for t in self.targets:
            for _, ir in t.irreps if self.parity else so3_label(t.irreps):
                if ir not in present:
                    present.add(ir)
                    extra.append((c, ir))
        last = hidden + o3.Irreps(extra)
        layers, irreps = [], self.irreps_input
        for k in range(self.num_layers):
            wanted = last if k == self.num_layers - 1 else hidden
            out = product_basis_irreps(atomic_irreps(irreps, self.irreps_sh), self.correlation, wanted)
            layers.append(
                MACEConv(
                    irreps,
                    out,
                    self.irreps_sh,
                    channels=c,
                    num_types=max(self.num_types, 1),
                    radial=self.radial,
                    **self.layer_kwargs,
                )
            )
            irreps = out
        return layers

    def layer_inputs(self, data: Any) -> dict[str, torch.Tensor]:
        """Each node's type picks its contraction weights (checked in ``validate``)."""
        return {"node_type": data.z} if self.num_types > 0 else {}
