"""Count the host synchronisations a piece of code makes.

A host synchronisation is any point where the host must wait for a tensor's *value*:
``bool(t)``, ``int(t)``, ``t.item()``, ``t.tolist()``, and the ops whose output shape depends on the
data (``nonzero``, boolean-mask indexing, ``masked_select``, ``unique``, ``repeat_interleave``
without ``output_size``, ``bincount``). On a GPU each one stalls the stream; gdl keeps them out of
layer forward passes (see :mod:`gdl.debug`). The counter works on CPU tensors too, so tests can
assert the count without a GPU::

    from gdl.testing import count_host_syncs

    with count_host_syncs() as syncs:
        conv(x, pos, edge_index)
    assert syncs.count == 0, syncs.ops

It watches the ATen dispatcher (``_local_scalar_dense`` is the op behind ``item``/``bool``/``int``)
through a ``TorchDispatchMode``, plus ``tolist``/``numpy`` through a ``TorchFunctionMode`` (those two
do not reach the dispatcher).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["HostSyncs", "count_host_syncs"]

#: ATen ops (overload packets) that always wait for a value.
_SYNC_OPS = frozenset(
    {
        "_local_scalar_dense",
        "nonzero",
        "nonzero_static",
        "masked_select",
        "unique",
        "_unique",
        "_unique2",
        "unique_dim",
        "unique_consecutive",
        "bincount",
        "argwhere",
    }
)


def _has_bool_index(args) -> bool:
    idx = args[1] if len(args) > 1 else ()
    return any(isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in (idx or ()))


@dataclass
class HostSyncs:
    """What :func:`count_host_syncs` saw: ``ops`` counts each synchronising op by name."""

    ops: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.ops.values())


class _Dispatch(TorchDispatchMode):
    def __init__(self, record: HostSyncs):
        super().__init__()
        self.record = record

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in _SYNC_OPS:
            self.record.ops[name] += 1
        elif (
            name == "repeat_interleave"
            and kwargs.get("output_size") is None
            and isinstance(args[0], torch.Tensor)
            and len(args) == 1
        ):
            self.record.ops[name] += 1
        elif name == "index" and _has_bool_index(args):
            self.record.ops["index (boolean mask)"] += 1
        return func(*args, **kwargs)


class _Function(TorchFunctionMode):
    def __init__(self, record: HostSyncs):
        super().__init__()
        self.record = record

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("tolist", "numpy", "__array__"):
            self.record.ops[name] += 1
        return func(*args, **(kwargs or {}))


class count_host_syncs:  # noqa: N801 - used as a context manager, like torch's modes
    """Context manager that records host synchronisations inside its block (see module docs).
    Yields a :class:`HostSyncs`."""

    def __init__(self) -> None:
        self.record = HostSyncs()
        self._modes = (_Function(self.record), _Dispatch(self.record))

    def __enter__(self) -> HostSyncs:
        for m in self._modes:
            m.__enter__()
        return self.record

    def __exit__(self, *exc) -> None:
        for m in reversed(self._modes):
            m.__exit__(*exc)
