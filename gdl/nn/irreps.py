r"""Irreps conventions of the irreps route (TFN, SE(3)-Transformer), in one place.

Features are typed by irreducible representations of :math:`O(3)`, written as e3nn irreps
(``"16x0e+16x1o+16x2e"``): ``l`` is the degree, ``e``/``o`` the parity under inversion.

**O(3) versus SO(3).** With ``parity=True`` every label is honest: spherical harmonics of edge
vectors are ``0e+1o+2e+3o`` (parity :math:`(-1)^l`), hidden features carry both parities of every
degree, and the network is equivariant to rotations *and* reflections. With ``parity=False`` every
irrep is labelled even (``0e+1e+2e``, spherical harmonics included). Under rotations the labels do not
matter, but every Clebsch–Gordan path :math:`l_1 \otimes l_2 \to l_3` with
:math:`|l_1 - l_2| \le l_3 \le l_1 + l_2` is now allowed (the cross product ``1 x 1 -> 1`` among them),
so the network is equivariant to :math:`SO(3)` only. An SO(3) readout maps the even-labelled degree
``l`` onto a target ``lp`` of either parity (:func:`so3_label`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from e3nn import o3
from e3nn.nn import Gate

__all__ = [
    "as_irreps",
    "check_irreps_chain",
    "check_irreps_features",
    "gate_for",
    "gate_labels",
    "hidden_irreps",
    "irreps_parity",
    "reachable_irreps",
    "so3_label",
    "spherical_harmonics_irreps",
]

#: Largest degree of e3nn's spherical harmonics.
MAX_L = 12


def as_irreps(value: str | o3.Irreps | Iterable, name: str) -> o3.Irreps:
    """``o3.Irreps(value)`` with an error that names the argument."""
    try:
        return o3.Irreps(value)
    except (ValueError, AssertionError, TypeError) as e:
        raise ValueError(f"{name} must be an irreps such as '16x0e+8x1o', got {value!r} ({e})") from None


def check_irreps_features(x: torch.Tensor, num_nodes: int, dim: int, irreps: str, owner: str) -> None:
    """Node features must be a floating ``[num_nodes, dim]`` tensor; ``irreps`` (a plain string, so that
    ``torch.compile`` need not trace e3nn objects) and ``owner`` only go into the error message."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"{owner}: x must be a floating tensor [N, {dim}], got {getattr(x, 'dtype', type(x).__name__)}"
        )
    if x.dim() != 2 or x.shape[1] != dim:
        raise ValueError(
            f"{owner}: x must have shape [N, {dim}] for irreps_in={irreps} (dim {dim}), got {tuple(x.shape)}"
        )
    if x.shape[0] != num_nodes:
        raise ValueError(f"{owner}: x has {x.shape[0]} rows but pos has {num_nodes} nodes")


def check_irreps_chain(modules: Sequence[torch.nn.Module]) -> None:
    """Stacked modules must agree: ``modules[k].irreps_out == modules[k + 1].irreps_in``. The error
    names both modules and both irreps (equal dimensions do not make equal irreps: ``3x0e`` vs ``1o``)."""
    for k in range(len(modules) - 1):
        a, b = modules[k], modules[k + 1]
        out, inp = o3.Irreps(a.irreps_out), o3.Irreps(b.irreps_in)
        if out != inp:
            raise ValueError(
                f"irreps mismatch between stacked layers: layer {k} ({type(a).__name__}) has "
                f"irreps_out={out} "
                f"but layer {k + 1} ({type(b).__name__}) has irreps_in={inp}"
            )


def spherical_harmonics_irreps(l_max: int, parity: bool = True) -> o3.Irreps:
    """``0e+1o+2e+...`` up to ``l_max`` (``parity=True``) or ``0e+1e+2e+...`` (SO(3) labels)."""
    if not isinstance(l_max, int) or isinstance(l_max, bool) or not 0 <= l_max <= MAX_L:
        raise ValueError(f"l_max must be an integer in [0, {MAX_L}], got {l_max!r}")
    return o3.Irreps.spherical_harmonics(l_max, p=-1 if parity else 1)


def irreps_parity(irreps_sh: o3.Irreps, name: str = "irreps_sh") -> bool:
    """Validate spherical-harmonic irreps ``1x0e+1x1?+...+1xL?`` and return whether they carry true
    parities (``(-1)^l``, O(3)) rather than all-even labels (SO(3))."""
    ls = [ir.l for mul, ir in irreps_sh for _ in range(mul)]
    if ls != list(range(len(ls))) or not ls:
        raise ValueError(f"{name} must be 1x0e+1x1?+...+1xL? (each degree once, in order), got {irreps_sh}")
    if ls[-1] > MAX_L:
        raise ValueError(f"{name} goes up to l={ls[-1]}; e3nn's spherical harmonics stop at l={MAX_L}")
    ps = [ir.p for _, ir in irreps_sh]
    if all(p == (-1) ** ir.l for p, (_, ir) in zip(ps, irreps_sh)):
        return True
    if all(p == 1 for p in ps):
        return False
    raise ValueError(
        f"{name}={irreps_sh} mixes parities: use {spherical_harmonics_irreps(ls[-1])} (O(3)) or "
        f"{spherical_harmonics_irreps(ls[-1], parity=False)} (SO(3) only)"
    )


def hidden_irreps(channels: int, l_max: int, parity: bool = True) -> o3.Irreps:
    """``channels`` copies of every irrep up to ``l_max``: both parities of each degree
    (``Cx0e+Cx0o+Cx1o+Cx1e+...``, scalars first) with ``parity=True``, ``Cx0e+Cx1e+...`` without."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    spherical_harmonics_irreps(l_max)  # validates l_max
    out = []
    for l in range(l_max + 1):
        natural = (-1) ** l
        out.append((channels, (l, natural if parity else 1)))
        if parity:
            out.append((channels, (l, -natural)))
    return o3.Irreps(out)


def so3_label(irreps: o3.Irreps | str) -> o3.Irreps:
    """The same irreps with every parity set to even: how SO(3)-only features are labelled."""
    return o3.Irreps([(mul, (ir.l, 1)) for mul, ir in o3.Irreps(irreps)])


def reachable_irreps(irreps_target: o3.Irreps, irreps_in: o3.Irreps, irreps_sh: o3.Irreps) -> o3.Irreps:
    """The blocks of ``irreps_target`` that a convolution from ``irreps_in`` can produce: through a
    path ``irreps_in x irreps_sh`` or directly (self-interaction). Models use it to build each layer's
    output irreps, as NequIP does, so that no block is identically zero."""
    have = {ir for mul, ir in irreps_in if mul > 0}
    have |= {ir for mul, ir_in in irreps_in if mul > 0 for _, ir_sh in irreps_sh for ir in ir_in * ir_sh}
    return o3.Irreps([(mul, ir) for mul, ir in irreps_target if ir in have])


def gate_for(irreps_out: o3.Irreps) -> tuple[Gate, torch.Tensor | None]:
    """An e3nn ``Gate`` whose output holds ``irreps_out`` (SiLU on even scalars, tanh on odd ones, sigmoid
    gates on ``l > 0``: the nonlinearity of :class:`~gdl.nn.TFNConv` and, optionally,
    :class:`~gdl.nn.MACEConv`); and the index that puts the gate's output
    (scalars first) into ``irreps_out``'s order, or ``None`` when they agree."""
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0 and mul > 0]).simplify()
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0 and mul > 0]).simplify()
    act = {1: torch.nn.functional.silu, -1: torch.tanh}
    gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
    gate = Gate(scalars, [act[ir.p] for _, ir in scalars], gates, [torch.sigmoid] * len(gates), gated)
    # positions of irreps_out's blocks in the gate's output [scalars | gated]
    index: list[int] = []
    s, g = 0, scalars.dim
    for mul, ir in irreps_out:
        n = mul * ir.dim
        if ir.l == 0:
            index += range(s, s + n)
            s += n
        else:
            index += range(g, g + n)
            g += n
    if index == list(range(irreps_out.dim)):
        return gate, None
    return gate, torch.tensor(index, dtype=torch.long)


def gate_labels(gate: Gate) -> list[list[object]]:
    """Channel labels of the blocks of a gate's input (``gate.irreps_in``: e3nn sorts the blocks
    ``scalars + gates + gated`` by irrep, stably, and merges neighbours of the same irrep):
    ``("s", ir, u)``, ``("g", ir, u)`` for the gate of the ``u``-th ``ir`` of the gated irreps, and
    ``("v", ir, u)``."""

    def labels(kind: str, irreps: o3.Irreps) -> list[tuple[o3.Irrep, list[object]]]:
        seen: dict[o3.Irrep, int] = {}
        out = []
        for mul, ir in irreps:
            k = seen.get(ir, 0)
            out.append((ir, [(kind, ir, k + u) for u in range(mul)]))
            seen[ir] = k + mul
        return out

    gates = [lab for _, labs in labels("g", gate.irreps_gated) for lab in labs]
    blocks = labels("s", gate.irreps_scalars)
    if gates:
        blocks.append((o3.Irrep("0e"), gates))
    blocks += labels("v", gate.irreps_gated)
    merged: list[tuple[o3.Irrep, list[object]]] = []
    for ir, labs in sorted(blocks, key=lambda block: block[0]):
        if merged and merged[-1][0] == ir:
            merged[-1][1].extend(labs)
        else:
            merged.append((ir, list(labs)))
    if [(len(labs), ir) for ir, labs in merged] != [(mul, ir) for mul, ir in gate.irreps_in]:
        raise AssertionError(f"unexpected layout of the gate's input {gate.irreps_in}")
    return [labs for _, labs in merged]
