"""The base class of the scalarization-route models (EGNN, InvariantNet, PlainNet): the constructor
core of the model conventions, the node embedding, vector inputs and the injected readout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch

from ..keys import TargetLike
from ..nn.scalar_readout import Readout, ReadoutFactory
from .base import GDLModel
from .inputs import NodeInputs, check_model_core, in_length_unit

__all__ = ["ScalarModelBase", "readout_irreps"]


def readout_irreps(factory: Any) -> tuple[str, ...] | None:
    """The ``supported_irreps`` of a readout class or of a ``functools.partial`` of one (``None``:
    any irreps, or unknown)."""
    while hasattr(factory, "func"):  # functools.partial, possibly nested
        factory = factory.func
    return getattr(factory, "supported_irreps", None)


class ScalarModelBase(GDLModel):
    """Base of the scalarization-route models (EGNN, InvariantNet, PlainNet): stores the shared
    constructor core, embeds atom types/features, gathers vector inputs and builds the readout.
    Subclasses build the layers and write ``forward``.

    The constructors of these models take the model core explicitly (``targets``,
    ``hidden_channels``, ``num_layers``, ``inputs``, ``cutoff``, ``reduce``, ``readout``) and at
    most one model-specific knob (EGNN's ``attention``, InvariantNet's ``num_basis``), so each has at
    most 8 arguments without a ``**kwargs`` pass-through; the node inputs are one value,
    :class:`~gdl.models.NodeInputs`.

    Lengths: a model with :attr:`reads_length_scale` (EGNN, InvariantNet) reads coordinates in
    units of ``inputs.length_scale`` (:class:`~gdl.models.NodeInputs`): :meth:`edge_vectors` and
    :meth:`positions` return ``edge_vec / length_scale`` and ``pos / length_scale``, and the layers
    and readout are built with :attr:`unit_cutoff` ``= cutoff / length_scale``. With the default
    ``length_scale = 1``, or without :attr:`reads_length_scale` (PlainNet), nothing is rescaled (the
    same operations as without it).

    Args: the model core (see :class:`gdl.models.EGNN`).
    """

    #: whether the model reads coordinates in units of ``inputs.length_scale`` (else as given)
    reads_length_scale: ClassVar[bool] = True

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int,
        num_layers: int,
        inputs: NodeInputs | Mapping[str, Any] | None,
        cutoff: float,
        reduce: str,
    ):
        super().__init__(targets)
        # num_layers may be 0: the readouts read the embedding directly
        check_model_core(type(self).__name__, hidden_channels, num_layers, cutoff, reduce)
        self.inputs = NodeInputs.of(inputs)
        self.hidden_channels, self.num_layers = int(hidden_channels), int(num_layers)
        self.cutoff, self.reduce = float(cutoff), reduce
        #: the unit of length of the layers, in the units of ``pos`` (``inputs.length_scale``)
        self.length_scale = self.inputs.length_scale if self.reads_length_scale else 1.0
        #: the cutoff in that unit: the radius the layers' and readout's radial functions are built on
        self.unit_cutoff = self.cutoff / self.length_scale
        self.embedding = self.inputs.embedding(self.hidden_channels)

    @property
    def vector_inputs(self) -> tuple[str, ...]:
        """The names of the vector inputs (``self.inputs.vector_inputs``; read by strategies)."""
        return self.inputs.vector_inputs

    @property
    def num_types(self) -> int:
        return self.inputs.num_types

    @property
    def in_channels(self) -> int:
        return self.inputs.in_channels

    def reset_parameters(self) -> None:
        """Reset every submodule through its own ``reset_parameters`` (outermost first, so layers
        keep their special initialisations)."""

        def reset(module: torch.nn.Module) -> None:
            for child in module.children():
                if callable(getattr(child, "reset_parameters", None)):
                    child.reset_parameters()
                else:
                    reset(child)

        reset(self)

    def build_readout(self, readout: ReadoutFactory, vector_channels: int) -> Readout:
        """Check the targets against what ``readout`` can produce (an error naming the model and
        the target), then build it for ``hidden_channels``-wide invariant features."""
        supported = readout_irreps(readout)
        if supported is not None:
            self.check_targets(supported)
        out = readout(
            self.targets,
            self.hidden_channels,
            cutoff=self.unit_cutoff,
            reduce=self.reduce,
            vector_channels=vector_channels,
        )
        if not isinstance(out, Readout):
            raise TypeError(
                f"{type(self).__name__}: readout must build a gdl.nn.Readout, got {type(out).__name__}"
            )
        return out

    def embed(self, data: Any) -> torch.Tensor:
        """Invariant node features ``[N, hidden_channels]`` from ``z`` and/or ``x``."""
        z, x = getattr(data, "z", None), getattr(data, "x", None)
        # z's range was checked in validate (NodeInputs.check): no second synchronisation here
        return self.embedding(data.pos.shape[0], z=z, x=x)  # z's range: checked in validate

    def edge_vectors(self, data: Any) -> torch.Tensor:
        """``data.edge_vec`` if present (minimum image in periodic boxes), else ``pos[j] - pos[i]``
        ``[E, 3]``, divided by :attr:`length_scale`; no validation (``validate(data)`` has checked
        the batch already)."""
        given = getattr(data, "edge_vec", None)
        if given is not None:
            r = given.to(data.pos.dtype)
        else:
            r = data.pos[data.edge_index[0]] - data.pos[data.edge_index[1]]
        return in_length_unit(r, self.length_scale)

    def positions(self, data: Any) -> torch.Tensor:
        """``data.pos [N, 3]`` divided by :attr:`length_scale` (the layers' unit of length)."""
        return in_length_unit(data.pos, self.length_scale)

    def vectors(self, data: Any) -> torch.Tensor | None:
        """The vector inputs stacked as ``[N, V, 3]`` (``None`` when there are none); checked in
        ``validate`` (:meth:`gdl.models.NodeInputs.check`), so no synchronisation here."""
        return self.inputs.vectors(data)

    def extra_repr(self) -> str:
        return (
            super().extra_repr() + f", hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"inputs={self.inputs}, cutoff={self.cutoff}, reduce={self.reduce!r}"
        )
