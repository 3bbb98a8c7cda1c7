"""A debug switch for gdl, in the spirit of ``torch_geometric.debug``.

Value checks — NaN/inf coordinates, ``edge_index`` entries outside ``[0, N)`` — need the device to
report a value to the host (a synchronisation, a stall on a GPU). gdl therefore makes them **once per
forward pass, at the model boundary** (:func:`gdl.models.check_batch`), and bare layers make only
shape checks, which are free. When you use a layer on its own and want the value checks too, turn
them on::

    import gdl

    with gdl.debug():
        out = conv(x, pos, edge_index)   # raises on NaN positions or bad edge indices

    gdl.set_debug(True)                  # or for the rest of the program

:func:`is_debug_enabled` is what the checks consult.
"""

from __future__ import annotations

__all__ = ["debug", "is_debug_enabled", "set_debug"]

_DEBUG: bool = False


def is_debug_enabled() -> bool:
    """Whether layers run their value checks (see :mod:`gdl.debug`)."""
    return _DEBUG


def set_debug(mode: bool) -> None:
    """Turn the layers' value checks on or off for the rest of the program."""
    global _DEBUG
    _DEBUG = bool(mode)


class debug:  # noqa: N801 - a context manager named like the switch it sets, as in torch_geometric
    """Context manager (and decorator) that turns the layers' value checks on inside a block and
    restores the previous setting on exit."""

    def __init__(self) -> None:
        self._prev = False

    def __enter__(self) -> debug:
        self._prev = is_debug_enabled()
        set_debug(True)
        return self

    def __exit__(self, *exc) -> None:
        set_debug(self._prev)

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with debug():
                return fn(*args, **kwargs)

        return wrapped
