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
    "BatchedEdgeTensorProduct",
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
                f"(pip install {package}), which is not installed; use backend='batched'"
            )
        if not torch.cuda.is_available():
            raise RuntimeError(f"tensor-product backend {backend!r} ({package}) needs a CUDA device")
        raise NotImplementedError(
            f"{package} is installed but gdl has no {backend!r} kernel registered; register one with "
            "gdl.nn.edge_tensor_product.register_backend or use backend='batched'"
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
    (:func:`register_backend`); this class, backend ``"e3nn"``, is e3nn's generated code with an
    ``index_add`` scatter, and :class:`BatchedEdgeTensorProduct` (``"batched"``, the layers'
    default) the same function in batched matrix products. A fused backend that is requested where
    its package or CUDA is missing raises, naming the package (never a silent fallback).

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


class BatchedEdgeTensorProduct(EdgeTensorProduct):
    r"""The same function as :class:`EdgeTensorProduct` (backend ``"batched"``), computed with batched
    matrix products instead of e3nn's per-path outer products, which is 2-3x faster on CPU for
    channel-wise paths.

    For an edge, path :math:`p: l_1 \otimes l_2 \to l_3` contributes
    :math:`w_{p,u}\, \sum_i x_{u,i} A^{(p)}_{ik}` to channel :math:`u` of its output block, where
    :math:`A^{(p)}_{ik} = \alpha_p \sum_j C^{(p)}_{ijk} Y_j` contracts the Clebsch-Gordan
    coefficients (and e3nn's path normalisation :math:`\alpha_p`) with the edge's spherical harmonics
    first: one small ``[E, sh] @ [sh, ...]`` product per input block, independent of the channels.
    The channels then enter through ``torch.bmm`` over edges, with features laid out
    ``[E, 2l+1, channels]``. Per run of paths that share an input block, either the weights multiply
    the inputs first and one ``bmm`` both applies the coefficients and sums the paths into their
    output blocks (``"weights first"``: chosen when the run's ``paths x (2 l_1 + 1)`` is smaller than
    twice its output components), or the ``bmm`` comes first and each path's result is scaled by its
    weights (a run that feeds few outputs, e.g. a last layer that emits only scalars). Features are
    re-laid out on nodes, before the gather and after the scatter, where it is cheap.

    Needs the same number of channels in every input and output block (TFN's and the
    SE(3)-Transformer's hidden layers); other irreps (e.g. a few vector-input channels beside the
    scalars) use e3nn's code, with the same results. :attr:`batched` says which one is used.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_sh: o3.Irreps,
        filter_ir_out: Iterable[o3.Irrep] | Sequence[Iterable[o3.Irrep]],
        copies: int = 1,
    ):
        super().__init__(irreps_in, irreps_sh, filter_ir_out, copies)
        tp = self.tp
        muls = {mul for mul, _ in tp.irreps_in1} | {mul for mul, _ in tp.irreps_out}
        ok = len(muls) == 1 and all(
            ins.connection_mode == "uvu" and ins.has_weight for ins in tp.instructions
        )
        #: whether the batched code is used (else e3nn's generated code, see the class docstring)
        self.batched: bool = bool(ok and tp.instructions)
        if not self.batched:
            return
        self._mul = next(iter(muls))
        self._in_dims = [ir.dim for _, ir in tp.irreps_in1]
        self._out_dims = [ir.dim for _, ir in tp.irreps_out]
        self._num_paths = len(tp.instructions)
        out_off = [0]
        for d in self._out_dims:
            out_off.append(out_off[-1] + d)
        self._d_out = out_off[-1]
        sh_off = [s.start for s in tp.irreps_in2.slices()]
        sh_dim = tp.irreps_in2.dim
        dtype = torch.get_default_dtype()

        def cg(ins) -> torch.Tensor:  # [j, k, i]: coefficients times the path normalisation
            l1, l2, l3 = (
                tp.irreps_in1[ins.i_in1].ir.l,
                tp.irreps_in2[ins.i_in2].ir.l,
                tp.irreps_out[ins.i_out].ir.l,
            )
            return (o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * ins.path_weight).permute(1, 2, 0)

        # runs of consecutive paths with one input block: their weights are contiguous columns
        runs: list[tuple[int, int, int]] = []  # (input block, first path, number of paths)
        for p, ins in enumerate(tp.instructions):
            if runs and runs[-1][0] == ins.i_in1 and runs[-1][1] + runs[-1][2] == p:
                a, p0, n = runs[-1]
                runs[-1] = (a, p0, n + 1)
            else:
                runs.append((ins.i_in1, p, 1))
        #: per run: (input block, first path, paths, weights first?, coefficient buffer name)
        self._runs: list[tuple[int, int, int, bool, str]] = []
        #: per bmm-first run: (output block, components) of each path
        self._run_outputs: list[list[tuple[int, int]]] = []
        for r, (a, p0, n) in enumerate(runs):
            paths = tp.instructions[p0 : p0 + n]
            i = self._in_dims[a]
            k_total = sum(self._out_dims[ins.i_out] for ins in paths)
            weights_first = n * i < 2 * k_total
            if weights_first:  # [sh, d_out, n * i]: path q's columns q*i:(q+1)*i, rows of its block
                b = torch.zeros(sh_dim, self._d_out, n * i, dtype=torch.float64)
                for q, ins in enumerate(paths):
                    j0, j1 = sh_off[ins.i_in2], sh_off[ins.i_in2] + tp.irreps_in2[ins.i_in2].ir.dim
                    o0, o1 = out_off[ins.i_out], out_off[ins.i_out + 1]
                    b[j0:j1, o0:o1, q * i : (q + 1) * i] = cg(ins)
            else:  # [sh, k_total, i]: the paths' components one after the other
                b = torch.zeros(sh_dim, k_total, i, dtype=torch.float64)
                c = 0
                for ins in paths:
                    j0, j1 = sh_off[ins.i_in2], sh_off[ins.i_in2] + tp.irreps_in2[ins.i_in2].ir.dim
                    k = self._out_dims[ins.i_out]
                    b[j0:j1, c : c + k] = cg(ins)
                    c += k
            name = f"_coefficients_{r}"
            self.register_buffer(name, b.reshape(sh_dim, -1).to(dtype), persistent=False)
            self._runs.append((a, p0, n, weights_first, name))
            self._run_outputs.append([(ins.i_out, self._out_dims[ins.i_out]) for ins in paths])

    def _to_components(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[M, irreps_in.dim]`` (e3nn's layout) -> per input block ``[M, 2l+1, channels]``."""
        m, u = x.shape[0], self._mul
        return [
            xa.view(m, u, d).transpose(1, 2)
            for xa, d in zip(x.split([u * d for d in self._in_dims], 1), self._in_dims)
        ]

    def _from_components(self, out: torch.Tensor) -> torch.Tensor:
        """``[M, d_out, channels]`` -> ``[M, irreps_out.dim]`` (e3nn's layout)."""
        m = out.shape[0]
        return torch.cat([o.transpose(1, 2).reshape(m, -1) for o in out.split(self._out_dims, 1)], 1)

    def _edge_products(
        self, xs: list[torch.Tensor], edge_sh: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """``[E, d_out, channels]`` from the per-block edge inputs ``xs`` (``[E, 2l+1, channels]``)."""
        e, u = edge_sh.shape[0], self._mul
        w = weight.view(e, self._num_paths, u)
        total: torch.Tensor | None = None
        blocks: list[torch.Tensor | None] = [None] * len(self._out_dims)
        for (a, p0, n, weights_first, name), outputs in zip(self._runs, self._run_outputs):
            coefficients = edge_sh @ getattr(self, name)
            xa, wr = xs[a], w.narrow(1, p0, n)
            i = xa.shape[1]
            if weights_first:
                xw = (wr.unsqueeze(2) * xa.unsqueeze(1)).reshape(e, n * i, u)
                coefficients = coefficients.view(e, self._d_out, n * i)
                total = (
                    torch.bmm(coefficients, xw) if total is None else torch.baddbmm(total, coefficients, xw)
                )
            else:
                t = torch.bmm(coefficients.view(e, -1, i), xa)  # [E, k_total, u]
                for q, (piece, (b, _)) in enumerate(zip(t.split([k for _, k in outputs], 1), outputs)):
                    piece = piece * wr.narrow(1, q, 1)
                    blocks[b] = piece if blocks[b] is None else blocks[b] + piece
        if all(b is None for b in blocks):
            assert total is not None
            return total
        parts = [b if b is not None else edge_sh.new_zeros(e, d, u) for b, d in zip(blocks, self._out_dims)]
        rest = torch.cat(parts, 1)
        return rest if total is None else total + rest

    def edges(self, x_j: torch.Tensor, edge_sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if not self.batched:
            return super().edges(x_j, edge_sh, weight)
        return self._from_components(self._edge_products(self._to_components(x_j), edge_sh, weight))

    def forward(
        self, x: torch.Tensor, edge_sh: torch.Tensor, weight: torch.Tensor, edge_index: torch.Tensor
    ) -> torch.Tensor:
        if not self.batched:
            return super().forward(x, edge_sh, weight, edge_index)
        src, dst = edge_index[0], edge_index[1]
        used = {run[0] for run in self._runs}
        xs = [  # re-laid out on nodes, then gathered (the blocks that no path reads are skipped)
            xa.contiguous().index_select(0, src) if a in used else xa
            for a, xa in enumerate(self._to_components(x))
        ]
        m = self._edge_products(xs, edge_sh, weight)  # [E, d_out, u]
        nodes = m.new_zeros(x.shape[0], self._d_out, self._mul).index_add_(0, dst, m)
        return self._from_components(nodes)


BACKENDS["batched"] = BatchedEdgeTensorProduct


def make_edge_tensor_product(
    irreps_in: o3.Irreps,
    irreps_sh: o3.Irreps,
    filter_ir_out: Iterable[o3.Irrep] | Sequence[Iterable[o3.Irrep]],
    copies: int = 1,
    backend: str = "batched",
) -> EdgeTensorProduct:
    """The :class:`EdgeTensorProduct` of ``backend`` (``"batched"``, ``"e3nn"``, or one registered with
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
