"""What the scalarization-route models (EGNN, InvariantNet, PlainNet) share: the constructor core of
the model conventions, the node embedding, vector inputs and the injected readout."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ..keys import FIELDS, TargetLike
from ..nn.embedding import NodeEmbedding
from ..nn.scalar_readout import Readout, ReadoutFactory
from .base import GDLModel

__all__ = ["ScalarModelBase", "readout_irreps"]


def readout_irreps(factory: Any) -> tuple[str, ...] | None:
    """The ``supported_irreps`` of a readout class or of a ``functools.partial`` of one (``None``:
    any irreps, or unknown)."""
    while hasattr(factory, "func"):  # functools.partial, possibly nested
        factory = factory.func
    return getattr(factory, "supported_irreps", None)


class ScalarModelBase(GDLModel):
    """Base of the scalarization-route models: stores the shared constructor arguments, embeds
    atom types/features, reads vector inputs and builds the readout. Subclasses build the layers and
    write ``forward``.

    Args: the model conventions' core (see :class:`gdl.models.EGNN`).
    """

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int,
        num_layers: int,
        num_types: int,
        in_channels: int,
        cutoff: float,
        vector_inputs: Sequence[str],
        reduce: str,
    ):
        super().__init__(targets)
        name = type(self).__name__
        if hidden_channels < 1 or num_layers < 0:
            raise ValueError(
                f"{name}: need hidden_channels >= 1 and num_layers >= 0, got {hidden_channels}, {num_layers}"
            )
        if cutoff <= 0:
            raise ValueError(f"{name}: cutoff must be > 0, got {cutoff}")
        if reduce not in ("sum", "mean"):
            raise ValueError(f"{name}: reduce must be 'sum' or 'mean', got {reduce!r}")
        if isinstance(vector_inputs, str):
            vector_inputs = (vector_inputs,)
        self.vector_inputs: tuple[str, ...] = tuple(vector_inputs)
        for k in self.vector_inputs:
            info = FIELDS.get(k)
            if info is not None and (info.level != "node" or info.rep != "1o"):
                raise ValueError(
                    f"{name}: vector input {k!r} is registered as {info.level} {info.rep}, not node 1o"
                )
        self.hidden_channels, self.num_layers = int(hidden_channels), int(num_layers)
        self.num_types, self.in_channels = int(num_types), int(in_channels)
        self.cutoff, self.reduce = float(cutoff), reduce
        self.embedding = NodeEmbedding(
            self.hidden_channels, num_types=self.num_types, in_channels=self.in_channels
        )

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
            cutoff=self.cutoff,
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
        return self.embedding(data.pos.shape[0], z=getattr(data, "z", None), x=getattr(data, "x", None))

    @staticmethod
    def edge_vectors(data: Any) -> torch.Tensor:
        """``data.edge_vec`` if present (minimum image in periodic boxes), else ``pos[j] - pos[i]``
        ``[E, 3]``; no validation (``validate(data)`` has checked the batch already)."""
        given = getattr(data, "edge_vec", None)
        if given is not None:
            return given.to(data.pos.dtype)
        return data.pos[data.edge_index[0]] - data.pos[data.edge_index[1]]

    def vectors(self, data: Any) -> torch.Tensor | None:
        """The vector inputs stacked as ``[N, V, 3]`` (``None`` when there are none), validated."""
        if not self.vector_inputs:
            return None
        n, name = data.pos.shape[0], type(self).__name__
        out = []
        for k in self.vector_inputs:
            v = getattr(data, k, None)
            if v is None:
                raise ValueError(
                    f"{name} needs vector input `{k}` [N, 3] in the batch; present: {sorted(data.keys())}"
                )
            if (
                not isinstance(v, torch.Tensor)
                or v.dim() != 2
                or v.shape != (n, 3)
                or not v.is_floating_point()
            ):
                what = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise ValueError(
                    f"{name}: vector input `{k}` must be a floating tensor of shape [{n}, 3], got {what}"
                )
            if not torch.compiler.is_compiling() and not bool(torch.isfinite(v).all()):
                raise ValueError(f"{name}: vector input `{k}` contains NaN or inf")
            out.append(v.to(data.pos.dtype))
        return torch.stack(out, dim=1)

    def extra_repr(self) -> str:
        return (
            super().extra_repr() + f", hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"cutoff={self.cutoff}, vector_inputs={list(self.vector_inputs)}, reduce={self.reduce!r}"
        )
