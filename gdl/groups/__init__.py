"""Pure group theory for gdl (no ``nn.Module``, no PyG): maps on SO(3)/O(3), seeded Haar sampling,
finite subgroups (cyclic, dihedral, tetrahedral, octahedral, icosahedral, the cube group O_h),
sphere grids, and the anchor sets of the regular-representation route (:mod:`gdl.groups.anchors`).

How the group acts on typed fields and PyG ``Data`` lives one level up, in :mod:`gdl.action` (it
needs the field registry :mod:`gdl.keys`); its names (``FieldType``, ``GroupElement``, ``act``,
``act_on_data``, ...) are still importable from here, loaded on first use (``gdl.action`` imports
``gdl.groups``, so an eager import here would be circular)."""

from .finite import (
    FINITE_GROUPS,
    cayley_table,
    closure,
    cube_group,
    cyclic,
    dihedral,
    finite_group,
    icosahedral,
    inverse_table,
    match_elements,
    octahedral,
    tetrahedral,
)
from .so3 import (
    as_generator,
    axis_angle_to_matrix,
    check_rotations,
    exp,
    geodesic_distance,
    haar,
    haar_o3,
    is_orthogonal,
    is_rotation,
    log,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
    rotation_angle,
    wigner_D,
)
from .sphere import fibonacci_sphere, icosahedron_vertices, octahedron_vertices, orbit, random_sphere

__all__ = [
    "FINITE_GROUPS",
    "as_generator",
    "axis_angle_to_matrix",
    "cayley_table",
    "check_rotations",
    "closure",
    "cube_group",
    "cyclic",
    "dihedral",
    "exp",
    "fibonacci_sphere",
    "finite_group",
    "geodesic_distance",
    "haar",
    "haar_o3",
    "icosahedral",
    "icosahedron_vertices",
    "inverse_table",
    "is_orthogonal",
    "is_rotation",
    "log",
    "match_elements",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "octahedral",
    "octahedron_vertices",
    "orbit",
    "quaternion_to_matrix",
    "random_sphere",
    "rotation_angle",
    "tetrahedral",
    "wigner_D",
]

from .anchors import (  # noqa: E402
    AnchorSet,
    FixedAnchors,
    GroupAnchors,
    HaarAnchors,
    RandomAnchors,
    SphereAnchors,
    SuperFibonacciAnchors,
    UniformSphereAnchors,
    anchor_basis,
    anchor_bias,
    anchor_permutation,
    anchor_rank,
    check_anchors,
    fourier_condition,
    fourier_weights,
    super_fibonacci,
)

__all__ += [
    "AnchorSet",
    "FixedAnchors",
    "GroupAnchors",
    "HaarAnchors",
    "RandomAnchors",
    "SphereAnchors",
    "SuperFibonacciAnchors",
    "UniformSphereAnchors",
    "anchor_basis",
    "anchor_bias",
    "anchor_permutation",
    "anchor_rank",
    "check_anchors",
    "fourier_condition",
    "fourier_weights",
    "super_fibonacci",
]

#: Names of :mod:`gdl.action` importable from here for compatibility (loaded on first access).
_ACTION_NAMES = (
    "FieldType",
    "GroupElement",
    "act",
    "act_batched",
    "act_fields_per_graph",
    "act_on_data",
    "act_per_graph",
    "edge",
    "field_type",
    "graph",
    "node",
    "permute_within_graphs",
    "resolve_data_types",
)

__all__ += list(_ACTION_NAMES)


def __getattr__(name: str):
    if name in _ACTION_NAMES:
        from .. import action

        return getattr(action, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
