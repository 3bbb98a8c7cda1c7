r"""Numeric equivariance checks that speak PyG.

:func:`equivariance_error` applies random group elements to the typed inputs of a function or
module — rotations, reflections, translations and node permutations — and compares its output on
the transformed input with the transformed output:

.. math::
    \mathrm{err}(f, g) = \frac{\lVert f(g \cdot x) - g \cdot f(x) \rVert}
                              {\max(\lVert g \cdot f(x) \rVert, \lVert f(g \cdot x) \rVert)}

per output field (Frobenius norms over the whole field; 0 when both are exactly zero), maximised
over ``n_samples`` draws of each kind of transformation. A relative error is ill-conditioned for an
output that vanishes by symmetry (the dipole of a symmetric molecule is rounding noise): test on
inputs without such symmetry, as random point clouds are. Inputs may be a PyG ``Data``/``Batch``
(``fn(data)``), a ``dict`` of tensors (``fn(**inputs)``), a tuple of tensors (``fn(*inputs)``) or
one tensor (``fn(x)``); outputs a tensor, tuple, dict or ``Data``.

Types come from, in order: ``in_types``/``out_types``; for modules, their ``targets``
(:class:`gdl.keys.Target`, as gdl models declare them) and their ``vector_inputs`` (node ``1o``
inputs, read from the model or the model a strategy wraps); the field registry
:data:`gdl.keys.FIELDS`; and, for other ``Data`` fields, PyG's node/edge/graph guess with an
*invariant* representation — except floating-point node fields, which must be declared (a vector
held fixed under rotation would make an equivariant model fail, or a model that treats a vector as
scalars pass): the check refuses to run and names them. See :mod:`gdl.action` for how each
type transforms.

By default everything runs in float64: floating inputs are cast, a module is deep-copied, cast and
put in eval mode, and torch's default dtype is switched to float64 for the duration (e3nn builds
its constants in the default dtype) and restored afterwards.

Modelled on ``e3nn.util.test`` (``assert_equivariant``/``equivariance_error``), extended with
permutations, graph/node/edge levels and PyG data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from ..action import (
    FieldType,
    GroupElement,
    _permute,
    act,
    field_type,
    permute_within_graphs,
    resolve_data_types,
)
from ..dtype import default_dtype
from ..groups.so3 import as_generator, check_rotations, haar
from ..keys import FIELDS

__all__ = [
    "TRANSFORMS",
    "EquivarianceErrors",
    "assert_equivariant",
    "declared_vector_inputs",
    "equivariance_error",
]

#: The kinds of transformation tested, in table order.
TRANSFORMS: tuple[str, ...] = ("rotation", "reflection", "translation", "permutation")


class EquivarianceErrors(dict):
    """Relative equivariance error per output field (the maximum over all transformations tested).

    Attributes:
        table: ``{field: {transform: error}}`` with transforms among :data:`TRANSFORMS`.
    """

    def __init__(self, table: dict[str, dict[str, float]]):
        super().__init__({f: max(row.values()) if row else 0.0 for f, row in table.items()})
        self.table = table

    @property
    def transforms(self) -> list[str]:
        seen = {t for row in self.table.values() for t in row}
        return [t for t in TRANSFORMS if t in seen]

    def by_transform(self, transform: str) -> dict[str, float]:
        """``{field: error}`` for one kind of transformation (``"rotation"``, ...)."""
        if transform not in self.transforms:
            raise KeyError(f"transform {transform!r} was not tested; tested: {self.transforms}")
        return {f: row[transform] for f, row in self.table.items() if transform in row}

    def max(self) -> float:
        return max(self.values()) if self else 0.0

    def __str__(self) -> str:
        cols = self.transforms
        width = max([len("field")] + [len(f) for f in self.table])
        head = f"{'field':<{width}}  " + "  ".join(f"{c:>11}" for c in cols)
        lines = [head, "-" * len(head)]
        for f, row in self.table.items():
            lines.append(
                f"{f:<{width}}  " + "  ".join(f"{row[c]:>11.3e}" if c in row else f"{'-':>11}" for c in cols)
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# inputs and outputs as named, typed tensors
# ---------------------------------------------------------------------------------------------
class _Inputs:
    """Inputs in one of four forms, with a type per tensor and a way to call ``fn``."""

    def __init__(self, inputs: Any, in_types: Any, dtype: torch.dtype | None):
        self.kind: str
        if _is_data(inputs):
            self.kind = "data"
            data = inputs.clone()
            if dtype is not None:
                for k in data.keys():
                    v = data[k]
                    if isinstance(v, torch.Tensor) and v.is_floating_point():
                        data[k] = v.to(dtype)
            if in_types is not None and not isinstance(in_types, Mapping):
                raise TypeError("for Data inputs, in_types must be a mapping {field: type}")
            _check_declared_node_fields(data, in_types or {})
            self.types = resolve_data_types(data, in_types)
            self.data = data
            self.num_nodes = int(data.num_nodes) if data.num_nodes is not None else 0
            self.batch = data.batch if "batch" in data.keys() else None
            return
        if isinstance(inputs, torch.Tensor):
            self.kind, names, values = "tensor", ["input"], [inputs]
            types = [in_types] if in_types is not None else [None]
        elif isinstance(inputs, Mapping):
            self.kind, names, values = "dict", list(inputs), list(inputs.values())
            in_types = dict(in_types or {})
            unknown = [k for k in in_types if k not in inputs]
            if unknown:
                raise KeyError(f"declared input field(s) {unknown} missing from the inputs; present: {names}")
            types = [in_types.get(k, FIELDS.get(k)) for k in names]
        elif isinstance(inputs, (tuple, list)):
            self.kind, names, values = "tuple", [f"arg{i}" for i in range(len(inputs))], list(inputs)
            if in_types is None or isinstance(in_types, (str, Mapping)) or len(in_types) != len(values):
                raise ValueError(f"for tuple inputs give in_types as a sequence of {len(values)} types")
            types = list(in_types)
        else:
            raise TypeError(f"cannot check inputs of type {type(inputs).__name__}")
        self.types = {}
        self.values: dict[str, Any] = {}
        for n, v, t in zip(names, values, types):
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"input {n!r} is a {type(v).__name__}, not a tensor")
            if t is None:
                if v.is_floating_point():
                    raise ValueError(f"declare the type of input {n!r} (e.g. in_types={{'{n}': 'pos'}})")
                t = "invariant"
            self.types[n] = field_type(t)
            self.values[n] = v.to(dtype) if (dtype is not None and v.is_floating_point()) else v
        node_fields = [n for n, t in self.types.items() if t.level == "node" and t.rep != "batch"]
        self.num_nodes = int(self.values[node_fields[0]].shape[0]) if node_fields else 0
        batch = [n for n, t in self.types.items() if t.rep == "batch"]
        self.batch = self.values[batch[0]] if batch else None

    def has_rep(self, rep: str) -> bool:
        return any(isinstance(t.rep, str) and t.rep == rep for t in self.types.values())

    def has_node_fields(self) -> bool:
        return any(t.level == "node" for t in self.types.values())

    def transformed(self, g: GroupElement | None) -> Any:
        inv = g.inverse_perm() if g is not None else None
        if self.kind == "data":
            if g is None:
                return self.data
            out = self.data.clone()
            for k, t in self.types.items():
                out[k] = _permute(act(self.data[k], t, g, k), t, g, inv, k)
            return out
        vals = dict(self.values)
        if g is not None:
            vals = {
                k: _permute(act(v, self.types[k], g, k), self.types[k], g, inv, k) for k, v in vals.items()
            }
        if self.kind == "tensor":
            return vals["input"]
        if self.kind == "dict":
            return vals
        return list(vals.values())

    def call(self, fn: Callable, g: GroupElement | None) -> Any:
        x = self.transformed(g)
        if self.kind == "dict":
            return fn(**x)
        if self.kind == "tuple":
            return fn(*x)
        return fn(x)


def _check_declared_node_fields(data: Any, in_types: Mapping[str, Any]) -> None:
    """A floating-point node field that is neither declared nor in :data:`gdl.keys.FIELDS` would be
    held fixed as an invariant: a false failure when it is really a vector the model rotates with,
    a false pass when the model wrongly treats a vector as scalars. Refuse, and say how to declare."""
    unknown = []
    for k in data.keys():
        v = data[k]
        if k in in_types or k in FIELDS or not isinstance(v, torch.Tensor) or not v.is_floating_point():
            continue
        try:
            is_node = bool(data.is_node_attr(k))
        except (AttributeError, KeyError):  # pragma: no cover - PyG data always answers
            is_node = False
        if is_node:
            unknown.append(f"{k!r} {list(v.shape)}")
    if unknown:
        first = unknown[0].split()[0]
        raise ValueError(
            f"floating-point node field(s) {', '.join(unknown)} have no declared type, so the check "
            f"cannot know how a rotation acts on them. Declare each: in_types={{{first}: 'invariant'}} "
            f"(scalars), {{{first}: '1o'}} (a vector) or any irreps string, or list vector inputs in the "
            "model's `vector_inputs` (read by the check); registered fields: gdl.keys.FIELDS"
        )


def declared_vector_inputs(fn: Any) -> tuple[str, ...]:
    """The ``vector_inputs`` (node ``1o`` fields) that ``fn`` declares, or the model it wraps
    (a strategy's ``.model``, followed down), in order and without repeats."""
    names: list[str] = []
    seen: set[int] = set()
    m = fn
    while m is not None and id(m) not in seen:
        seen.add(id(m))
        vec = getattr(m, "vector_inputs", None) or ()
        names.extend([vec] if isinstance(vec, str) else list(vec))
        m = getattr(m, "model", None)
    return tuple(dict.fromkeys(names))


def _is_data(x: Any) -> bool:
    try:
        from torch_geometric.data.data import BaseData
    except ImportError:  # pragma: no cover - torch_geometric is a dependency
        return False
    return isinstance(x, BaseData)


def _named_outputs(out: Any) -> dict[str, torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return {"output": out}
    if isinstance(out, Mapping):
        return dict(out)
    if isinstance(out, (tuple, list)):
        return {f"output{i}": v for i, v in enumerate(out)}
    if _is_data(out):
        return {k: out[k] for k in out.keys() if isinstance(out[k], torch.Tensor)}
    raise TypeError(f"cannot check outputs of type {type(out).__name__}")


def _output_types(
    fn: Any, out: Any, named: dict[str, torch.Tensor], out_types: Any
) -> tuple[dict[str, FieldType], bool]:
    """Returns the types and whether they were declared explicitly (then only those are compared)."""
    if out_types is not None:
        if isinstance(out, torch.Tensor) and not isinstance(out_types, Mapping):
            return {"output": field_type(out_types)}, True
        if isinstance(out, (tuple, list)) and not isinstance(out_types, Mapping):
            if isinstance(out_types, (str, FieldType)) or len(out_types) != len(out):
                raise ValueError(f"give out_types as a sequence of {len(out)} types for a tuple output")
            return {f"output{i}": field_type(t) for i, t in enumerate(out_types)}, True
        if not isinstance(out_types, Mapping):
            raise TypeError("for dict or Data outputs give out_types as a mapping {field: type}")
        if _is_data(out):
            return resolve_data_types(out, out_types), False
        return {k: field_type(v) for k, v in out_types.items()}, True
    targets = getattr(fn, "targets", None)
    if targets is not None:
        return {t.name: field_type(t) for t in targets}, False
    if _is_data(out):
        return resolve_data_types(out), False
    types = {k: field_type(FIELDS[k]) for k in named if k in FIELDS}
    return types, False


def _check_finite(named: dict[str, torch.Tensor], when: str) -> None:
    for k, v in named.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"output {k!r} contains NaN or inf {when}")


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.detach().to(torch.float64)
    b = b.detach().to(torch.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"output shape changed under the transformation: {tuple(b.shape)} -> {tuple(a.shape)}"
        )
    den = max(float(a.norm()), float(b.norm()))
    if den == 0.0:
        return 0.0
    return float((a - b).norm()) / den


# ---------------------------------------------------------------------------------------------
# group elements
# ---------------------------------------------------------------------------------------------
def _sample_orthogonal(group: Any, n: int, gen: torch.Generator) -> dict[str, list[torch.Tensor]]:
    """``{"rotation": [...], "reflection": [...]}`` matrices drawn from ``group``."""
    if isinstance(group, str):
        name = group.upper().replace("(", "").replace(")", "")
        if name not in ("SO3", "O3"):
            raise ValueError(
                f"group must be 'SO3', 'O3' or a tensor [G, 3, 3] of group elements, got {group!r}"
            )
        rot = list(haar(n, gen, dtype=torch.float64))
        out = {"rotation": rot}
        if name == "O3":
            out["reflection"] = [-R for R in haar(n, gen, dtype=torch.float64)]
        return out
    G = check_rotations(torch.as_tensor(group).to(torch.float64), "group", proper=False)
    eye = torch.eye(3, dtype=torch.float64)
    nontrivial = G[(G - eye).abs().amax(dim=(1, 2)) > 1e-9]
    det = torch.linalg.det(nontrivial)
    out = {}
    for kind, mask in (("rotation", det > 0), ("reflection", det < 0)):
        pool = nontrivial[mask]
        if len(pool):
            # every element when the pool is small enough, else n distinct ones
            idx = torch.randperm(len(pool), generator=gen)[:n] if n < len(pool) else torch.arange(len(pool))
            out[kind] = list(pool[idx])
    return out


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def equivariance_error(
    fn: Callable,
    inputs: Any,
    *,
    in_types: Any = None,
    out_types: Any = None,
    group: str | torch.Tensor = "O3",
    translation: bool = True,
    permutation: bool = True,
    n_samples: int = 3,
    seed: int = 0,
    dtype: torch.dtype | None = torch.float64,
) -> EquivarianceErrors:
    """Measure the equivariance error of ``fn`` on ``inputs`` (module docstring).

    Args:
        fn: a function or ``nn.Module``.
        inputs: a PyG ``Data``/``Batch``, a dict of tensors, a tuple of tensors or a tensor.
        in_types: input types overriding the registry: a mapping ``{field: type}`` (``Data`` or dict),
            a sequence (tuple) or one type (tensor). A type is ``"pos"``, ``"invariant"``, an irreps
            string, ``(level, rep)`` or a :class:`~gdl.groups.FieldType`. Default ``None``.
        out_types: output types in the same forms; default ``None`` takes ``fn.targets`` or the registry.
        group: ``"SO3"`` (rotations), ``"O3"`` (rotations and reflections) or a tensor ``[G, 3, 3]`` of
            elements of a finite group, from which non-identity elements are drawn. Default ``"O3"``.
        translation: also test translations of ``"pos"`` inputs (when there are any). Default ``True``.
        permutation: also test node permutations (within each graph). Default ``True``.
        n_samples: draws per kind of transformation. Default ``3``.
        seed: seed of the draws (the function's own randomness is not reseeded). Default ``0``.
        dtype: cast floating inputs and the module to this dtype and make it the default dtype while
            checking; ``None`` leaves dtypes alone. Default ``torch.float64``.

    Returns:
        :class:`EquivarianceErrors`: ``{field: error}``, with the per-transform table in ``.table``.

    Raises:
        KeyError: a declared field is missing from the inputs or outputs.
        ValueError: a tensor's last dimension does not match its irreps, an output is NaN/inf, a
            type is missing or invalid, or a floating-point node field of ``Data`` inputs has no
            declared type (declare it in ``in_types``, e.g. ``'invariant'`` or ``'1o'``).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    gen = as_generator(seed)
    if dtype is not None and isinstance(fn, nn.Module):
        fn = copy.deepcopy(fn).to(dtype).eval()
    ctx = default_dtype(dtype) if dtype is not None else nullcontext()
    with ctx, torch.no_grad():
        vectors = declared_vector_inputs(fn)
        if vectors and _is_data(inputs):
            # a model's declared vector inputs rotate as node 1o unless the caller says otherwise
            present = set(inputs.keys())
            in_types = {**{k: ("node", "1o") for k in vectors if k in present}, **dict(in_types or {})}
        ins = _Inputs(inputs, in_types, dtype)
        out = ins.call(fn, None)
        named = _named_outputs(out)
        types, explicit = _output_types(fn, out, named, out_types)
        missing = [k for k in types if k not in named]
        if missing:
            raise KeyError(
                f"declared output field(s) {missing} missing from the output; present: {sorted(named)}"
            )
        untyped = [k for k in named if k not in types]
        if untyped and not explicit:
            raise ValueError(f"output field(s) {untyped} have no declared type: pass out_types={{...}}")
        if not types:
            raise ValueError("no typed output to compare: pass out_types")
        named = {k: named[k] for k in types}
        for k, t in types.items():
            if t.irreps is not None:
                act(named[k], t, GroupElement(torch.eye(3, dtype=torch.float64)), k)  # validates the dim
        _check_finite(named, "on the untransformed input")

        elements: list[tuple[str, GroupElement]] = []
        for kind, mats in _sample_orthogonal(group, n_samples, gen).items():
            elements += [(kind, GroupElement(R)) for R in mats]
        if translation and ins.has_rep("pos"):
            pos_scale = 1.0 + max(
                (float(v.detach().abs().max()) for v in _pos_values(ins) if v.numel()), default=0.0
            )
            for _ in range(n_samples):
                t = torch.randn(3, generator=gen, dtype=torch.float64) * pos_scale
                elements.append(("translation", GroupElement(torch.eye(3, dtype=torch.float64), t=t)))
        if permutation and ins.num_nodes > 1 and ins.has_node_fields():
            for _ in range(n_samples):
                perm = permute_within_graphs(ins.batch, ins.num_nodes, gen)
                elements.append(("permutation", GroupElement(torch.eye(3, dtype=torch.float64), perm=perm)))

        table: dict[str, dict[str, float]] = {k: {} for k in types}
        for kind, g in elements:
            got = _named_outputs(ins.call(fn, g))
            got_missing = [k for k in types if k not in got]
            if got_missing:
                raise KeyError(f"output field(s) {got_missing} missing after a {kind}")
            _check_finite({k: got[k] for k in types}, f"after a {kind}")
            inv = g.inverse_perm()
            for k, t in types.items():
                expected = _permute(act(named[k], t, g, k), t, g, inv, k)
                err = _relative_error(got[k], expected)
                table[k][kind] = max(table[k].get(kind, 0.0), err)
    return EquivarianceErrors(table)


def _pos_values(ins: _Inputs) -> list[torch.Tensor]:
    src = ins.data if ins.kind == "data" else ins.values
    return [src[k] for k, t in ins.types.items() if isinstance(t.rep, str) and t.rep == "pos"]


def assert_equivariant(fn: Callable, inputs: Any, *, tol: float = 1e-10, **kwargs: Any) -> EquivarianceErrors:
    """Assert that every output field of ``fn`` has relative equivariance error ``<= tol``.

    Takes the arguments of :func:`equivariance_error`; on failure the ``AssertionError`` carries the
    per-field, per-transformation table. Returns the errors.
    """
    __tracebackhide__ = True
    errors = equivariance_error(fn, inputs, **kwargs)
    bad = {k: v for k, v in errors.items() if not (v <= tol) or math.isnan(v)}
    if bad:
        raise AssertionError(f"equivariance error above tol={tol:.1e} for {sorted(bad)}:\n{errors}")
    return errors
