"""The package layout (docs/layout.md): public names survive moves between rooms, ``gdl.groups``
stays pure group theory, and no two source files share a name while doing different jobs."""

import importlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: ``__all__`` of each public module before the rooms of issue 17 (commit c057eda): every name must
#: stay importable from the same module, whatever room its code lives in now.
OLD_PUBLIC_NAMES = {
    "gdl.data": (
        "Center",
        "ChargeProducts",
        "Cloud",
        "CloudNoise",
        "CloudParams",
        "CosmoBench",
        "Cosmology",
        "FullyConnected",
        "GalaxyClouds",
        "GalaxyConfig",
        "GalaxyGenerator",
        "KNNGraph",
        "LinearPower",
        "NBODY_SPLIT_SIZES",
        "NBODY_TRAIN_SIZES",
        "NBodyCharged",
        "NBodyConfig",
        "PeriodicKNNGraph",
        "PeriodicRadiusGraph",
        "PointCloudFile",
        "QM9",
        "QuijoteTFRecord",
        "RadiusGraph",
        "RandomRotation",
        "SPLITS",
        "SecondOrderGenerator",
        "SelectTargets",
        "SplitSpec",
        "Standardize",
        "ZeldovichGenerator",
        "charged_energy",
        "charged_forces",
        "cloud_to_data",
        "fully_connected_index",
        "gather_fields",
        "growth_rate",
        "initial_conditions",
        "make_generator",
        "minimum_image",
        "mulliken_multipoles",
        "nested_subset",
        "periodic_knn_graph",
        "periodic_radius_graph",
        "qm9_atomref",
        "qm9_target_index",
        "register_split",
        "simulate_charged",
        "split_indices",
    ),
    "gdl.data.transforms": (
        "Center",
        "ChargeProducts",
        "FullyConnected",
        "KNNGraph",
        "RadiusGraph",
        "RandomRotation",
        "SelectTargets",
        "Standardize",
        "fully_connected_index",
    ),
    "gdl.data.datamodules": (
        "GalaxyDataModule",
        "GraphDataModule",
        "NBodyDataModule",
        "QM9DataModule",
    ),
    "gdl.groups": (
        "AnchorSet",
        "FINITE_GROUPS",
        "FieldType",
        "FixedAnchors",
        "GroupAnchors",
        "GroupElement",
        "HaarAnchors",
        "RandomAnchors",
        "SphereAnchors",
        "SuperFibonacciAnchors",
        "UniformSphereAnchors",
        "act",
        "act_batched",
        "act_fields_per_graph",
        "act_on_data",
        "act_per_graph",
        "anchor_basis",
        "anchor_bias",
        "anchor_permutation",
        "anchor_rank",
        "as_generator",
        "axis_angle_to_matrix",
        "cayley_table",
        "check_anchors",
        "check_rotations",
        "closure",
        "cube_group",
        "cyclic",
        "dihedral",
        "edge",
        "exp",
        "fibonacci_sphere",
        "field_type",
        "finite_group",
        "fourier_condition",
        "fourier_weights",
        "geodesic_distance",
        "graph",
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
        "node",
        "octahedral",
        "octahedron_vertices",
        "orbit",
        "permute_within_graphs",
        "quaternion_to_matrix",
        "random_sphere",
        "resolve_data_types",
        "rotation_angle",
        "super_fibonacci",
        "tetrahedral",
        "wigner_D",
    ),
    "gdl.groups.anchors": (
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
        "anchor_space",
        "check_anchors",
        "fourier_condition",
        "fourier_weights",
        "frame_components",
        "relative_rotations",
        "sphere_components",
        "super_fibonacci",
    ),
}


@pytest.mark.parametrize("module", sorted(OLD_PUBLIC_NAMES))
def test_old_public_names_still_import(module):
    if module == "gdl.data.datamodules":
        pytest.importorskip("lightning")
    mod = importlib.import_module(module)
    missing = [name for name in OLD_PUBLIC_NAMES[module] if not hasattr(mod, name)]
    assert missing == [], f"{module} lost {missing}"
    assert set(OLD_PUBLIC_NAMES[module]) <= set(mod.__all__)


def test_moved_names_are_the_same_objects():
    import gdl.action
    import gdl.data
    import gdl.groups
    import gdl.testing
    from gdl.data.transforms import graphs
    from gdl.groups.anchors import providers

    assert gdl.groups.act_on_data is gdl.action.act_on_data
    assert gdl.groups.FieldType is gdl.testing.FieldType is gdl.action.FieldType
    assert gdl.data.RadiusGraph is graphs.RadiusGraph
    assert gdl.groups.GroupAnchors is providers.GroupAnchors
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        gdl.groups.not_a_name  # noqa: B018


def test_groups_is_pure_group_theory():
    """``import gdl.groups`` (anchors included) loads neither PyG nor the data-level actions."""
    code = (
        "import sys, gdl.groups, gdl.groups.anchors; "
        "print('torch_geometric' in sys.modules, 'gdl.action' in sys.modules, 'gdl.data' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False", "False"]


#: Basenames that several source files share on purpose.
INTENDED_DUPLICATES = {"__init__.py"}


def test_no_two_source_files_share_a_name():
    """A name says what a file does: two files of the same name (``report.py`` for the ablation report
    and for the benchmark record) made readers open the wrong one."""
    by_name = defaultdict(list)
    for top in ("gdl", "benchmarks", "hydra_plugins"):
        for path in (ROOT / top).rglob("*.py"):
            by_name[path.name].append(str(path.relative_to(ROOT)))
    clashes = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert set(clashes) <= INTENDED_DUPLICATES, {
        k: v for k, v in clashes.items() if k not in INTENDED_DUPLICATES
    }
