"""What a model reads from each node besides ``pos``, and the unit it reads ``pos`` in: one value,
:class:`NodeInputs`.

Every gdl model takes ``inputs=NodeInputs(num_types, in_channels, vector_inputs, length_scale)`` —
the values the Hydra configs keep in their top-level ``inputs:`` block (``model.inputs: ${inputs}``) —
instead of loose constructor arguments. The validation of those inputs, the value checks on
the vector fields (once per forward, at the model boundary) and the gathering of the vectors into an
``[N, V, 3]`` tensor live here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..keys import FIELDS
from ..nn._checks import check_types, values_checked
from ..nn.embedding import NodeEmbedding

__all__ = ["NodeInputs", "check_model_core", "in_length_unit"]


@dataclass(frozen=True)
class NodeInputs:
    """The node inputs of a model.

    Args:
        num_types: size of the atom-type vocabulary (``z`` in ``[0, num_types)``); ``0``: no types.
        in_channels: width of the per-node invariant features ``x`` (``0``: none).
        vector_inputs: names of node-level ``[N, 3]`` ``1o`` fields the model reads as vectors
            (e.g. ``("vel",)`` for N-body); a single name may be given as a string.
        length_scale: the length in which the network reads coordinates, in the units of ``pos``:
            :class:`~gdl.models.EGNN`, :class:`~gdl.models.InvariantNet` (through
            :class:`~gdl.models.scalar_base.ScalarModelBase`), :class:`~gdl.models.GroupConvNet`
            and the irreps-route models :class:`~gdl.models.TFN`,
            :class:`~gdl.models.SE3Transformer` and :class:`~gdl.models.MACE` (through
            :class:`~gdl.models.IrrepsModel`) divide ``pos``, ``edge_vec`` and their ``cutoff`` by
            it before any layer, because their MLPs and readouts read raw coordinates (EGNN's
            ``|x_i - x_j|^2``, the readouts' ``sum_j w_ij r_ij``, the Bessel bases of GroupConvNet
            and the irreps models, of units length^-3/2): with neighbours tens of units apart
            (galaxies in Mpc/h) their activations and outputs start orders of magnitude too large
            or too small and training fails or becomes seed-dependent. Set it to a typical
            neighbour distance (e.g. the mean inter-particle spacing :math:`(V/N)^{1/3}`); ``1.0``
            (default) reads ``pos`` as given, as before (QM9 in Å, N-body). The vector inputs
            (velocities) are not lengths and are read as given, and no output is multiplied back by
            it. Those models' outputs are then unchanged when ``pos``, ``edge_vec``, ``cutoff`` and
            ``length_scale`` are all multiplied by one factor (a change of units).
            :class:`~gdl.models.PlainNet` (whose outputs do not scale with the coordinates) does
            not read it.

    ``NodeInputs.of(value)`` accepts a ``NodeInputs``, a mapping with those keys (a Hydra
    ``DictConfig``) or ``None`` (the defaults).
    """

    num_types: int = 10
    in_channels: int = 0
    vector_inputs: tuple[str, ...] = field(default=())
    length_scale: float = 1.0

    def __post_init__(self) -> None:
        vec = self.vector_inputs
        vec = (vec,) if isinstance(vec, str) else tuple(str(v) for v in vec)
        object.__setattr__(self, "vector_inputs", vec)
        object.__setattr__(self, "num_types", int(self.num_types))
        object.__setattr__(self, "in_channels", int(self.in_channels))
        object.__setattr__(self, "length_scale", float(self.length_scale))
        if self.num_types < 0 or self.in_channels < 0:
            raise ValueError(
                "NodeInputs: num_types and in_channels must be >= 0, "
                f"got {self.num_types}, {self.in_channels}"
            )
        if not (math.isfinite(self.length_scale) and self.length_scale > 0):
            raise ValueError(f"NodeInputs: length_scale must be finite and > 0, got {self.length_scale}")
        if len(set(vec)) != len(vec):
            raise ValueError(f"NodeInputs: vector_inputs has repeated names: {list(vec)}")
        for k in vec:
            info = FIELDS.get(k)
            if info is not None and (info.level != "node" or info.rep != "1o"):
                raise ValueError(
                    f"NodeInputs: vector input {k!r} is registered as {info.level} {info.rep}, not node 1o"
                )

    @classmethod
    def of(cls, value: NodeInputs | Mapping[str, Any] | None) -> NodeInputs:
        """``value`` as a :class:`NodeInputs` (see the class docstring)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping) or hasattr(value, "items"):
            d = dict(value.items())
            unknown = sorted(set(d) - {"num_types", "in_channels", "vector_inputs", "length_scale"})
            if unknown:
                raise ValueError(
                    f"NodeInputs: unknown keys {unknown}; expected num_types, in_channels, vector_inputs, "
                    "length_scale"
                )
            if "vector_inputs" in d and not isinstance(d["vector_inputs"], str):
                d["vector_inputs"] = tuple(d["vector_inputs"])
            return cls(**d)
        raise TypeError(f"inputs must be a NodeInputs or a mapping, got {type(value).__name__}")

    @property
    def num_vectors(self) -> int:
        """The number of vector inputs ``V``."""
        return len(self.vector_inputs)

    def embedding(self, out_channels: int) -> NodeEmbedding:
        """The node embedding of ``z`` and/or ``x`` into ``out_channels`` invariant features."""
        return NodeEmbedding(out_channels, num_types=self.num_types, in_channels=self.in_channels)

    def check(self, data: Any, model: str = "model", *, values: bool | None = True) -> None:
        """Each vector input is present as a floating ``[N, 3]`` tensor (and finite, when values
        are checked: by default, since models call this once per forward), and atom types ``z``,
        when the model reads them, lie in ``[0, num_types)``."""
        n = data.pos.shape[0]
        z = getattr(data, "z", None)
        if self.num_types > 0 and z is not None:
            check_types(z, n, self.num_types, values=values)
        for k in self.vector_inputs:
            v = getattr(data, k, None)
            if v is None:
                raise ValueError(
                    f"{model} needs vector input `{k}` [N, 3] in the batch; present: {sorted(data.keys())}"
                )
            if not isinstance(v, torch.Tensor) or v.shape != (n, 3) or not v.is_floating_point():
                what = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise ValueError(
                    f"{model}: vector input `{k}` must be a floating tensor of shape [{n}, 3], got {what}"
                )
            if values_checked(values) and not bool(torch.isfinite(v).all()):
                raise ValueError(f"{model}: vector input `{k}` contains NaN or inf")

    def vectors(self, data: Any) -> torch.Tensor | None:
        """The vector inputs stacked as ``[N, V, 3]`` in ``pos``'s dtype (``None`` when there are
        none). No checks: :meth:`check` has run in the model's ``validate``."""
        if not self.vector_inputs:
            return None
        return torch.stack([getattr(data, k).to(data.pos.dtype) for k in self.vector_inputs], dim=1)


def in_length_unit(length: torch.Tensor, length_scale: float) -> torch.Tensor:
    """``length`` (positions, edge vectors) in units of ``length_scale`` — the one rescaling of every
    model that reads :attr:`NodeInputs.length_scale`; at ``1.0`` the tensor itself (no operation, so
    unit-scale inputs such as QM9 and N-body take the old code path)."""
    return length if length_scale == 1.0 else length / length_scale


def check_model_core(
    model: str,
    hidden_channels: int,
    num_layers: int,
    cutoff: float | None = None,
    reduce: str | None = None,
    min_layers: int = 0,
    reduces: Sequence[str] = ("sum", "mean"),
) -> None:
    """The one validation of the arguments every model shares. ``min_layers`` is ``0`` where the
    readout can read the embedding directly and ``1`` where it reads the last layer's irreps."""
    if int(hidden_channels) < 1:
        raise ValueError(f"{model}: hidden_channels must be >= 1, got {hidden_channels}")
    if int(num_layers) < min_layers:
        raise ValueError(f"{model}: num_layers must be >= {min_layers}, got {num_layers}")
    if cutoff is not None and not float(cutoff) > 0:
        raise ValueError(f"{model}: cutoff must be > 0, got {cutoff}")
    if reduce is not None and reduce not in reduces:
        raise ValueError(f"{model}: reduce must be one of {list(reduces)}, got {reduce!r}")
