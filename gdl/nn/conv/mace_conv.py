r"""MACE interaction: many-body messages from a symmetric contraction of the atomic basis."""

from __future__ import annotations

import functools
import itertools
import math
from typing import ClassVar

import torch
from e3nn import o3
from torch import nn
from torch_geometric.nn import MessagePassing

from .._checks import check_message_passing_kwargs, values_checked
from ..edge_tensor_product import edge_tensor_product
from ..irreps import as_irreps, check_irreps_features, gate_for
from ..radial_mlp import RadialMLP
from ..spherical_edge_embedding import SphericalEdgeEmbedding

__all__ = ["MACEConv", "SymmetricContraction", "atomic_irreps", "product_basis_irreps", "symmetric_basis"]


class MACEConv(MessagePassing):
    r"""The MACE interaction of `Batatia, Kovács, Simm, Ortner & Csányi 2022
    <https://arxiv.org/abs/2206.07697>`_: a two-body atomic basis :math:`A_i` on each node, then a
    symmetric tensor contraction of :math:`A_i` with itself up to correlation order :math:`\nu`, so
    that one layer sees :math:`(\nu + 1)`-body terms, then a linear map onto the output irreps:

    .. math::
        A_{i,k} &= \frac{1}{\bar n}\, W_A \sum_{j \in \mathcal{N}(i)}
                   (W_{\text{up}} h_j) \otimes_{w(\lVert r_{ij} \rVert)} Y(r_{ij}), \qquad
                   w(r) = \mathrm{MLP}\bigl(R(r)\bigr) \\
        B_{i,k,LM} &= \sum_{n=1}^{\nu} \sum_{\eta} w^{(n)}_{z_i,k,L\eta}
                   \sum_{a_1 \le \dots \le a_n} \mathcal{U}^{(n)}_{\eta,M,a_1 \dots a_n}
                   \prod_{t=1}^{n} A_{i,k,a_t} \\
        h'_i &= W_B\, B_i + W_s\, h_i \qquad (\text{then a Gate with } \texttt{gate=True})

    with :math:`r_{ij} = p_j - p_i`, :math:`Y` the spherical harmonics up to :math:`L` (``irreps_sh``),
    the tensor product channel-wise ("uvu", :func:`~gdl.nn.edge_tensor_product.edge_tensor_product`,
    as in :class:`TFNConv`), :math:`W_{\text{up}}, W_A, W_B, W_s` equivariant linear maps
    (``e3nn.o3.Linear``; :math:`W_A` maps onto ``channels`` copies of each spherical-harmonic irrep,
    the atomic basis), :math:`k` the channel, :math:`a` the components of one channel of
    :math:`A` and :math:`z_i` the node type (``node_type``). The contraction is channel-wise, as in
    MACE: channel :math:`k` of :math:`B` is a polynomial of degree :math:`\le \nu` in channel
    :math:`k` of :math:`A`. :math:`\mathcal{U}^{(n)}` is an orthonormal basis of the equivariant
    maps from the symmetric power :math:`\mathrm{Sym}^n(A)` onto the irrep :math:`L`
    (generalised Clebsch–Gordan coefficients); the weights :math:`w^{(n)}` are learned per node
    type. With ``correlation=1`` the layer is a TFN-type convolution (with ``gate=True`` it is
    :class:`TFNConv` up to the parametrisation; tested with mapped weights).

    **Implementation.** The basis :math:`\mathcal{U}` is built on e3nn 0.6 primitives: couplings of
    the atomic-basis irreps by repeated ``o3.wigner_3j`` over sorted tuples of blocks, symmetrised
    over the :math:`n` slots and orthonormalised (Gram–Schmidt, in a fixed order). The contraction
    evaluates the distinct monomials :math:`\prod_t A_{a_t}` (:math:`a_1 \le \dots \le a_n`, each
    degree from the previous one) and one matrix product. ``cuequivariance-torch`` 0.13's
    ``SymmetricContraction`` was checked first: it installs from PyPI (pure-Python wheels) and its
    ``method="naive"`` path runs on CPU without the CUDA ops, equivariant to 3e-15 in e3nn's basis, but
    building its descriptor for correlation 3 of ``0e+1o+2e+3o`` onto outputs up to ``l = 2``
    took 79–109 s on this 2-core machine (under load), its e3nn-compatible group is in
    ``cuequivariance.group_theory.experimental``, and its weights live in an internal basis; this
    basis builds in well under a second for the same case and keeps one weight per basis element.
    ``mace-torch`` pins e3nn 0.4.4 and is not a dependency.

    Args:
        irreps_in: irreps of the input features (``"16x0e"``, ``"16x0e+16x1o"``).
        irreps_out: irreps of the output features, in any order; every one of them must be produced by
            the product basis (a degree up to ``correlation`` x the atomic basis' ``l_max``, with a
            parity the products can have).
        irreps_sh: spherical harmonics: an integer ``l_max`` (O(3): ``0e+1o+2e+...``) or explicit
            irreps; ``"0e+1e+2e"`` makes the layer SO(3)-equivariant only (:mod:`gdl.nn.irreps`).
            Default ``2``.
        correlation: :math:`\nu`, the largest degree of the symmetric contraction (body order
            :math:`\nu + 1`). Default ``3``.
        channels: channels :math:`k` of the atomic basis. Default ``None``: the largest
            multiplicity in ``irreps_in``.
        num_types: number of node types with their own contraction weights; ``node_type`` must then
            lie in ``[0, num_types)``. Default ``1`` (shared weights, ``node_type`` optional).
        radial: radial embedding of edge lengths (e.g. :class:`gdl.nn.RadialEmbedding`). Default
            ``None``: 8 Bessel functions times a polynomial envelope, cutoff 5.0.
        radial_hidden: width of the radial MLP. Default ``64``.
        avg_num_neighbors: :math:`\bar n`, the normalisation of the sum (MACE divides by it, not by
            its square root). Default ``1.0`` (none).
        gate: apply e3nn's gated nonlinearity to the output, as :class:`TFNConv` does. MACE itself has
            no nonlinearity in the interaction (the products are the nonlinearity). Default ``False``.
        **kwargs: ``MessagePassing`` arguments: ``aggr`` must be ``"sum"`` (the atomic basis is a
            sum over neighbours; :attr:`supported_aggr`) and ``flow`` ``"source_to_target"``.

    Shapes:
        - **input:** ``x [N, irreps_in.dim]``, ``pos [N, 3]``, ``edge_index [2, E]``, optional
          ``edge_vec [E, 3]`` (used instead of ``pos[j] - pos[i]``), optional precomputed
          ``edge_sh [E, irreps_sh.dim]`` and ``edge_radial [E, num_basis]``
          (:class:`gdl.nn.SphericalEdgeEmbedding`), optional ``node_type [N]`` (integers; required
          when ``num_types > 1``).
        - **output:** ``[N, irreps_out.dim]``.

    ``x`` and the output are equivariant with the declared irreps (O(3) or, with even-labelled
    ``irreps_sh``, SO(3)); ``pos`` is translated and rotated, ``edge_vec`` rotated; ``node_type`` is
    invariant; the output is invariant to translations and equivariant to node permutations.
    Memory is dominated by the per-edge radial weights and messages (as in :class:`TFNConv`) and, per
    node, by the monomials ``[M, N x channels]`` with :math:`M = \sum_{n \le \nu} \binom{D + n - 1}{n}`
    (:math:`D` = the atomic basis' dimension per channel, 16 for ``l_max = 3``; ``repr`` shows it).
    """

    #: the atomic basis sums the messages over neighbours (normalised by ``avg_num_neighbors``)
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum",)

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        irreps_sh: int | str | o3.Irreps = 2,
        correlation: int = 3,
        channels: int | None = None,
        num_types: int = 1,
        radial: nn.Module | None = None,
        radial_hidden: int = 64,
        avg_num_neighbors: float = 1.0,
        gate: bool = False,
        **kwargs,
    ):
        mp = check_message_passing_kwargs(type(self).__name__, kwargs, self.supported_aggr)
        super().__init__(node_dim=0, **mp)
        self.irreps_in = as_irreps(irreps_in, "irreps_in")
        self.irreps_out = as_irreps(irreps_out, "irreps_out")
        if self.irreps_in.dim == 0 or self.irreps_out.dim == 0:
            raise ValueError(
                f"MACEConv needs non-empty irreps, got irreps_in={self.irreps_in}, "
                f"irreps_out={self.irreps_out}"
            )
        if not isinstance(correlation, int) or isinstance(correlation, bool) or correlation < 1:
            raise ValueError(f"MACEConv: correlation must be an integer >= 1, got {correlation!r}")
        if channels is None:
            channels = max(mul for mul, _ in self.irreps_in)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"MACEConv: channels must be an integer >= 1, got {channels!r}")
        if not isinstance(num_types, int) or num_types < 1:
            raise ValueError(f"MACEConv: num_types must be an integer >= 1, got {num_types!r}")
        if avg_num_neighbors <= 0:
            raise ValueError(f"avg_num_neighbors must be > 0, got {avg_num_neighbors}")
        self.edge_embedding = SphericalEdgeEmbedding(irreps_sh, radial)
        self.irreps_sh = self.edge_embedding.irreps_sh
        self.correlation, self.channels, self.num_types = correlation, channels, num_types
        self.avg_num_neighbors, self.use_gate = float(avg_num_neighbors), bool(gate)

        if self.use_gate:
            self.gate, out_index = gate_for(self.irreps_out)
            irreps_pre = self.gate.irreps_in
        else:
            self.gate, out_index = None, None
            irreps_pre = self.irreps_out
        self.register_buffer("_out_index", out_index, persistent=False)

        # the atomic basis: spherical-harmonic irreps that the tensor product reaches and that some
        # basis element of the contraction uses for the requested outputs
        atomic = atomic_irreps(self.irreps_in, self.irreps_sh)
        wanted = o3.Irreps([(1, ir) for ir in dict.fromkeys(ir for mul, ir in irreps_pre if mul > 0)])
        _check_product_reach(self.irreps_out, atomic, correlation, self.irreps_in, self.irreps_sh)
        atomic = _used_atomic_irreps(atomic, wanted, correlation)
        self.irreps_atomic = o3.Irreps([(channels, ir) for _, ir in atomic])

        self.linear_up = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp, self.irreps_mid = edge_tensor_product(
            self.irreps_in, self.irreps_sh, {ir for _, ir in atomic}
        )
        self.radial_mlp = RadialMLP(self.edge_embedding.num_basis, self.tp.weight_numel, radial_hidden)
        self.linear_atomic = o3.Linear(self.irreps_mid, self.irreps_atomic)
        self.contraction = SymmetricContraction(atomic, wanted, correlation, channels, num_types)
        self.irreps_product = self.contraction.irreps_out
        self.linear_out = o3.Linear(self.irreps_product, irreps_pre)
        self.self_interaction = o3.Linear(self.irreps_in, irreps_pre)

        # plain Python for forward (torch.compile cannot guard on e3nn objects)
        self._in_dim, self._in_str = self.irreps_in.dim, str(self.irreps_in)
        self._scale = 1.0 / self.avg_num_neighbors
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.radial_mlp.reset_parameters()
        self.contraction.reset_parameters()
        with torch.no_grad():
            for lin in (self.linear_up, self.linear_atomic, self.linear_out, self.self_interaction):
                lin.weight.normal_()

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        edge_vec: torch.Tensor | None = None,
        edge_sh: torch.Tensor | None = None,
        edge_radial: torch.Tensor | None = None,
        node_type: torch.Tensor | None = None,
    ) -> torch.Tensor:
        edge_sh, edge_radial = self.edge_embedding.resolve(pos, edge_index, edge_vec, edge_sh, edge_radial)
        check_irreps_features(x, pos.shape[0], self._in_dim, self._in_str, type(self).__name__)
        weight = self.radial_mlp(edge_radial)  # [E, tp.weight_numel]
        m = self.propagate(edge_index, x=self.linear_up(x), edge_sh=edge_sh, weight=weight)
        a = self.linear_atomic(m) * self._scale  # [N, irreps_atomic.dim]
        b = self.contraction(a, node_type)  # [N, irreps_product.dim]
        out = self.linear_out(b) + self.self_interaction(x)
        if self.gate is not None:
            out = self.gate(out)
            if self._out_index is not None:  # the gate emits scalars first; restore irreps_out's order
                out = out.index_select(-1, self._out_index)
        return out

    @property
    def radial(self) -> nn.Module:
        """The injected radial embedding of edge lengths (held by ``edge_embedding``)."""
        return self.edge_embedding.radial

    def message(self, x_j: torch.Tensor, edge_sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.tp(x_j, edge_sh, weight)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out}, irreps_sh={self.irreps_sh}, "
            f"correlation={self.correlation}, atomic={self.irreps_atomic}, "
            f"product={self.irreps_product}, basis={self.contraction.num_basis}, "
            f"monomials={self.contraction.num_monomials}, num_types={self.num_types}, "
            f"weights_per_edge={self.tp.weight_numel}, avg_num_neighbors={self.avg_num_neighbors}, "
            f"gate={self.use_gate})"
        )


class SymmetricContraction(nn.Module):
    r"""MACE's channel-wise symmetric contraction (the product basis):

    .. math::
        B_{i,k,LM} = \sum_{n=1}^{\nu} \sum_{\eta} w^{(n)}_{z_i,k,L\eta}
        \sum_{a_1 \le \dots \le a_n} \mathcal{U}^{(n)}_{\eta,M,a_1 \dots a_n} \prod_t A_{i,k,a_t}

    for every output irrep :math:`L` that the products reach (:class:`MACEConv`; the basis
    :math:`\mathcal{U}` from :func:`symmetric_basis`).

    Args:
        irreps_in: the irreps of one channel of :math:`A` (each with multiplicity 1, e.g.
            ``"0e+1o+2e"``).
        irreps_out: the wanted output irreps (multiplicity 1 each); those the products cannot reach
            are dropped (:attr:`irreps_out` lists the rest, ``channels`` copies each).
        correlation: :math:`\nu >= 1`.
        channels: number of channels :math:`k`.
        num_types: number of node types with their own weights. Default ``1``.

    Shapes:
        ``a [N, channels x irreps_in]`` (e3nn's ``mul_ir`` layout), ``node_type [N]`` ->
        ``[N, irreps_out.dim]``.
    """

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        correlation: int,
        channels: int,
        num_types: int = 1,
    ):
        super().__init__()
        irreps_in, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        if any(mul != 1 for mul, _ in irreps_in + irreps_out):
            raise ValueError(
                f"SymmetricContraction takes one copy of each irrep per channel, got "
                f"irreps_in={irreps_in}, irreps_out={irreps_out}"
            )
        if not isinstance(correlation, int) or isinstance(correlation, bool) or correlation < 1:
            raise ValueError(
                f"SymmetricContraction: correlation must be an integer >= 1, got {correlation!r}"
            )
        self.irreps_in_single, self.correlation = irreps_in, correlation
        self.channels, self.num_types = channels, num_types
        dim = irreps_in.dim
        # the distinct monomials of each degree: sorted index tuples, each from its prefix
        tuples: list[list[tuple[int, ...]]] = [[(a,) for a in range(dim)]]
        parents: list[list[int]] = []
        lasts: list[list[int]] = []
        for _ in range(1, correlation):
            prev = {t: k for k, t in enumerate(tuples[-1])}
            nxt = [t + (a,) for t in tuples[-1] for a in range(t[-1], dim)]
            tuples.append(nxt)
            parents.append([prev[t[:-1]] for t in nxt])
            lasts.append([t[-1] for t in nxt])
        for k, (p, q) in enumerate(zip(parents, lasts)):
            self.register_buffer(f"_parent{k}", torch.tensor(p, dtype=torch.long), persistent=False)
            self.register_buffer(f"_last{k}", torch.tensor(q, dtype=torch.long), persistent=False)
        self.num_monomials = sum(len(t) for t in tuples)
        offsets = list(itertools.accumulate([0] + [len(t) for t in tuples]))

        kept: list[o3.Irrep] = []
        self.weights = nn.ParameterList()
        self.num_basis: list[int] = []
        for _, ir in irreps_out:
            rows = []
            for n in range(1, correlation + 1):
                u = symmetric_basis(str(irreps_in), str(ir), n)  # [P, ir.dim, dim ** n]
                if u.shape[0] == 0:
                    continue
                full = torch.zeros(u.shape[0], ir.dim, self.num_monomials, dtype=torch.float64)
                idx = torch.tensor(tuples[n - 1], dtype=torch.long)  # [M_n, n]
                flat = torch.zeros(len(tuples[n - 1]), dtype=torch.long)
                for t in range(n):
                    flat = flat * dim + idx[:, t]
                mult = torch.tensor([_multiplicity(t) for t in tuples[n - 1]], dtype=torch.float64)
                full[:, :, offsets[n - 1] : offsets[n]] = u[:, :, flat] * mult
                rows.append(full)
            if not rows:
                continue
            basis = torch.cat(rows)  # [P, ir.dim, M]
            kept.append(ir)
            self.num_basis.append(basis.shape[0])
            # [P * ir.dim, M]: one matrix product maps the monomials onto every basis element
            self.register_buffer(
                f"_basis{len(kept) - 1}",
                basis.reshape(-1, self.num_monomials).contiguous().to(torch.get_default_dtype()),
                persistent=False,
            )
            self.weights.append(nn.Parameter(torch.empty(num_types, basis.shape[0], channels)))
        self.irreps_out = o3.Irreps([(channels, ir) for ir in kept])
        self._out_dims = [ir.dim for ir in kept]
        self._in_dims = [ir.dim for _, ir in irreps_in]
        self._dim = dim
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w in self.weights:
            nn.init.normal_(w, std=1.0 / math.sqrt(w.shape[1]))

    def monomials(self, a: torch.Tensor) -> torch.Tensor:
        """``[N, channels x irreps_in]`` -> ``[num_monomials, N * channels]``: every distinct product
        of up to ``correlation`` components of each channel, degree by degree (components first, so
        that each degree is two row gathers and a product)."""
        n, k = a.shape[0], self.channels
        parts, start = [], 0
        for d in self._in_dims:  # mul_ir blocks [N, k * d] -> [d, N * k]
            parts.append(a[:, start : start + k * d].reshape(n, k, d).permute(2, 0, 1).reshape(d, n * k))
            start += k * d
        x = torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]  # [dim, N * k]
        monos = [x]
        for q in range(self.correlation - 1):
            parent, last = getattr(self, f"_parent{q}"), getattr(self, f"_last{q}")
            monos.append(monos[-1].index_select(0, parent) * x.index_select(0, last))
        return torch.cat(monos, dim=0) if len(monos) > 1 else monos[0]

    def forward(self, a: torch.Tensor, node_type: torch.Tensor | None = None) -> torch.Tensor:
        n = a.shape[0]
        if node_type is None:
            if self.num_types > 1:
                raise ValueError(
                    f"{type(self).__name__} has weights for num_types={self.num_types} node types: "
                    "pass node_type [N]"
                )
        else:
            if node_type.dim() != 1 or node_type.shape[0] != n or node_type.is_floating_point():
                raise ValueError(
                    f"node_type must be an integer tensor of shape [{n}], got "
                    f"{tuple(node_type.shape)} {node_type.dtype}"
                )
            # a value check (host synchronisation): only under gdl.debug(); models check z once
            if (
                values_checked(None)
                and node_type.numel()
                and (int(node_type.min()) < 0 or int(node_type.max()) >= self.num_types)
            ):
                raise ValueError(
                    f"node_type has values in [{int(node_type.min())}, {int(node_type.max())}], "
                    f"outside [0, {self.num_types})"
                )
        mono = self.monomials(a)  # [M, N * k]
        outs = []
        for q, (w, d) in enumerate(zip(self.weights, self._out_dims)):
            t = getattr(self, f"_basis{q}") @ mono  # [P * d, N * k]
            t = t.reshape(-1, d, n, self.channels)
            wn = w[0].expand(n, -1, -1) if node_type is None else w.index_select(0, node_type)  # [N, P, k]
            outs.append(torch.einsum("pdnk,npk->nkd", t, wn).reshape(n, -1))
        return torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]

    def extra_repr(self) -> str:
        return (
            f"{self.channels}x({self.irreps_in_single}) -> {self.irreps_out}, "
            f"correlation={self.correlation}, basis={self.num_basis}, monomials={self.num_monomials}, "
            f"num_types={self.num_types}"
        )


def _multiplicity(t: tuple[int, ...]) -> int:
    """The number of distinct orderings of the sorted index tuple ``t``."""
    out = math.factorial(len(t))
    for _, group in itertools.groupby(t):
        out //= math.factorial(len(list(group)))
    return out


@functools.cache
def symmetric_basis(irreps: str, ir_out: str, degree: int) -> torch.Tensor:
    r"""An orthonormal basis of the equivariant maps from the symmetric power
    :math:`\mathrm{Sym}^n(V)` onto ``ir_out``, for :math:`V` = ``irreps`` (one copy of each irrep):
    ``[P, ir_out.dim, D ** degree]`` in float64 (``D = V.dim``), each element symmetric in its
    ``degree`` input slots, of Frobenius norm :math:`\sqrt{2L + 1}` (e3nn's component normalisation:
    unit-variance inputs give outputs of about unit variance), mutually orthogonal. ``P = 0`` when no
    product of ``degree`` components of ``V`` has the irrep ``ir_out`` (degree or parity).

    Built from couplings :math:`((V_{b_1} \otimes V_{b_2})_{l_{12}} \otimes V_{b_3}) \dots` with
    ``o3.wigner_3j``, over sorted tuples :math:`b_1 \le b_2 \le \dots` of the blocks of ``V``
    (symmetrising the other orders gives the same span), each symmetrised over the slots, then
    Gram–Schmidt in a fixed order.
    """
    v, target = o3.Irreps(irreps), o3.Irrep(ir_out)
    dim, lmax = v.dim, max(ir.l for _, ir in v)
    blocks = [(ir, s) for (_, ir), s in zip(v, v.slices())]
    # level 1: the identity on each block; entries (irrep, tensor [ir.dim, D ** n], last block)
    level = []
    for b, (ir, s) in enumerate(blocks):
        c = torch.zeros(ir.dim, dim, dtype=torch.float64)
        c[:, s] = torch.eye(ir.dim, dtype=torch.float64)
        level.append((ir, c, b))
    for n in range(2, degree + 1):
        remaining = degree - n
        nxt = []
        for ir_l, c_l, b0 in level:
            for b in range(b0, len(blocks)):
                ir_b, s = blocks[b]
                for ir in ir_l * ir_b:
                    if abs(ir.l - target.l) > remaining * lmax or (remaining == 0 and ir != target):
                        continue
                    w3j = o3.wigner_3j(ir_l.l, ir_b.l, ir.l, dtype=torch.float64)  # [l, b, o]
                    c = torch.zeros(ir.dim, c_l.shape[1], dim, dtype=torch.float64)
                    c[:, :, s] = torch.einsum("jx,jko->oxk", c_l, w3j)
                    nxt.append((ir, c.reshape(ir.dim, -1), b))
        level = nxt
    cands = [c for ir, c, _ in level if ir == target]
    shape = (target.dim,) + (dim,) * degree
    basis: list[torch.Tensor] = []
    perms = list(itertools.permutations(range(1, degree + 1)))
    for c in cands:
        t = c.reshape(shape)
        t = sum(t.permute(0, *p) for p in perms) / len(perms)
        vec = t.reshape(-1)
        norm0 = float(vec.norm())
        if norm0 < 1e-12:
            continue
        for _ in range(2):  # Gram-Schmidt, twice for stability
            for q in basis:
                vec = vec - (q @ vec) * q
        if float(vec.norm()) > 1e-8 * norm0:
            basis.append(vec / vec.norm())
    if not basis:
        return torch.zeros(0, target.dim, dim**degree, dtype=torch.float64)
    return torch.stack(basis).reshape(len(basis), target.dim, -1) * math.sqrt(target.dim)


def product_basis_irreps(atomic: str | o3.Irreps, correlation: int, candidates: str | o3.Irreps) -> o3.Irreps:
    """The irreps among ``candidates`` (multiplicities kept) that some product of at most
    ``correlation`` components of one channel of the atomic basis ``atomic`` (one copy of each irrep)
    has: what :class:`MACEConv` can emit."""
    single = o3.Irreps([(1, ir) for _, ir in o3.Irreps(atomic)])
    return o3.Irreps(
        [
            (mul, ir)
            for mul, ir in o3.Irreps(candidates)
            if any(symmetric_basis(str(single), str(ir), n).shape[0] for n in range(1, correlation + 1))
        ]
    )


def atomic_irreps(irreps_in: str | o3.Irreps, irreps_sh: o3.Irreps) -> o3.Irreps:
    """The spherical-harmonic irreps (one copy each) that the tensor product of ``irreps_in`` with
    ``irreps_sh`` reaches: the irreps of one channel of :class:`MACEConv`'s atomic basis."""
    have = {ir for mul, ir in o3.Irreps(irreps_in) if mul > 0}
    reach = {ir for ir_in in have for _, ir_sh in irreps_sh for ir in ir_in * ir_sh}
    return o3.Irreps([(1, ir) for _, ir in irreps_sh if ir in reach])


def _used_atomic_irreps(atomic: o3.Irreps, wanted: o3.Irreps, correlation: int) -> o3.Irreps:
    """The blocks of ``atomic`` that some basis element onto ``wanted`` reads (the others would get
    no gradient)."""
    used: set[int] = set()
    slices = atomic.slices()
    for _, ir in wanted:
        for n in range(1, correlation + 1):
            u = symmetric_basis(str(atomic), str(ir), n)
            if u.shape[0] == 0:
                continue
            # |u| summed over everything but the first input slot (u is symmetric in the slots)
            touched = u.abs().reshape(u.shape[0], ir.dim, atomic.dim, -1).sum(dim=(0, 1, 3))
            used |= {b for b, s in enumerate(slices) if float(touched[s].max()) > 1e-12}
    return o3.Irreps([(1, ir) for b, (_, ir) in enumerate(atomic) if b in used])


def _check_product_reach(
    irreps_out: o3.Irreps, atomic: o3.Irreps, correlation: int, irreps_in: o3.Irreps, irreps_sh: o3.Irreps
) -> None:
    have = {ir for _, ir in product_basis_irreps(atomic, correlation, irreps_out)} if atomic else set()
    missing = [ir for mul, ir in irreps_out if mul > 0 and ir not in have]
    if not missing:
        return
    chain = (
        f"irreps_in={irreps_in} x irreps_sh={irreps_sh} -> atomic basis {atomic or '(empty)'} -> "
        f"product basis of correlation {correlation} -> irreps_out={irreps_out}"
    )
    l_reach = correlation * max((ir.l for _, ir in atomic), default=0)
    too_high = sorted({str(ir) for ir in missing if ir.l > l_reach})
    if too_high:
        raise ValueError(
            f"MACEConv: irreps_out contains {too_high}, of degree above {l_reach} = correlation x the "
            f"atomic basis' l_max, which the product basis cannot reach ({chain}): raise the l_max of "
            "irreps_sh or the correlation"
        )
    flipped = o3.Irreps([(1, o3.Irrep(ir.l, -ir.p)) for ir in missing])
    other = sorted({str(ir) for _, ir in product_basis_irreps(atomic, correlation, flipped)})
    raise ValueError(
        f"MACEConv: irreps_out contains {sorted({str(ir) for ir in missing})} of the wrong parity: no "
        f"product of at most {correlation} atomic-basis components has it ({chain}); of these degrees the "
        f"products have {other or 'nothing'}"
    )
