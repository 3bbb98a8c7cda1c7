import pytest
import torch

from gdl import groups
from gdl.dtype import default_dtype
from gdl.groups import anchor_permutation
from gdl.nn import AnchorReadout, SphereAnchorReadout
from gdl.testing import float64_atol

IRREPS = "0e+1o+2e+2x1o+3x0e"


def make(cls=AnchorReadout, irreps: str = IRREPS, c: int = 6) -> AnchorReadout:
    torch.manual_seed(0)
    with default_dtype(torch.float64):
        return cls(c, irreps, hidden_channels=8).double()


def readout_atol(y: torch.Tensor, anchors: torch.Tensor) -> float:
    """Sums over anchors x 5 coefficients of a least-squares fit, then a product with D(g)."""
    return float64_atol(
        float(y.abs().max()), cond=groups.fourier_condition(anchors, "2e"), terms=anchors.shape[0] * 5 + 18
    )


def features(n: int, a: int, c: int = 6) -> torch.Tensor:
    return torch.randn(n, a, c, generator=torch.Generator().manual_seed(a), dtype=torch.float64)


CASES = [
    (AnchorReadout, groups.octahedral, groups.octahedral),
    (AnchorReadout, groups.icosahedral, groups.icosahedral),
    (AnchorReadout, groups.cube_group, groups.cube_group),  # with reflections
    (SphereAnchorReadout, groups.icosahedron_vertices, groups.icosahedral),
    (
        SphereAnchorReadout,
        lambda: groups.orbit(groups.octahedral(), torch.tensor([1.0, 1.0, 0.0])),
        groups.octahedral,
    ),
]


@pytest.mark.parametrize("cls,anchors,group", CASES, ids=["O24", "I60", "Oh48", "S2-ico12", "S2-cubocta12"])
def test_exactly_equivariant_when_features_permute(cls, anchors, group):
    anchors, G = anchors(), group()
    readout = make(cls)
    f = features(5, anchors.shape[0])
    batch = torch.tensor([0, 0, 1, 1, 1])
    with default_dtype(torch.float64):
        y = readout(f, anchors)
        yg = readout(f, anchors, batch=batch, num_graphs=2)
        assert y.shape == (5, 18) and yg.shape == (2, 18)
        tol, tol_g = readout_atol(y, anchors), readout_atol(yg, anchors)
        for g in G[1:10]:
            D = groups.wigner_D(IRREPS, g)
            sigma = anchor_permutation(g, anchors)
            torch.testing.assert_close(readout(f[:, sigma], anchors), y @ D.T, atol=tol, rtol=0)
            torch.testing.assert_close(readout(f[:, sigma], anchors, batch, 2), yg @ D.T, atol=tol_g, rtol=0)


@pytest.mark.parametrize("cls,anchors", [(AnchorReadout, "so3"), (SphereAnchorReadout, "sphere")])
def test_any_anchor_set_rotated_with_the_input(cls, anchors):
    # y(f, g R) = D(g) y(f, R) for any anchors: the readout is a function of (features, anchors) pairs
    R = groups.haar(9, 0, dtype=torch.float64) if anchors == "so3" else groups.random_sphere(9, 0)
    readout = make(cls)
    f = features(4, 9)
    g = groups.haar(1, 3, dtype=torch.float64)[0]
    gR = g @ R if anchors == "so3" else R @ g.T
    with default_dtype(torch.float64):
        torch.testing.assert_close(readout(f, gR), readout(f, R) @ groups.wigner_D(IRREPS, g).T)


@pytest.mark.parametrize("cls,anchors", [(AnchorReadout, "so3"), (SphereAnchorReadout, "sphere")])
def test_features_equal_at_all_anchors_give_no_l_ge_1_output(cls, anchors):
    # centring: an isotropic input has zero 1o/2e outputs for any (here random) anchor set
    R = groups.haar(13, 1, dtype=torch.float64) if anchors == "so3" else groups.random_sphere(13, 1)
    f = features(4, 1).expand(4, 13, 6)
    y = make(cls)(f, R)
    assert y[:, 1:15].abs().max() < 1e-14  # 1o, 2e and 2x1o blocks
    assert y[:, [0, 15, 16, 17]].abs().min() > 0  # the 0e outputs are not


def test_layout_repr_and_validation():
    readout = make(irreps="2x1o")
    assert repr(readout) == "AnchorReadout(6, irreps='2x1o', hidden_channels=8)"
    assert readout.num_coefficients == 6 and make(SphereAnchorReadout, "2x1o").num_coefficients == 2
    R = groups.octahedral()
    f = features(3, 24)
    y = readout(f, R)
    assert y.shape == (3, 6)
    for bad in ("1e", "3o", "0o"):
        with pytest.raises(ValueError, match=r"made of \['0e', '1o', '2e'\]"):
            AnchorReadout(6, bad)
    with pytest.raises(ValueError, match=r"x must be \[N, A, 6\]"):
        readout(f[..., :3], R)
    with pytest.raises(ValueError, match="x has 24 anchors but `anchors` has 12"):
        readout(f, groups.icosahedral()[:12])
    with pytest.raises(ValueError, match="for sphere anchors"):
        make(SphereAnchorReadout)(f, R)


def test_quadrature_readout_matches_on_groups_and_leaks_on_random_anchors():
    from gdl.nn import QuadratureAnchorReadout

    plain, ls = make(QuadratureAnchorReadout, "1o+2e"), make(AnchorReadout, "1o+2e")
    G = groups.icosahedral()
    f = features(4, 60)
    y = ls(f, G)
    torch.testing.assert_close(plain(f, G), y, atol=readout_atol(y, G), rtol=0)
    R = groups.haar(20, 0, dtype=torch.float64)
    iso = features(4, 1).expand(4, 20, 6)
    assert ls(iso, R).abs().max() < 1e-14
    assert plain(iso, R).abs().max() > 1e-3  # the anchor mean leaks through (1/A) sum_a D(R_a)
    assert repr(plain).startswith("QuadratureAnchorReadout(6, irreps='1x1o+1x2e'")


@pytest.mark.parametrize("cls,anchors", [(AnchorReadout, "so3"), (SphereAnchorReadout, "sphere")])
def test_every_parameter_gets_a_gradient_and_l_ge_1_coefficients_have_no_bias(cls, anchors):
    # a bias on the 1o/2e coefficients is equal at every anchor and cancels in the Fourier transform:
    # before the fix the last layer's bias of a "1o" readout here (float64) had gradient max 6.1e-18
    # (rounding) on the octahedral group and exactly 0 on the icosahedron vertices (antipodal
    # pairs); now only the 0e coefficients carry a bias, and every parameter's gradient is > 1e-6
    R = groups.octahedral() if anchors == "so3" else groups.icosahedron_vertices()
    f = features(4, R.shape[0])
    for irreps, n0 in (("1o", 0), ("2e", 0), (IRREPS, 2 * 1 + 2 * 3)):
        readout = make(cls, irreps)
        with default_dtype(torch.float64):
            readout(f, R, torch.tensor([0, 0, 1, 1]), 2).pow(2).sum().backward()
        for name, p in readout.named_parameters():
            assert p.grad is not None and p.grad.abs().max() > 1e-6, (irreps, name)
        assert readout.mlp[-1].bias is None
        assert (readout.bias is None) if n0 == 0 else (readout.bias.shape == (n0,))
