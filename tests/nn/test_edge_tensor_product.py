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
