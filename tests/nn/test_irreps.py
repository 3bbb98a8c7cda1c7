import pytest
import torch
from e3nn import o3

from gdl.nn.irreps import (
    as_irreps,
    check_irreps_chain,
    check_irreps_features,
    hidden_irreps,
    irreps_parity,
    reachable_irreps,
    so3_label,
    spherical_harmonics_irreps,
)


def test_spherical_harmonics_irreps():
    assert str(spherical_harmonics_irreps(3)) == "1x0e+1x1o+1x2e+1x3o"
    assert str(spherical_harmonics_irreps(2, parity=False)) == "1x0e+1x1e+1x2e"
    for bad in (-1, 13, 1.0, True):
        with pytest.raises(ValueError, match=r"l_max must be an integer in \[0, 12\]"):
            spherical_harmonics_irreps(bad)


def test_irreps_parity():
    assert irreps_parity(o3.Irreps("0e+1o+2e")) is True
    assert irreps_parity(o3.Irreps("0e+1e+2e")) is False
    with pytest.raises(ValueError, match="mixes parities"):
        irreps_parity(o3.Irreps("0e+1o+2o"))
    with pytest.raises(ValueError, match="each degree once"):
        irreps_parity(o3.Irreps("0e+2e"))
    with pytest.raises(ValueError, match="each degree once"):
        irreps_parity(o3.Irreps("2x0e+1o"))


def test_hidden_irreps_and_so3_label():
    assert str(hidden_irreps(8, 2)) == "8x0e+8x0o+8x1o+8x1e+8x2e+8x2o"
    assert str(hidden_irreps(8, 2, parity=False)) == "8x0e+8x1e+8x2e"
    assert str(so3_label("2x0o+3x1o+1x2e")) == "2x0e+3x1e+1x2e"
    with pytest.raises(ValueError, match="channels must be >= 1"):
        hidden_irreps(0, 1)


def test_reachable_irreps():
    target = hidden_irreps(4, 2)
    sh = spherical_harmonics_irreps(2)
    assert str(reachable_irreps(target, o3.Irreps("4x0e"), sh)) == "4x0e+4x1o+4x2e"
    assert str(reachable_irreps(target, o3.Irreps("4x0e+4x1o"), sh)) == "4x0e+4x1o+4x1e+4x2e+4x2o"
    assert reachable_irreps(target, o3.Irreps("4x0e+4x1o+4x1e"), sh) == target


def test_as_irreps_and_checks():
    assert as_irreps("2x0e", "irreps_in") == o3.Irreps("2x0e")
    with pytest.raises(ValueError, match="irreps_out must be an irreps"):
        as_irreps("2x", "irreps_out")
    with pytest.raises(ValueError, match=r"L: x must have shape \[N, 4\] for irreps_in=1x0e\+1x1o"):
        check_irreps_features(torch.zeros(3, 5), 3, 4, "1x0e+1x1o", "L")
    with pytest.raises(TypeError, match="floating"):
        check_irreps_features(torch.zeros(3, 4, dtype=torch.long), 3, 4, "1x0e+1x1o", "L")


def test_check_irreps_chain_names_both_layers():
    class A(torch.nn.Module):
        irreps_in, irreps_out = o3.Irreps("1x0e"), o3.Irreps("3x0e")

    class B(torch.nn.Module):
        irreps_in, irreps_out = o3.Irreps("1x1o"), o3.Irreps("1x0e")

    check_irreps_chain([B(), A()])  # 1x0e -> 1x0e agrees
    with pytest.raises(
        ValueError, match=r"layer 0 \(A\) has irreps_out=3x0e but layer 1 \(B\) has irreps_in=1x1o"
    ):
        check_irreps_chain([A(), B()])
