import pytest
import torch

from gdl import groups


def _contains(G: torch.Tensor, M: torch.Tensor, atol: float = 1e-9) -> bool:
    return bool(((G - M).abs().amax(dim=(1, 2)) < atol).any())


CASES = [
    ("C1", lambda: groups.cyclic(1), 1),
    ("C5", lambda: groups.cyclic(5), 5),
    ("D3", lambda: groups.dihedral(3), 6),
    ("D6", lambda: groups.dihedral(6), 12),
    ("T", groups.tetrahedral, 12),
    ("O", groups.octahedral, 24),
    ("I", groups.icosahedral, 60),
    ("Oh", groups.cube_group, 48),
]


@pytest.mark.parametrize("name,make,order", CASES, ids=[c[0] for c in CASES])
def test_group_axioms(name, make, order):
    G = make()
    assert G.shape == (order, 3, 3) and G.dtype == torch.float64
    assert groups.is_orthogonal(G, atol=1e-12).all()
    if name != "Oh":
        assert groups.is_rotation(G, atol=1e-12).all()
    # identity first, elements distinct
    torch.testing.assert_close(G[0], torch.eye(3, dtype=torch.float64))
    diff = (G[:, None] - G[None]).abs().amax(dim=(2, 3)) + torch.eye(order, dtype=torch.float64)
    assert diff.min() > 1e-6
    # closed under composition and inverses: the Cayley table is a Latin square
    table = groups.cayley_table(G)
    for row in table:
        assert sorted(row.tolist()) == list(range(order))
    for col in table.T:
        assert sorted(col.tolist()) == list(range(order))
    inv = groups.inverse_table(G)
    eye_idx = table[torch.arange(order), inv]
    assert (eye_idx == 0).all()
    for a in range(order):
        assert _contains(G, G[a].T)


def test_cube_group_structure():
    Oh = groups.cube_group()
    det = torch.linalg.det(Oh)
    assert int((det > 0).sum()) == 24 and int((det < 0).sum()) == 24
    assert _contains(Oh, -torch.eye(3, dtype=torch.float64))
    # every element is a signed permutation matrix: it maps the cube to itself
    assert torch.allclose(Oh.abs().sum(dim=1), torch.ones(48, 3, dtype=torch.float64))
    assert torch.allclose(Oh.round(), Oh, atol=1e-12)


def test_subgroup_relations():
    O, T, I = groups.octahedral(), groups.tetrahedral(), groups.icosahedral()
    assert all(_contains(O, t) for t in T)
    assert all(_contains(I, t) for t in T)


def test_closure_rejects_infinite_groups():
    irrational = groups.axis_angle_to_matrix(
        torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.tensor(1.0)
    )
    with pytest.raises(ValueError, match="not finite"):
        groups.closure([irrational], max_order=50)


def test_finite_group_by_name():
    assert groups.finite_group("icosahedral").shape[0] == 60
    assert groups.finite_group("C4").shape[0] == 4
    assert groups.finite_group("D4").shape[0] == 8
    with pytest.raises(ValueError, match="unknown finite group"):
        groups.finite_group("E8")


def test_match_elements_rejects_outsiders():
    G = groups.octahedral()
    with pytest.raises(ValueError, match="not elements"):
        groups.match_elements(groups.haar(1, generator=0, dtype=torch.float64), G)
