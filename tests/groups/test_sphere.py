import pytest
import torch

from gdl import groups


def _same_set(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-9) -> bool:
    d = (a[:, None] - b[None]).norm(dim=-1)
    return bool((d.min(dim=1).values < atol).all() and (d.min(dim=0).values < atol).all())


def test_icosahedron_vertices_are_an_orbit_of_the_icosahedral_group():
    V = groups.icosahedron_vertices()
    assert V.shape == (12, 3)
    torch.testing.assert_close(V.norm(dim=-1), torch.ones(12, dtype=torch.float64))
    I = groups.icosahedral()
    for R in I:
        assert _same_set(V @ R.T, V)
    assert _same_set(groups.orbit(I, V[0]), V)


def test_orbits():
    I = groups.icosahedral()
    generic = groups.orbit(I, torch.tensor([0.1, 0.3, 0.9]))
    assert generic.shape == (60, 3)
    assert _same_set(
        groups.orbit(groups.cube_group(), torch.tensor([0.0, 0.0, 1.0])), groups.octahedron_vertices()
    )


@pytest.mark.parametrize("n", [1, 12, 240])
def test_fibonacci_sphere(n):
    P = groups.fibonacci_sphere(n)
    assert P.shape == (n, 3)
    torch.testing.assert_close(P.norm(dim=-1), torch.ones(n, dtype=torch.float64))
    if n > 100:
        assert P.mean(dim=0).norm() < 0.02  # near-uniform


def test_random_sphere_seeded():
    a = groups.random_sphere(5, generator=1)
    assert torch.equal(a, groups.random_sphere(5, generator=1))
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError):
        groups.fibonacci_sphere(0)
