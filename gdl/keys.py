r"""Names of the fields of :class:`torch_geometric.data.Data` used across gdl, with their shapes,
their level (node, edge or graph) and how they transform under :math:`E(3)`.

Every dataset writes these names and every model and check reads them, so a field means the same
thing everywhere. ``FIELDS`` is the registry; :func:`field` looks one up and
:class:`Target` declares a field that a model predicts.

Representation (``rep``) of a field:

* ``"pos"`` — a position: rotated *and* translated (``pos @ R.T + t``);
* an ``e3nn`` irreps string such as ``"0e"``, ``"1o"``, ``"2e"``, ``"8x0e+4x1o"`` — rotated by the
  Wigner-D matrices of the irreps (parity included), never translated;
* ``"invariant"`` — unchanged by rotations, reflections and translations, of any trailing shape
  (atom types, charges, any scalar feature whose width is not fixed);
* ``"batch"`` — the graph index of each node (permuted with the nodes, never rotated);
* ``"edge_index"`` — the ``[2, E]`` edge list, relabelled when nodes are permuted.

Shapes use ``N`` nodes, ``E`` edges, ``B`` graphs in a batch; a graph-level field of a single
``Data`` has leading dimension 1 so that batching concatenates it into ``[B, ...]``.

The :math:`2e` components follow e3nn's real spherical-harmonic basis
(:func:`gdl.keys.cartesian_to_2e` converts a symmetric 3x3 matrix).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from e3nn import o3

Level = Literal["node", "edge", "graph"]
LEVELS: tuple[str, ...] = ("node", "edge", "graph")
#: Representations that are not irreps (see the module docstring).
NON_IRREPS_REPS: tuple[str, ...] = ("pos", "invariant", "batch", "edge_index")

# ---------------------------------------------------------------------------------------------
# Field names
# ---------------------------------------------------------------------------------------------
# structure and geometry
POS = "pos"  # [N, 3] positions (Å for molecules, Mpc/h for galaxies)
Z = "z"  # [N] atomic number / integer node type
X = "x"  # [N, F] invariant node features
VEL = "vel"  # [N, 3] input velocities (N-body)
VEC = "vec"  # [N, C, 3] vector channels carried between layers
BATCH = "batch"  # [N] graph index of each node
PTR = "ptr"  # [B + 1] node offsets of graphs in a batch
EDGE_INDEX = "edge_index"  # [2, E] (source j, target i): messages flow edge_index[0] -> edge_index[1]
EDGE_VEC = "edge_vec"  # [E, 3] pos[j] - pos[i] (minimum image in periodic boxes)
EDGE_ATTR = "edge_attr"  # [E, F] invariant edge features
BOX = "box"  # [1, 3] periodic box side lengths (galaxy clouds)

# QM9
Y = "y"  # [1, 19] PyG's QM9 targets in PyG's order and units
IDX = "idx"  # [1] official molecule index (1..133885)
SMILES = "smiles"  # str
CHARGES = "charges"  # [N, 1] Mulliken charges (e)
DIPOLE_VEC = "dipole_vec"  # [1, 3] Mulliken dipole vector (Debye)
QUADRUPOLE = "quadrupole"  # [1, 5] traceless Mulliken quadrupole (e Å^2) in e3nn's 2e basis
POLARIZABILITY = "polarizability"  # [1, 3] sorted eigenvalues of the polarizability (bohr^3)

#: Column names of ``y`` in PyG's QM9 order (units: mu D, alpha bohr^3, energies eV, r2 bohr^2,
#: cv cal/mol/K, A/B/C GHz).
QM9_TARGETS: tuple[str, ...] = (
    "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "cv",
    "U0_atom", "U_atom", "H_atom", "G_atom", "A", "B", "C",
)  # fmt: skip

# galaxy clouds
OMEGA_M = "omega_m"  # [1, 1] matter density parameter
SIGMA_8 = "sigma_8"  # [1, 1] amplitude of fluctuations at 8 Mpc/h
VELOCITY = "velocity"  # [N, 3] peculiar velocity target (km/s)
SHAPE = "shape"  # [N, 5] intrinsic-alignment shape, traceless symmetric, e3nn 2e basis
BIAS = "bias"  # [1, 1] linear galaxy bias of a cloud

# N-body
DISPLACEMENT = "displacement"  # [N, 3] position at the target frame minus the input position
POS_TARGET = "pos_target"  # [N, 3] position at the target frame
EFIELD = "efield"  # [N, 3] external field acting on the charges at each particle (N-body)


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldInfo:
    """How a ``Data`` field is shaped and how it transforms.

    Args:
        name: the attribute name on ``Data``.
        shape: the shape as documentation, e.g. ``"[N, 3]"``.
        level: ``"node"``, ``"edge"`` or ``"graph"``.
        rep: ``"pos"``, ``"invariant"``, ``"batch"``, ``"edge_index"`` or an irreps string
            (module docstring).
        doc: meaning and units.
    """

    name: str
    shape: str
    level: Level
    rep: str
    doc: str

    @property
    def irreps(self) -> o3.Irreps | None:
        """The irreps of the field, or ``None`` for positions, invariants of free width and indices."""
        if self.rep in NON_IRREPS_REPS:
            return None
        return o3.Irreps(self.rep)


def _f(name: str, shape: str, level: Level, rep: str, doc: str) -> tuple[str, FieldInfo]:
    return name, FieldInfo(name, shape, level, rep, doc)


FIELDS: dict[str, FieldInfo] = dict(
    [
        _f(POS, "[N, 3]", "node", "pos", "positions (Å for molecules, Mpc/h for galaxies)"),
        _f(Z, "[N]", "node", "invariant", "atomic number or integer node type"),
        _f(X, "[N, F]", "node", "invariant", "invariant node features"),
        _f(VEL, "[N, 3]", "node", "1o", "input velocities"),
        _f(VEC, "[N, C, 3]", "node", "1o", "vector channels (each of the C rows a 1o vector)"),
        _f(BATCH, "[N]", "node", "batch", "graph index of each node"),
        _f(PTR, "[B + 1]", "graph", "invariant", "node offsets of the graphs of a batch"),
        _f(EDGE_INDEX, "[2, E]", "edge", "edge_index", "edges (source j, target i)"),
        _f(EDGE_VEC, "[E, 3]", "edge", "1o", "edge vectors pos[j] - pos[i], minimum image if periodic"),
        _f(EDGE_ATTR, "[E, F]", "edge", "invariant", "invariant edge features"),
        _f(BOX, "[1, 3]", "graph", "invariant", "periodic box side lengths"),
        _f(Y, "[1, 19]", "graph", "invariant", "QM9 targets in PyG's order and units (QM9_TARGETS)"),
        _f(IDX, "[1]", "graph", "invariant", "official QM9 molecule index"),
        _f(CHARGES, "[N, 1]", "node", "0e", "Mulliken partial charges (e)"),
        _f(DIPOLE_VEC, "[1, 3]", "graph", "1o", "Mulliken dipole vector (Debye)"),
        _f(QUADRUPOLE, "[1, 5]", "graph", "2e", "traceless Mulliken quadrupole (e Å^2), e3nn 2e basis"),
        _f(POLARIZABILITY, "[1, 3]", "graph", "3x0e", "sorted polarizability eigenvalues (bohr^3)"),
        _f(OMEGA_M, "[1, 1]", "graph", "0e", "matter density parameter Ωm"),
        _f(SIGMA_8, "[1, 1]", "graph", "0e", "fluctuation amplitude σ8"),
        _f(VELOCITY, "[N, 3]", "node", "1o", "peculiar velocity (km/s)"),
        _f(SHAPE, "[N, 5]", "node", "2e", "intrinsic-alignment shape (traceless symmetric), e3nn 2e basis"),
        _f(DISPLACEMENT, "[N, 3]", "node", "1o", "target position minus input position"),
        _f(POS_TARGET, "[N, 3]", "node", "pos", "position at the target frame"),
        _f(BIAS, "[1, 1]", "graph", "0e", "linear galaxy bias b of a cloud"),
        _f(EFIELD, "[N, 3]", "node", "1o", "external field on the charges (N-body), ε ẑ at each particle"),
    ]
    + [
        _f(name, "[1, 1]", "graph", "0e", f"QM9 target {name} (column {i} of y)")
        for i, name in enumerate(QM9_TARGETS)
    ]
)


def field(name: str) -> FieldInfo:
    """Look up a registered field, with an error that lists the known names."""
    try:
        return FIELDS[name]
    except KeyError:
        raise KeyError(f"unknown field {name!r}; registered fields: {', '.join(sorted(FIELDS))}") from None


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A typed quantity that a model predicts.

    Args:
        name: the output key, and the ``Data`` field holding the ground truth.
        irreps: how the target transforms (``"0e"`` scalar, ``"1o"`` vector, ``"2e"`` traceless
            symmetric tensor, or any ``e3nn`` irreps). Default ``"0e"``.
        level: ``"graph"`` (one value per graph, shape ``[B, irreps.dim]``) or ``"node"``
            (``[N, irreps.dim]``). Default ``"graph"``.

    Example::

        Target("homo")                       # graph-level scalar
        Target("dipole_vec", "1o")           # graph-level vector
        Target("velocity", "1o", "node")     # node-level vector
    """

    name: str
    irreps: o3.Irreps = o3.Irreps("0e")
    level: Literal["graph", "node"] = "graph"

    def __post_init__(self) -> None:
        object.__setattr__(self, "irreps", o3.Irreps(self.irreps))
        if self.level not in ("graph", "node"):
            raise ValueError(f"target {self.name!r}: level must be 'graph' or 'node', got {self.level!r}")
        if self.irreps.dim == 0:
            raise ValueError(f"target {self.name!r}: irreps {self.irreps} are empty")

    @property
    def dim(self) -> int:
        return self.irreps.dim

    def __str__(self) -> str:
        return f"{self.name}:{self.level}:{self.irreps}"


TargetLike = Target | str | Mapping


def as_target(spec: TargetLike) -> Target:
    """Build a :class:`Target` from a ``Target``, a mapping (``{"name": .., "irreps": .., "level": ..}``,
    as Hydra configs give), a registered field name (``"homo"`` → graph ``0e``), or
    ``"name:level:irreps"`` (``"velocity:node:1o"``)."""
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, Mapping):
        return Target(**dict(spec))
    if isinstance(spec, str):
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 3:
                raise ValueError(f"target spec {spec!r} must read 'name:level:irreps'")
            name, level, irreps = parts
            return Target(name, irreps, level)  # type: ignore[arg-type]
        info = FIELDS.get(spec)
        if info is None or info.irreps is None or info.level == "edge":
            typed = sorted(k for k, v in FIELDS.items() if v.irreps is not None and v.level != "edge")
            raise ValueError(
                f"cannot infer the type of target {spec!r}: give Target(name, irreps, level) or "
                f"'name:level:irreps'; registered typed fields: {', '.join(typed)}"
            )
        return Target(spec, info.irreps, info.level)  # type: ignore[arg-type]
    raise TypeError(f"cannot make a Target from {type(spec).__name__}: {spec!r}")


def as_targets(specs: TargetLike | Iterable[TargetLike]) -> tuple[Target, ...]:
    """Like :func:`as_target` for one spec or a list; names must be unique."""
    if isinstance(specs, (Target, str, Mapping)):
        specs = [specs]
    targets = tuple(as_target(s) for s in specs)
    if not targets:
        raise ValueError("at least one target is required")
    names = [t.name for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate target names: {dup}")
    return targets


# ---------------------------------------------------------------------------------------------
# 2e <-> Cartesian
# ---------------------------------------------------------------------------------------------
_S2, _S6 = 2.0**-0.5, 6.0**-0.5
#: Orthonormal basis [5, 3, 3] of traceless symmetric matrices, equal to e3nn's 2e part of
#: ``ReducedTensorProducts("ij=ji", i="1o")`` (components ~ xz, xy, 2y²-x²-z², yz, z²-x²).
#: Written out so that it is exact in any default dtype (tests compare it with e3nn's).
_COB_2E = (
    ((0, 0, _S2), (0, 0, 0), (_S2, 0, 0)),
    ((0, _S2, 0), (_S2, 0, 0), (0, 0, 0)),
    ((-_S6, 0, 0), (0, 2 * _S6, 0), (0, 0, -_S6)),
    ((0, 0, 0), (0, 0, _S2), (0, _S2, 0)),
    ((-_S2, 0, 0), (0, 0, 0), (0, 0, _S2)),
)


def change_of_basis_2e(
    dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """The ``[5, 3, 3]`` orthonormal basis mapping e3nn ``2e`` components to traceless symmetric matrices."""
    return torch.tensor(_COB_2E, dtype=dtype or torch.get_default_dtype(), device=device)


def cartesian_to_2e(m: torch.Tensor) -> torch.Tensor:
    """The ``2e`` (traceless symmetric) part of 3x3 matrices ``[..., 3, 3]`` as ``[..., 5]`` in
    e3nn's basis; the trace and the antisymmetric part are dropped."""
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"expected [..., 3, 3] matrices, got shape {tuple(m.shape)}")
    return torch.einsum("kij,...ij->...k", change_of_basis_2e(m.dtype, m.device), m)


def from_2e(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`cartesian_to_2e` on traceless symmetric matrices: ``[..., 5] -> [..., 3, 3]``."""
    if v.shape[-1] != 5:
        raise ValueError(f"expected [..., 5] 2e components, got shape {tuple(v.shape)}")
    return torch.einsum("kij,...k->...ij", change_of_basis_2e(v.dtype, v.device), v)


__all__ = [
    "BATCH", "BIAS", "BOX", "CHARGES", "DIPOLE_VEC", "DISPLACEMENT", "EDGE_ATTR", "EDGE_INDEX",
    "EDGE_VEC", "EFIELD", "FIELDS", "IDX", "LEVELS", "NON_IRREPS_REPS", "OMEGA_M", "POLARIZABILITY",
    "POS", "POS_TARGET", "PTR", "QM9_TARGETS", "QUADRUPOLE", "SHAPE", "SIGMA_8", "SMILES", "VEC",
    "VEL", "VELOCITY", "X", "Y", "Z",
    "FieldInfo", "Target", "TargetLike", "as_target", "as_targets", "cartesian_to_2e",
    "change_of_basis_2e", "field", "from_2e",
]  # fmt: skip
