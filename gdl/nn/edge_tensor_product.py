r"""The channel-wise tensor product of node features with edge spherical harmonics (TFN messages)."""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable

import torch
from e3nn import o3
from torch import fx

__all__ = ["edge_tensor_product", "split_column_slices"]


def edge_tensor_product(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, filter_ir_out: Iterable[o3.Irrep], copies: int = 1
) -> tuple[o3.TensorProduct, o3.Irreps]:
    r"""A channel-wise ("uvu") tensor product of node features with edge spherical harmonics, with
    weights supplied per edge.

    Every path ``irreps_in[a] x irreps_sh[b] -> ir`` with ``ir`` in ``filter_ir_out`` has its own weight
    per channel and edge; paths that produce the same ``mul x ir`` are summed into one output block, as
    in the tensor field network of Thomas et al. 2018 (NequIP keeps them apart and mixes them later; the
    sum keeps the per-edge output, the aggregation and the linear map after it a few times smaller).
    Channels are not mixed ("uvu"): an ``o3.Linear`` after aggregation mixes them on nodes, much
    cheaper than a per-edge fully connected kernel. ``copies`` > 1 repeats the paths into independent
    output blocks (e.g. keys and values) that share the outer products of the inputs.

    Returns:
        ``(tp, irreps_mid)``: the ``o3.TensorProduct`` (``shared_weights=False``,
        ``internal_weights=False``; ``tp.weight_numel`` weights per edge) and the irreps of one copy of
        its output; the output is ``copies`` such blocks concatenated. Its generated code is cleaned
        of dead outer products and passed through :func:`split_column_slices`.
    """
    wanted = {o3.Irrep(ir) for ir in filter_ir_out}
    mid: list[tuple[int, o3.Irrep]] = []
    paths: list[tuple[int, int, int]] = []
    for a, (mul, ir_in) in enumerate(irreps_in):
        for b, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    if (mul, ir_out) in mid:
                        k = mid.index((mul, ir_out))
                    else:
                        k = len(mid)
                        mid.append((mul, ir_out))
                    paths.append((a, b, k))
    irreps_mid = o3.Irreps(mid)
    instructions = [(a, b, c * len(mid) + k, "uvu", True) for c in range(copies) for a, b, k in paths]
    tp = o3.TensorProduct(
        irreps_in,
        irreps_sh,
        irreps_mid * copies if copies > 1 else irreps_mid,
        instructions,
        shared_weights=False,
        internal_weights=False,
    )
    code = tp._compiled_main_left_right
    # e3nn's generated code computes outer products that its specialised paths never read
    code.graph.eliminate_dead_code()
    split_column_slices(code)
    code.recompile()
    return tp, irreps_mid


def split_column_slices(gm: fx.GraphModule) -> int:
    """Rewrite the column slices ``t[:, a:b]`` that e3nn's generated tensor-product code takes of its
    (per-edge) weights and inputs into one ``torch.split`` per tensor. Same values, cheaper
    gradients: the backward of each slice allocates and zero-fills a tensor of the full ``[E, D]`` size
    (one per path: about 45% of an SE(3)-Transformer training step on CPU), the backward of a split is
    one concatenation. Code that does not have this form is left alone. Returns the number of slices
    rewritten.
    """
    groups: dict[fx.Node, list[tuple[int, int, fx.Node]]] = defaultdict(list)
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is not operator.getitem or len(node.args) != 2:
            continue
        src, idx = node.args
        if not (isinstance(src, fx.Node) and isinstance(idx, tuple) and len(idx) == 2):
            continue
        rows, cols = idx
        if rows != slice(None) or not isinstance(cols, slice) or cols.step is not None:
            continue
        if not (isinstance(cols.start, int) and isinstance(cols.stop, int) and 0 <= cols.start < cols.stop):
            continue
        groups[src].append((cols.start, cols.stop, node))
    rewritten = 0
    graph = gm.graph
    for src, items in groups.items():
        if len(items) < 2:
            continue
        bounds = sorted({b for start, stop, _ in items for b in (start, stop)})
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        with graph.inserting_after(src):
            # one narrow (a view; its backward fills one full-size tensor) and one split_with_sizes
            # (its backward is one concatenation); tensor_split would decompose into slices again
            covered = graph.call_function(torch.narrow, (src, 1, bounds[0], bounds[-1] - bounds[0]))
        with graph.inserting_after(covered):
            pieces = graph.call_function(torch.split, (covered, sizes), {"dim": 1})
        for start, stop, node in items:
            # piece k of the split holds columns [bounds[k], bounds[k + 1])
            ks = range(bounds.index(start), bounds.index(stop))
            with graph.inserting_before(node):
                parts = [graph.call_function(operator.getitem, (pieces, k)) for k in ks]
                new = parts[0] if len(parts) == 1 else graph.call_function(torch.cat, (parts,), {"dim": 1})
            node.replace_all_uses_with(new)
            graph.erase_node(node)
            rewritten += 1
    if rewritten:
        graph.lint()
        gm.recompile()
    return rewritten
