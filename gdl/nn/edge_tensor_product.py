r"""The channel-wise tensor product of node features with edge spherical harmonics (TFN messages),
and the tensor product + scatter as one swappable unit (:class:`EdgeTensorProduct`)."""

from __future__ import annotations

import importlib.util
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence

import torch
from e3nn import o3
from torch import fx, nn

__all__ = [
    "BACKENDS",
    "FUSED_BACKENDS",
    "EdgeTensorProduct",
    "check_backend",
    "edge_tensor_product",
    "load_restricted_weights",
    "make_edge_tensor_product",
    "resolve_pair_radial",
    "register_backend",
    "split_column_slices",
]


def edge_tensor_product(
    irreps_in: o3.Irreps,
    irreps_sh: o3.Irreps,
    filter_ir_out: Iterable[o3.Irrep] | Sequence[Iterable[o3.Irrep]],
    copies: int = 1,
) -> tuple[o3.TensorProduct, o3.Irreps | tuple[o3.Irreps, ...]]:
    r"""A channel-wise ("uvu") tensor product of node features with edge spherical harmonics, with
    weights supplied per edge.

    Every path ``irreps_in[a] x irreps_sh[b] -> ir`` with ``ir`` in ``filter_ir_out`` has its own weight
    per channel and edge; paths that produce the same ``mul x ir`` are summed into one output block, as
    in the tensor field network of Thomas et al. 2018 (NequIP keeps them apart and mixes them later; the
    sum keeps the per-edge output, the aggregation and the linear map after it a few times smaller).
    Channels are not mixed ("uvu"): an ``o3.Linear`` after aggregation mixes them on nodes, much
    cheaper than a per-edge fully connected kernel. ``copies`` > 1 repeats the paths into independent
    output blocks (e.g. keys and values) that share the outer products of the inputs.

    ``filter_ir_out`` may also be a list of filters, one per output block (``copies`` is then their
    number): e.g. keys over every irrep and values over only the irreps a readout reads. The blocks
    still share the outer products.

    Returns:
        ``(tp, irreps_mid)``: the ``o3.TensorProduct`` (``shared_weights=False``,
        ``internal_weights=False``; ``tp.weight_numel`` weights per edge) and the irreps of one copy of
        its output (a tuple of irreps, one per block, when a list of filters was given); the output is
        the blocks concatenated. Its generated code is cleaned of dead outer products and passed
        through :func:`split_column_slices`.
    """
    filters = _as_filters(filter_ir_out)
    per_block = filters is not None
    if filters is None:
        filters = [{o3.Irrep(ir) for ir in filter_ir_out}] * copies
    mids: list[o3.Irreps] = []
    instructions: list[tuple[int, int, int, str, bool]] = []
    offset = 0
    for wanted in filters:
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
        instructions += [(a, b, offset + k, "uvu", True) for a, b, k in paths]
        offset += len(mid)
        mids.append(o3.Irreps(mid))
    irreps_out = sum(mids, o3.Irreps(""))
    tp = o3.TensorProduct(
        irreps_in,
        irreps_sh,
        irreps_out,
        instructions,
        shared_weights=False,
        internal_weights=False,
    )
    code = tp._compiled_main_left_right
    # e3nn's generated code computes outer products that its specialised paths never read
    code.graph.eliminate_dead_code()
    split_column_slices(code)
    code.recompile()
    return tp, (tuple(mids) if per_block else mids[0])


def _as_filters(filter_ir_out) -> list[set[o3.Irrep]] | None:
    """A list of per-block filters, or ``None`` when ``filter_ir_out`` is one filter."""
    items = list(filter_ir_out) if not isinstance(filter_ir_out, (str, o3.Irreps)) else None
    if not items or isinstance(items[0], (str, o3.Irrep)) or not isinstance(items[0], Iterable):
        return None
    if isinstance(items[0], tuple) and len(items[0]) == 2 and isinstance(items[0][0], int):
        return None  # an (l, p) pair is one irrep
    return [{o3.Irrep(ir) for ir in f} for f in items]


#: Fused kernels that could stand in for the e3nn tensor product + scatter: name -> (module, pip name).
FUSED_BACKENDS = {
    "cuequivariance": ("cuequivariance_torch", "cuequivariance-torch"),
    "openequivariance": ("openequivariance", "openequivariance"),
}
#: Implemented backends of :class:`EdgeTensorProduct`: name -> class (``register_backend``).
BACKENDS: dict[str, type] = {}


def register_backend(name: str, cls: type) -> None:
    """Make ``backend=name`` of :class:`EdgeTensorProduct` build ``cls`` (same constructor arguments
    and methods as :class:`EdgeTensorProduct`), e.g. a fused GPU kernel."""
    BACKENDS[name] = cls


def check_backend(backend: str) -> None:
    """Raise unless ``backend`` can be built here: a fused backend needs its package and CUDA, and
    never falls back to e3nn silently."""
    if backend in BACKENDS:
        return
    if backend in FUSED_BACKENDS:
        module, package = FUSED_BACKENDS[backend]
        if importlib.util.find_spec(module) is None:
            raise ImportError(
                f"tensor-product backend {backend!r} needs the package {package} "
                f"(pip install {package}), which is not installed; use backend='e3nn'"
            )
        if not torch.cuda.is_available():
            raise RuntimeError(f"tensor-product backend {backend!r} ({package}) needs a CUDA device")
        raise NotImplementedError(
            f"{package} is installed but gdl has no {backend!r} kernel registered; register one with "
            "gdl.nn.edge_tensor_product.register_backend or use backend='e3nn'"
        )
    known = sorted(BACKENDS) + sorted(FUSED_BACKENDS)
    raise ValueError(f"unknown tensor-product backend {backend!r}; known: {known}")


class EdgeTensorProduct(nn.Module):
    r"""The message computation of the irreps convolutions as one swappable unit: per-edge weighted
    channel-wise tensor products of the source features with the edge spherical harmonics, and their
    sum into the target nodes,

    .. math::
        m_i = \sum_{j 	o i} x_j \otimes_{w_{ij}} Y(r_{ij})

    (:func:`edge_tensor_product`). It is the option point where a fused GPU kernel (gather, tensor
    product and scatter in one: cuEquivariance, OpenEquivariance) plugs in behind ``backend``
    (:func:`register_backend`); the default ``"e3nn"`` is e3nn's generated code with an
    ``index_add`` scatter. A fused backend that is requested where its package or CUDA is missing
    raises, naming the package (never a silent fallback).

    Args:
        irreps_in: irreps of the node features.
        irreps_sh: irreps of the spherical harmonics.
        filter_ir_out: the output irreps kept, or a list of them, one per output block
            (:func:`edge_tensor_product`).
        copies: number of output blocks with one filter. Default ``1``.

    Build it with :func:`make_edge_tensor_product` to honour a ``backend`` option.

    Shapes:
        - :meth:`edges`: ``x_j [E, irreps_in.dim]``, ``edge_sh [E, irreps_sh.dim]``,
          ``weight [E, weight_numel]`` -> ``[E, irreps_out.dim]``;
        - :meth:`forward`: ``x [N, irreps_in.dim]``, ``edge_sh``, ``weight``, ``edge_index [2, E]``
          -> ``[N, irreps_out.dim]``.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_sh: o3.Irreps,
        filter_ir_out: Iterable[o3.Irrep] | Sequence[Iterable[o3.Irrep]],
        copies: int = 1,
    ):
        super().__init__()
        self.tp, mids = edge_tensor_product(irreps_in, irreps_sh, filter_ir_out, copies)
        self.irreps_mids: tuple[o3.Irreps, ...] = (mids,) * copies if isinstance(mids, o3.Irreps) else mids
        self.irreps_in, self.irreps_sh, self.irreps_out = irreps_in, irreps_sh, self.tp.irreps_out
        self.weight_numel: int = self.tp.weight_numel

    def edges(self, x_j: torch.Tensor, edge_sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The per-edge products (before the scatter), for layers that weigh them (attention)."""
        return self.tp(x_j, edge_sh, weight)

    def forward(
        self, x: torch.Tensor, edge_sh: torch.Tensor, weight: torch.Tensor, edge_index: torch.Tensor
    ) -> torch.Tensor:
        src, dst = edge_index[0], edge_index[1]
        m = self.tp(x.index_select(0, src), edge_sh, weight)
        return m.new_zeros(x.shape[0], m.shape[1]).index_add_(0, dst, m)

    def extra_repr(self) -> str:
        return (
            f"{self.irreps_in} x {self.irreps_sh} -> {self.irreps_out}, paths={len(self.tp.instructions)}, "
            f"weights_per_edge={self.weight_numel}"
        )


BACKENDS["e3nn"] = EdgeTensorProduct


def make_edge_tensor_product(
    irreps_in: o3.Irreps,
    irreps_sh: o3.Irreps,
    filter_ir_out: Iterable[o3.Irrep] | Sequence[Iterable[o3.Irrep]],
    copies: int = 1,
    backend: str = "e3nn",
) -> EdgeTensorProduct:
    """The :class:`EdgeTensorProduct` of ``backend`` (``"e3nn"``, or one registered with
    :func:`register_backend`); raises as :func:`check_backend` when it cannot be built here."""
    check_backend(backend)
    return BACKENDS[backend](irreps_in, irreps_sh, filter_ir_out, copies)


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


# ---------------------------------------------------------------------------------------------
# weights of a layer restricted to fewer output irreps (readout-aware last layers)
# ---------------------------------------------------------------------------------------------
Labels = list[list[object]]


def block_labels(irreps: o3.Irreps) -> Labels:
    """One label per channel of every block of ``irreps``: ``(mul, ir, u)`` (blocks of distinct
    ``mul x ir``, as :func:`edge_tensor_product` builds them)."""
    return [[(mul, ir, u) for u in range(mul)] for mul, ir in irreps]


def copy_linear_weight(src: o3.Linear, dst: o3.Linear, src_labels: tuple[Labels, Labels], dst_labels) -> None:
    """Copy into ``dst`` the weights of ``src`` between the channels that carry the same labels
    (``(input labels per block, output labels per block)`` of each). Every channel pair of ``dst``
    must exist in ``src`` with the same path normalisation (same inputs into each output irrep)."""
    (src_in, src_out), (dst_in, dst_out) = src_labels, dst_labels
    where_in = {lab: (b, u) for b, labs in enumerate(src_in) for u, lab in enumerate(labs)}
    where_out = {lab: (b, v) for b, labs in enumerate(src_out) for v, lab in enumerate(labs)}
    src_w = dict(_linear_blocks(src))
    with torch.no_grad():
        for (i_in, i_out), w in _linear_blocks(dst):
            rows = [where_in[lab] for lab in dst_in[i_in]]
            cols = [where_out[lab] for lab in dst_out[i_out]]
            (a,), (b,) = {r[0] for r in rows}, {c[0] for c in cols}
            block = src_w[(a, b)]
            w.copy_(block[[r[1] for r in rows]][:, [c[1] for c in cols]])


def _linear_blocks(lin: o3.Linear):
    """``((i_in, i_out), weight view [mul_in, mul_out])`` of every path of an ``o3.Linear``."""
    offset = 0
    for ins in lin.instructions:
        n = ins.path_shape[0] * ins.path_shape[1]
        yield (ins.i_in, ins.i_out), lin.weight.narrow(-1, offset, n).view(ins.path_shape)
        offset += n


def tp_weight_index(dst: o3.TensorProduct, src: o3.TensorProduct, key) -> torch.Tensor:
    """For per-edge weights: the columns of ``src``'s weights that ``dst``'s weights are, path by path,
    pairing the paths with equal ``key(instruction)`` (e.g. inputs, output irrep and output block)."""
    starts, offset = {}, 0
    for ins in src.instructions:
        n = math.prod(ins.path_shape)
        starts[key(src, ins)] = (offset, n)
        offset += n
    index: list[int] = []
    for ins in dst.instructions:
        start, n = starts[key(dst, ins)]
        if n != math.prod(ins.path_shape):
            raise ValueError(f"path {key(dst, ins)} has {n} weights in the source, {ins.path_shape} here")
        index += range(start, start + n)
    return torch.tensor(index, dtype=torch.long)


def load_restricted_weights(dst: nn.Module, src: nn.Module, keys, mid_labels, out_labels) -> None:
    """Copy into ``dst`` the weights of ``src``, two irreps layers (:class:`~gdl.nn.TFNConv`,
    :class:`~gdl.nn.SE3AttentionConv`) with the same inputs where ``dst`` emits a subset of ``src``'s
    output blocks (a readout-aware last layer), so that ``dst`` computes exactly those blocks of
    ``src``: the radial MLP (hidden layers as they are, the last one's columns path by path), the
    linear map after aggregation and the self-interaction. The one implementation of the weight
    mapping that both layers' ``load_restricted`` use.

    Args:
        dst, src: layers with ``radial_mlp``, ``tp``, ``linear``, ``self_interaction``,
            ``irreps_in``, ``irreps_sh`` and ``irreps_out``.
        keys: ``(key_dst, key_src)``: ``key(instruction)`` identifying a tensor-product path in
            each layer (:func:`tp_weight_index`).
        mid_labels: ``(src, dst)`` channel labels of the aggregated messages (the linear map's input).
        out_labels: ``(src, dst)`` channel labels of the output of the linear maps.
    """
    if (src.irreps_in, src.irreps_sh) != (dst.irreps_in, dst.irreps_sh):
        raise ValueError("load_restricted needs a layer with the same irreps_in and irreps_sh")
    missing = [str(b) for b in dst.irreps_out if b not in list(src.irreps_out)]
    if missing:
        raise ValueError(f"blocks {missing} of irreps_out={dst.irreps_out} are not in {src.irreps_out}")
    key_dst, key_src = keys
    with torch.no_grad():
        for w_dst, w_src in zip(dst.radial_mlp.weights[:-1], src.radial_mlp.weights[:-1]):
            w_dst.copy_(w_src)
        columns = tp_weight_index(
            dst.tp, src.tp, lambda tp, ins: key_dst(ins) if tp is dst.tp else key_src(ins)
        )
        dst.radial_mlp.weights[-1].copy_(src.radial_mlp.weights[-1][:, columns])
    (mid_src, mid_dst), (out_src, out_dst) = mid_labels, out_labels
    copy_linear_weight(src.linear, dst.linear, (mid_src, out_src), (mid_dst, out_dst))
    labels_in = block_labels(dst.irreps_in)
    copy_linear_weight(src.self_interaction, dst.self_interaction, (labels_in, out_src), (labels_in, out_dst))


def resolve_pair_radial(embedding, pos, edge_index, edge_vec, edge_sh, edge_radial, pair_index):
    """``(edge_sh [E, sh], edge_radial)`` as ``SphericalEdgeEmbedding.resolve``; with ``pair_index
    [E]`` the given ``edge_radial`` holds one row per node pair (:func:`gdl.nn.radial.node_pairs`)
    and is checked against the number of pairs."""
    if pair_index is None:
        return embedding.resolve(pos, edge_index, edge_vec, edge_sh, edge_radial)
    if edge_sh is None or edge_radial is None:
        raise ValueError("pair_index needs the precomputed edge_sh [E, sh] and edge_radial [P, num_basis]")
    if (
        pair_index.shape != (edge_index.shape[1],)
        or edge_radial.dim() != 2
        or edge_radial.shape[1] != embedding.num_basis
    ):
        raise ValueError(
            f"pair_index must have shape [{edge_index.shape[1]}] and edge_radial "
            f"[P, {embedding.num_basis}], got {tuple(pair_index.shape)} and {tuple(edge_radial.shape)}"
        )
    # edge_sh, pos and edge_index are validated as usual; the radial rows are per pair
    edge_sh, _ = embedding.resolve(
        pos, edge_index, edge_vec, edge_sh, edge_radial[:1].expand(edge_index.shape[1], -1)
    )
    return edge_sh, edge_radial
