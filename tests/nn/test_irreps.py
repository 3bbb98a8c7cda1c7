import pytest
import torch
from e3nn import o3

from gdl.nn.irreps import (
    as_irreps,
    check_irreps_chain,
    check_irreps_features,
    edge_tensor_product,
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


def test_edge_tensor_product_sums_paths_and_copies():
    tp, mid = edge_tensor_product(o3.Irreps("2x0e+2x1o"), o3.Irreps("0e+1o"), ["0e", "1o"])
    assert mid == o3.Irreps("2x0e+2x1o")
    # 0x0->0, 0x1->1, 1x0->1, 1x1->0: four channel-wise paths with 2 weights each
    assert len(tp.instructions) == 4 and tp.weight_numel == 8
    assert tp.irreps_out == mid
    tp2, mid2 = edge_tensor_product(o3.Irreps("2x0e+2x1o"), o3.Irreps("0e+1o"), ["0e", "1o"], copies=2)
    assert mid2 == mid and tp2.irreps_out == mid + mid and tp2.weight_numel == 16
    # the second copy with the second half of the weights equals the first copy with the first half
    x, y = o3.Irreps("2x0e+2x1o").randn(5, -1), o3.Irreps("0e+1o").randn(5, -1)
    w = torch.randn(5, 8)
    out = tp2(x, y, torch.cat([torch.randn(5, 8), w], dim=-1))
    torch.testing.assert_close(out[:, mid.dim :], tp(x, y, w))
    # blocks of different multiplicity are kept apart
    _, mid3 = edge_tensor_product(o3.Irreps("2x0e+1x1o"), o3.Irreps("0e+1o"), ["0e", "1o"])
    assert mid3 == o3.Irreps("2x0e+2x1o+1x1o+1x0e")


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
