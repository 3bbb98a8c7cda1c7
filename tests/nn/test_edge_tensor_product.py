import operator

import torch
from e3nn import o3

from gdl.nn.edge_tensor_product import edge_tensor_product, split_column_slices


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


def _plain_tp(irreps_in, irreps_sh, irreps_out, instructions):
    return o3.TensorProduct(
        irreps_in, irreps_sh, irreps_out, instructions, shared_weights=False, internal_weights=False
    )


def test_split_column_slices_keeps_values_and_gradients():
    irreps_in, irreps_sh = o3.Irreps("3x0e+2x1o+2x2e"), o3.Irreps("0e+1o+2e")
    tp, mid = edge_tensor_product(irreps_in, irreps_sh, ["0e", "1o", "2e"], copies=2)
    plain = _plain_tp(
        irreps_in, irreps_sh, tp.irreps_out, [tuple(ins)[:4] + (True,) for ins in tp.instructions]
    )
    assert plain.weight_numel == tp.weight_numel
    code = tp._compiled_main_left_right.code
    assert "torch.functional.split" in code or "torch.split" in code
    # no column slice of the weights is left
    slices = [
        n
        for n in tp._compiled_main_left_right.graph.nodes
        if n.target is operator.getitem and isinstance(n.args[1], tuple) and n.args[1][:1] == (slice(None),)
    ]
    assert not slices
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, irreps_in.dim, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(7, irreps_sh.dim, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, tp.weight_numel, generator=g, dtype=torch.float64, requires_grad=True)
    tp, plain = tp.double(), plain.double()
    out, ref = tp(x, y, w), plain(x, y, w)
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, y, w))
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), (x, y, w))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_split_column_slices_leaves_other_code_alone():
    gm = torch.fx.symbolic_trace(torch.nn.Linear(3, 2))
    assert split_column_slices(gm) == 0


def test_edge_tensor_product_unit_is_gather_product_scatter():
    import pytest
    from torch_geometric.utils import scatter

    from gdl.nn.edge_tensor_product import EdgeTensorProduct, make_edge_tensor_product, register_backend

    irreps_in, irreps_sh = o3.Irreps("3x0e+2x1o"), o3.Irreps("0e+1o")
    unit = make_edge_tensor_product(irreps_in, irreps_sh, [["0e", "1o"], ["0e"]])
    assert unit.irreps_mids == (o3.Irreps("3x0e+3x1o+2x1o+2x0e"), o3.Irreps("3x0e+2x0e"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, irreps_in.dim, generator=g)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 2]])
    sh = torch.randn(6, irreps_sh.dim, generator=g)
    w = torch.randn(6, unit.weight_numel, generator=g)
    ref = scatter(unit.edges(x[edge_index[0]], sh, w), edge_index[1], dim=0, dim_size=5, reduce="sum")
    torch.testing.assert_close(unit(x, sh, w, edge_index), ref)
    # the value block (second filter) is the 0e part of a one-filter product with the same weights
    single = EdgeTensorProduct(irreps_in, irreps_sh, ["0e"])
    n_keys = unit.weight_numel - single.weight_numel
    torch.testing.assert_close(
        unit.edges(x[edge_index[0]], sh, w)[:, unit.irreps_mids[0].dim :],
        single.edges(x[edge_index[0]], sh, w[:, n_keys:]),
    )
    # fused backends: never a silent fallback
    with pytest.raises(ImportError, match="needs the package cuequivariance-torch"):
        make_edge_tensor_product(irreps_in, irreps_sh, ["0e"], backend="cuequivariance")
    with pytest.raises(ValueError, match="unknown tensor-product backend"):
        make_edge_tensor_product(irreps_in, irreps_sh, ["0e"], backend="fast")

    class Doubled(EdgeTensorProduct):
        def forward(self, x, edge_sh, weight, edge_index):
            return 2 * super().forward(x, edge_sh, weight, edge_index)

    register_backend("test-doubled", Doubled)
    try:
        other = make_edge_tensor_product(irreps_in, irreps_sh, [["0e", "1o"], ["0e"]], backend="test-doubled")
        torch.testing.assert_close(other(x, sh, w, edge_index), 2 * ref)
    finally:
        from gdl.nn.edge_tensor_product import BACKENDS

        BACKENDS.pop("test-doubled")


def _pair(irreps_in, irreps_sh, filter_ir_out, copies=1):
    from gdl.nn.edge_tensor_product import make_edge_tensor_product

    # built in float64, so that both hold their coefficients in float64 (not float32 ones cast)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return tuple(
            make_edge_tensor_product(irreps_in, irreps_sh, filter_ir_out, copies, backend=b)
            for b in ("e3nn", "batched")
        )
    finally:
        torch.set_default_dtype(default)


def test_batched_backend_is_the_e3nn_function_in_float64():
    """Values and gradients (node features, harmonics, weights) of backend="batched" equal e3nn's
    generated code on the same inputs, for the layers of TFN and the SE(3)-Transformer: a hidden
    layer, a last layer that emits only scalars, a first layer fed scalars, per-block filters
    (keys and values) and SO(3) harmonics."""
    cases = [
        ("4x0e+4x1o+4x2e", "0e+1o+2e", ["0e", "1o", "1e", "2e", "2o"], 1),
        ("4x0e+4x1o+4x1e+4x2e+4x2o", "0e+1o+2e", ["0e"], 1),
        ("4x0e", "0e+1o+2e", ["0e", "1o", "2e"], 1),
        ("3x0e+3x1e+3x2e", "0e+1e+2e", [["0e", "1e", "2e"], ["0e"]], 1),
        ("2x0e+2x1o", "0e+1o", ["0e", "1o", "1e"], 2),
    ]
    g = torch.Generator().manual_seed(0)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 0, 2, 2], [1, 2, 3, 4, 0, 2, 0, 4]])
    for irreps_in, irreps_sh, filters, copies in cases:
        ref, fast = _pair(o3.Irreps(irreps_in), o3.Irreps(irreps_sh), filters, copies)
        assert fast.batched and fast.irreps_out == ref.irreps_out and fast.weight_numel == ref.weight_numel
        x = torch.randn(5, ref.irreps_in.dim, generator=g, dtype=torch.float64, requires_grad=True)
        sh = torch.randn(8, ref.irreps_sh.dim, generator=g, dtype=torch.float64, requires_grad=True)
        w = torch.randn(8, ref.weight_numel, generator=g, dtype=torch.float64, requires_grad=True)
        for per_edge in (False, True):
            if per_edge:
                out, expected = (u.edges(x[edge_index[0]], sh, w) for u in (fast, ref))
            else:
                out, expected = (u(x, sh, w, edge_index) for u in (fast, ref))
            torch.testing.assert_close(out, expected)
            grads = torch.autograd.grad(out.pow(2).sum(), (x, sh, w))
            ref_grads = torch.autograd.grad(expected.pow(2).sum(), (x, sh, w))
            for a, b in zip(grads, ref_grads):
                torch.testing.assert_close(a, b)


def test_batched_backend_falls_back_to_e3nn_code_for_mixed_channel_counts():
    # 16 scalar channels beside 2 vector inputs: the channel-major layout needs one count
    ref, fast = _pair(o3.Irreps("4x0e+2x1o"), o3.Irreps("0e+1o"), ["0e", "1o"])
    assert not fast.batched
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, ref.irreps_in.dim, generator=g, dtype=torch.float64)
    sh = torch.randn(4, 4, generator=g, dtype=torch.float64)
    w = torch.randn(4, ref.weight_numel, generator=g, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 2, 0], [1, 2, 0, 2]])
    torch.testing.assert_close(fast(x, sh, w, edge_index), ref(x, sh, w, edge_index))
