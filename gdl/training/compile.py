r"""``torch.compile`` as a training option (``module.compile`` in ``conf/train.yaml``).

:class:`CompiledForward` wraps a model's forward pass in ``torch.compile`` the first time it is
called. Compilation happens at that first call (Dynamo traces, the backend generates code); when it
fails, the error names the model and the deepest submodule that fails to compile on its own inputs
(found by compiling the model's children top-down on the inputs they received in an eager pass),
instead of a bare compiler traceback. There is no silent fallback to eager.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["CompileError", "CompiledForward", "compile_options", "failing_module"]

#: ``torch.compile`` keyword arguments that the option accepts.
COMPILE_KEYS = ("backend", "mode", "dynamic", "fullgraph", "options")


class CompileError(RuntimeError):
    """``torch.compile`` of a model failed; the message names the submodule that fails."""


def compile_options(value: bool | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``None`` (eager) for ``False``/``None``; ``{}`` for ``True``; else the validated mapping of
    ``torch.compile`` arguments (``backend``, ``mode``, ``dynamic``, ``fullgraph``, ``options``)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"compile must be true, false or a mapping of torch.compile arguments, got {value!r}")
    unknown = sorted(set(value) - set(COMPILE_KEYS))
    if unknown:
        raise ValueError(f"compile: unknown torch.compile argument(s) {unknown}; valid: {list(COMPILE_KEYS)}")
    return dict(value)


class CompiledForward:
    """A callable running ``torch.compile(model, **options)``, compiled at its first call (see the
    module docstring). Not an ``nn.Module``, so the model's state dict is unchanged.

    Args:
        model: the module to compile.
        options: keyword arguments of ``torch.compile``.
    """

    def __init__(self, model: nn.Module, options: Mapping[str, Any]):
        self.model, self.options = model, dict(options)
        self._compiled: Any = None
        self._checked = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is None:
            self._compiled = torch.compile(self.model, **self.options)
        if self._checked:
            return self._compiled(*args, **kwargs)
        try:
            out = self._compiled(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - re-raised with the failing module named
            where = failing_module(self.model, args, kwargs, self.options)
            name = type(self.model).__name__
            raise CompileError(
                f"compile=true: torch.compile({name}, {self.options}) failed; the failing module is "
                f"{where} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
                "Train with compile=false, or change that module"
            ) from e
        self._checked = True
        return out


def failing_module(
    model: nn.Module, args: tuple, kwargs: Mapping[str, Any], options: Mapping[str, Any]
) -> str:
    """The qualified name and class of the deepest submodule of ``model`` that fails to compile
    with ``options`` on the inputs it gets in an eager forward pass (``"<model> itself"`` when every
    child compiles); top-down: a failing child is searched further, its first failing child next."""
    inputs: dict[str, tuple[tuple, dict]] = {}

    def capture(name: str):
        def hook(module, a, kw):
            inputs.setdefault(name, (a, dict(kw)))

        return hook

    handles = [
        m.register_forward_pre_hook(capture(name), with_kwargs=True)
        for name, m in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the eager pass itself fails: say so
        return f"none: the eager forward pass fails too ({type(e).__name__}: {e})"
    finally:
        for h in handles:
            h.remove()

    def fails(module: nn.Module, name: str) -> bool:
        a, kw = inputs[name]
        try:
            with torch.no_grad():
                torch.compile(module, **options)(*a, **kw)
        except Exception:  # noqa: BLE001 - a failure is what is looked for
            return True
        return False

    prefix, label = "", f"{type(model).__name__} itself"
    module = model
    while True:
        failing = None
        for child_name, child in module.named_children():
            name = f"{prefix}{child_name}"
            if name in inputs and fails(child, name):
                failing = (name, child)
                break
        if failing is None:
            return label
        name, module = failing
        prefix, label = f"{name}.", f"`{name}` ({type(module).__name__})"
