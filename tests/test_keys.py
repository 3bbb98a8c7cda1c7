import pytest
import torch
from e3nn import o3

from gdl import groups, keys
from gdl.dtype import default_dtype
from gdl.keys import Target, as_target, as_targets, cartesian_to_2e, change_of_basis_2e, from_2e
from gdl.testing import float64_atol


def test_change_of_basis_matches_e3nn():
    with default_dtype(torch.float64):
        cob = o3.ReducedTensorProducts("ij=ji", i="1o").change_of_basis[1:]
    # e3nn orthonormalises a 9 x 9 system to get its basis: rounding of that solve, cond ~1
    torch.testing.assert_close(change_of_basis_2e(torch.float64), cob, atol=float64_atol(terms=81), rtol=0)


def test_2e_round_trip_and_equivariance():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(10, 3, 3, generator=g, dtype=torch.float64)
    m = m + m.transpose(1, 2)
    m = m - torch.diagonal(m, dim1=1, dim2=2).sum(-1)[:, None, None] / 3 * torch.eye(3, dtype=torch.float64)
    v = cartesian_to_2e(m)
    scale = float(m.abs().max())
    # contractions of 9 and 5 terms with an orthonormal basis, and products with rotations
    torch.testing.assert_close(from_2e(v), m, atol=float64_atol(scale, terms=45), rtol=0)
    R = groups.haar(1, generator=0, dtype=torch.float64)[0]
    D = groups.wigner_D("2e", R)  # exact to rounding (e3nn's Euler-angle route loses up to 1e-7)
    torch.testing.assert_close(
        cartesian_to_2e(R @ m @ R.T), v @ D.T, atol=float64_atol(scale, terms=81), rtol=0
    )


def test_2e_drops_trace_and_antisymmetric_part():
    a = torch.randn(3, 3, dtype=torch.float64)
    assert cartesian_to_2e(torch.eye(3, dtype=torch.float64)).abs().max() < 1e-15
    assert cartesian_to_2e(a - a.T).abs().max() < 1e-15
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
        cartesian_to_2e(torch.zeros(3, 4))


def test_registry_is_consistent():
    for name, info in keys.FIELDS.items():
        assert info.name == name
        assert info.level in keys.LEVELS
        if info.irreps is not None:
            assert info.irreps.dim > 0
    assert keys.field("pos").rep == "pos"
    with pytest.raises(KeyError, match="registered fields"):
        keys.field("nope")
    assert len(keys.QM9_TARGETS) == 19 and keys.QM9_TARGETS[2] == "homo"


def test_targets():
    assert as_target("homo") == Target("homo", "0e", "graph")
    assert as_target("velocity") == Target("velocity", "1o", "node")
    assert as_target("x:node:2e") == Target("x", "2e", "node")
    assert as_target({"name": "d", "irreps": "1o"}) == Target("d", "1o")
    assert str(Target("s", "2e", "node")) == "s:node:1x2e"
    with pytest.raises(ValueError, match="cannot infer"):
        as_target("unknown_thing")
    with pytest.raises(ValueError, match="duplicate"):
        as_targets(["homo", "homo"])
    with pytest.raises(ValueError, match="level"):
        Target("a", "0e", "edge")
    with pytest.raises(ValueError, match="at least one"):
        as_targets([])
