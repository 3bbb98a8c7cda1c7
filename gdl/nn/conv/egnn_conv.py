r"""E(n)-equivariant graph convolution (Satorras, Hoogeboom & Welling 2021)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import MessagePassing

from .._checks import check_features, check_message_passing_kwargs
from ..geometry import edge_vectors, safe_norm
from ..radial import RadialEmbedding
from ._edge_attr import check_edge_attr

__all__ = ["EGNNConv", "edge_pair_sum", "node_degree"]


def node_degree(index: torch.Tensor, num_nodes: int, dtype: torch.dtype) -> torch.Tensor:
    """``[num_nodes]``: the number of entries of ``index`` equal to each node, at least 1 (an
    ``index_add`` of ones: static shapes under ``torch.compile``, unlike ``bincount``)."""
    ones = torch.ones(index.shape[0], dtype=dtype, device=index.device)
    return torch.zeros(num_nodes, dtype=dtype, device=index.device).index_add_(0, index, ones).clamp_(min=1.0)


class _EdgePairSum(torch.autograd.Function):
    """``out[e] = a[i[e]] + b[j[e]] + d[e] * w`` (see :func:`edge_pair_sum`)."""

    @staticmethod
    def forward(ctx, a, b, i, j, d, w):
        out = a.index_select(0, i)  # the only [E, F] allocation
        out += b.index_select(0, j)  # (a[i] + b[j]) + d w: the order of the separate operations
        out.addcmul_(d.unsqueeze(1), w)  # + d w^T in place: one broadcast pass, no [E, 1] x [1, F] product
        ctx.save_for_backward(i, j, d, w)
        ctx.num_nodes = (a.shape[0], b.shape[0])
        return out

    @staticmethod
    def backward(ctx, grad):
        i, j, d, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        grad_a = grad.new_zeros(ctx.num_nodes[0], grad.shape[1]).index_add_(0, i, grad) if need[0] else None
        grad_b = grad.new_zeros(ctx.num_nodes[1], grad.shape[1]).index_add_(0, j, grad) if need[1] else None
        grad_d = torch.mv(grad, w) if need[4] else None  # [E]
        grad_w = torch.mv(grad.t(), d) if need[5] else None  # [F]
        return grad_a, grad_b, None, None, grad_d, grad_w


def edge_pair_sum(
    a: torch.Tensor, b: torch.Tensor, i: torch.Tensor, j: torch.Tensor, d: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    """``[E, F]``: ``a[i[e]] + b[j[e]] + d[e] * w`` for node tables ``a [N, F]``, ``b [N, F]``, edge
    indices ``i, j [E]``, an edge scalar ``d [E]`` and a vector ``w [F]`` — the first linear layer of
    an edge MLP on ``[h_i, h_j, d_ij]`` once ``a = W_i h + bias`` and ``b = W_j h`` are computed per
    node. The value of ``a.index_select(0, i) + b.index_select(0, j) + d[:, None] * w`` (the same sums
    in the same order; the last one a fused multiply-add, so equal up to rounding), written into one
    ``[E, F]`` tensor without temporaries; the backward is two
    ``index_add`` and two matrix-vector products (differentiable: double backward works)."""
    return _EdgePairSum.apply(a, b, i, j, d, w)


class EGNNConv(MessagePassing):
    r"""The E(n)-equivariant graph convolution of `"E(n) Equivariant Graph Neural Networks"
    <https://arxiv.org/abs/2102.09844>`_ (Satorras, Hoogeboom & Welling, ICML 2021), eqs. 3–7:

    .. math::
        m_{ij} &= \phi_e\big(h_i, h_j, \lVert x_i - x_j\rVert^2, a_{ij}\big) \\
        x_i' &= x_i + \frac{1}{|\mathcal N(i)|} \sum_{j \in \mathcal N(i)}
                \frac{x_i - x_j}{\sqrt{\lVert x_i - x_j\rVert^2 + 1}}\; s \tanh \phi_x(m_{ij})
                \;\big[+\ \textstyle\sum_v \phi_v(h_i)_v\, v_{iv}\big] \\
        h_i' &= h_i + \phi_h\Big(h_i, \sum_{j \in \mathcal N(i)} e_{ij}\, m_{ij}\Big)

    with :math:`\phi_e, \phi_x, \phi_h, \phi_v` two-layer SiLU MLPs of width ``channels``. Options:

    * velocities (eq. 7): with ``vel_channels = V > 0`` the update adds
      :math:`\sum_v \phi_v(h_i)_v\, v_{iv}` for input vectors ``vel [N, V, 3]`` (the paper's
      :math:`\phi_v(h_i)\, v_i^{\mathrm{init}}` for ``V = 1``; pass the same ``vel`` to every layer);
    * attention (section 3.3): with ``attention=True``, :math:`e_{ij} = \sigma(\mathrm{Linear}(m_{ij}))`
      gates the messages summed into :math:`h` (otherwise :math:`e_{ij} = 1`);
    * vector channels: with ``vec_channels = C > 0``, ``vec [N, C, 3]`` is updated like :math:`x`,
      :math:`\mathrm{vec}_{ic}' = \mathrm{vec}_{ic}
      + \mathrm{mean}_j\, \tilde r_{ij}\, s\tanh \phi_x(m_{ij})_{1+c}` with :math:`\tilde r_{ij}` the
      normalised :math:`x_i - x_j` below
      (:math:`\phi_x` gets ``1 + C`` outputs);
    * edge attributes :math:`a_{ij}` (invariant, ``edge_dim`` wide) enter :math:`\phi_e`.

    Differences from the paper, for stability (what users of EGNN code ask for): the relative
    vector is normalised as :math:`(x_i - x_j)/\sqrt{\lVert x_i - x_j\rVert^2 + 1}` (norm < 1, smooth,
    finite with a finite gradient when two nodes coincide — :math:`(x_i-x_j)/\lVert x_i - x_j\rVert`
    would give NaN), and :math:`\phi_x` is squashed to :math:`s \tanh(\cdot)`, so a node moves by less
    than ``coord_step`` per layer from the pairwise term. :math:`C = 1/|\mathcal N(i)|` (the paper's
    :math:`1/(M-1)` on full graphs). The last layer of :math:`\phi_x` starts near zero (Xavier, gain
    0.001) as in the authors' code.

    Initialisation: the columns of :math:`\phi_e`'s first layer that act on the geometry
    (:math:`d^2_{ij}`, :math:`a_{ij}`, the radial features) are drawn as a linear layer of their own,
    :math:`U(\pm 1/\sqrt{1 + \text{edge\_dim} + K})` (``U(-1, 1)`` for :math:`d^2` alone), not with
    PyTorch's bound :math:`1/\sqrt{2F + 1 + \dots}` for the whole concatenation, under which the one
    distance input's weights shrink as :math:`1/\sqrt{2F+1}` with the width ``F``. Where
    the nodes carry no features (a learned constant embedding, e.g. galaxy positions alone) the
    distances are all there is to learn from, and with that small share the cloud-level signal
    reached the readout too weakly for EGNN to leave the mean predictor within the training budget
    (issue 21; ``tests/models/test_egnn.py::test_learns_a_cloud_level_distance_without_node_features``).
    ``geometric_init=False`` keeps PyTorch's bound for the whole concatenation, as the authors' code
    does (their N-body protocol; ``docs/results.md`` compares the two on it).

    For speed the first layer of :math:`\phi_e`, a linear map of the concatenation
    :math:`[h_i, h_j, d^2_{ij}, a_{ij}]` (parameter ``edge_lin1``), is evaluated as
    :math:`W_i h_i + W_j h_j + w_d d^2_{ij} + W_a a_{ij} + b` with :math:`W_i h + b, W_j h` computed once
    per node and gathered per edge (:func:`edge_pair_sum`: one ``[E, F]`` tensor written once): the
    same function with ~``E/N`` times fewer FLOPs. Features and
    coordinate updates are each aggregated by one ``index_add``; without vector channels the
    coordinate messages are ``[E, 3]`` (no ``[E, 1, 3]`` broadcast), and a model passes the node
    degrees once for all its layers (``degree``). The layer checks shapes only; value checks (NaN
    positions, ``edge_index`` bounds) run at the model boundary or under :func:`gdl.debug`.

    Edges ``(j, i) = edge_index[:, e]`` send messages from ``j`` to ``i``; the relative vector is
    ``r_ij = pos[j] - pos[i]`` or the given ``edge_vec`` (minimum image in periodic boxes).

    Args:
        channels: width ``F`` of node features ``h`` (input and output) and of the MLPs.
        edge_dim: width of edge attributes :math:`a_{ij}`; ``0`` for none. Default ``0``.
        vel_channels: number ``V`` of velocity-like input vectors (eq. 7); ``0`` for none. Default ``0``.
        vec_channels: number ``C`` of vector channels updated like ``pos``; ``0`` for none. Default ``0``.
        attention: gate messages with :math:`e_{ij}` (section 3.3). Default ``False``.
        coord_step: :math:`s`, the bound of the squashed coordinate weights. Default ``1.0``.
        radial: a :class:`~gdl.nn.RadialEmbedding` whose features of :math:`\lVert r_{ij}\rVert`
            enter :math:`\phi_e` beside :math:`d^2_{ij}`; ``None`` (default): the paper's
            :math:`d^2_{ij}` alone.
        geometric_init: draw :math:`\phi_e`'s geometric columns with their own fan-in
            (Initialisation, above); ``False``: PyTorch's default for the whole first layer, as the
            authors' code. Default ``True``.
        **kwargs: passed to :class:`~torch_geometric.nn.conv.MessagePassing`; ``aggr`` is the
            aggregation of the messages into :math:`h` (``"sum"``, the paper's, or ``"mean"``; the
            coordinate update is always a mean), ``flow`` must be ``"source_to_target"``.

    Shapes:
        - **input:** ``x [N, F]`` (invariant), ``pos [N, 3]`` (position),
          ``edge_index [2, E]``, ``edge_vec [E, 3]`` (1o, optional), ``edge_attr [E, edge_dim]``
          (invariant, optional), ``vel [N, V, 3]`` or ``[N, 3]`` if ``V = 1`` (1o),
          ``vec [N, C, 3]`` (1o)
        - **output:** ``(x' [N, F], pos' [N, 3], vec' [N, C, 3] or None)``: ``x'`` invariant, ``pos'``
          E(3)-equivariant (rotates, reflects and translates with ``pos``), ``vec'`` rotates and
          reflects (1o), translation-invariant.
    """

    #: the feature aggregation (the paper's sum, or a mean); coordinates are always averaged (eq. 4)
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum", "mean")

    def __init__(
        self,
        channels: int,
        edge_dim: int = 0,
        vel_channels: int = 0,
        vec_channels: int = 0,
        attention: bool = False,
        coord_step: float = 1.0,
        radial: RadialEmbedding | None = None,
        geometric_init: bool = True,
        **kwargs,
    ):
        super().__init__(**check_message_passing_kwargs("EGNNConv", kwargs, aggr=self.supported_aggr))
        if channels < 1 or edge_dim < 0 or vel_channels < 0 or vec_channels < 0 or coord_step <= 0:
            raise ValueError(
                f"EGNNConv: need channels >= 1, edge_dim/vel_channels/vec_channels >= 0, coord_step > 0; got "
                f"{channels}, {edge_dim}, {vel_channels}, {vec_channels}, {coord_step}"
            )
        f = self.channels = int(channels)
        self.edge_dim, self.vel_channels, self.vec_channels = (
            int(edge_dim),
            int(vel_channels),
            int(vec_channels),
        )
        self.coord_step = float(coord_step)
        self.radial = radial
        self.geometric_init = bool(geometric_init)
        self.num_radial = int(radial.num_basis) if radial is not None else 0
        # phi_e: Linear on [h_i, h_j, d^2, a_ij, radial(d)] (evaluated fused), SiLU, Linear, SiLU
        self.edge_lin1 = nn.Linear(2 * f + 1 + self.edge_dim + self.num_radial, f)
        self.edge_lin2 = nn.Linear(f, f)
        self.att = nn.Linear(f, 1) if attention else None
        self.coord_mlp = nn.Sequential(
            nn.Linear(f, f), nn.SiLU(), nn.Linear(f, 1 + self.vec_channels, bias=False)
        )
        self.node_mlp = nn.Sequential(nn.Linear(2 * f, f), nn.SiLU(), nn.Linear(f, f))
        self.vel_mlp = (
            nn.Sequential(nn.Linear(f, f), nn.SiLU(), nn.Linear(f, self.vel_channels))
            if self.vel_channels
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        # the geometric columns of phi_e's first layer (d^2, a_ij, radial) as a block of their own
        # fan-in: PyTorch's default bound 1/sqrt(2F + 1 + ...) would give the one distance input a
        # share of the pre-activation that shrinks with the width (class docstring, Initialisation)
        if self.geometric_init:
            f = self.channels
            geometric = self.edge_lin1.weight[:, 2 * f :]
            bound = 1.0 / math.sqrt(geometric.shape[1])
            with torch.no_grad():
                geometric.uniform_(-bound, bound)
        nn.init.xavier_uniform_(self.coord_mlp[-1].weight, gain=0.001)

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        edge_vec: torch.Tensor | None = None,
        edge_attr: torch.Tensor | None = None,
        edge_radial: torch.Tensor | None = None,
        vel: torch.Tensor | None = None,
        vec: torch.Tensor | None = None,
        degree: torch.Tensor | None = None,
        update_coords: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        r"""Args beyond the layer's inputs (class docstring), for models that call it in a stack:
        ``edge_radial [E, num_basis]``, ``radial`` of the edge lengths, computed once by a model
        whose layers share one radial embedding (computed here when ``None``; only with ``radial``);
        ``degree [N]``, the number of incoming edges of every node clamped to at least 1 (the
        coordinate mean's denominator, and the feature mean's with ``aggr="mean"``; computed here
        when ``None``); ``update_coords=False`` skips the coordinate and vector-channel update
        (``pos`` and ``vec`` come back unchanged: a last layer whose coordinates nothing reads).
        Shapes are checked; values (NaN, index bounds) only under :func:`gdl.debug`."""
        n, f = pos.shape[0], self.channels
        r = edge_vectors(pos, edge_index, edge_vec)  # [E, 3], r_ij = pos_j - pos_i; shape checks
        check_features(x, n, f, "x")
        vel = self._check_vectors(vel, "vel", n, self.vel_channels, allow_flat=True)
        vec = self._check_vectors(vec, "vec", n, self.vec_channels, allow_flat=False)
        check_edge_attr(edge_attr, r.shape[0], self.edge_dim, "EGNNConv")
        j, i = edge_index[0], edge_index[1]

        w = self.edge_lin1.weight  # [F, 2F + 1 + edge_dim + K] acting on [h_i, h_j, d^2, a_ij, radial]
        a = F.linear(x, w[:, :f], self.edge_lin1.bias)  # [N, F]: W_i h + b, the bias per node
        b = F.linear(x, w[:, f : 2 * f])  # [N, F]: W_j h
        d2 = (r * r).sum(dim=-1)  # [E]

        # first layer of phi_e: W_i h_i + b + W_j h_j + w_d d^2 (+ W_a a_ij + W_r radial), per edge,
        # written once (edge_pair_sum: no [E, F] temporaries, no rank-1 matrix products)
        # (the weight column made contiguous: broadcasting a strided column is several times slower)
        pre = edge_pair_sum(a, b, i, j, d2, w[:, 2 * f].contiguous())  # [E, F]
        c = 2 * f + 1
        if edge_attr is not None:
            pre = pre + F.linear(edge_attr.to(pre.dtype), w[:, c : c + self.edge_dim])
        if self.radial is not None:
            pre = pre + F.linear(self._edge_radial(r, edge_radial), w[:, c + self.edge_dim :])
        elif edge_radial is not None:
            raise ValueError("EGNNConv got edge_radial but was built without a radial embedding")
        m = F.silu(self.edge_lin2(F.silu(pre)))  # phi_e, [E, F]

        pos_out, vec_out = pos, vec
        if degree is None and (update_coords or self.aggr == "mean"):
            degree = node_degree(i, n, pos.dtype)
        if update_coords:
            coef = self.coord_step * torch.tanh(self.coord_mlp(m))  # [E, 1 + C]
            unit = r * -torch.rsqrt(d2 + 1.0).unsqueeze(-1)  # bounded x_i - x_j = -r_ij, [E, 3]
            if self.vec_channels:
                dx = (coef.unsqueeze(-1) * unit.unsqueeze(1)).flatten(1)  # [E, (1 + C) 3]
            else:
                dx = coef * unit  # [E, 3]: no [E, 1, 3] broadcast when there are no vector channels
            # mean over incoming edges; index_add (its backward is a row gather, cheaper than scatter's)
            dx_mean = dx.new_zeros(n, dx.shape[1]).index_add_(0, i, dx) / degree.unsqueeze(-1)
            pos_out = pos + dx_mean[:, :3]
            if self.vel_mlp is not None:
                pos_out = pos_out + (self.vel_mlp(x).unsqueeze(-1) * vel).sum(dim=1)  # sum_v phi_v(h)_v vel_v
            if vec is not None:
                vec_out = vec + dx_mean[:, 3:].view(n, self.vec_channels, 3)
        if self.att is not None:
            m = m * torch.sigmoid(self.att(m))
        m_agg = m.new_zeros(n, f).index_add_(0, i, m)  # sum_j e_ij m_ij, [N, F]
        if self.aggr == "mean":
            m_agg = m_agg / degree.unsqueeze(-1)
        x_out = x + self.node_mlp(torch.cat([x, m_agg], dim=-1))
        return x_out, pos_out, vec_out

    def _edge_radial(self, r: torch.Tensor, edge_radial: torch.Tensor | None) -> torch.Tensor:
        if edge_radial is None:
            return self.radial(safe_norm(r))
        if edge_radial.dim() != 2 or edge_radial.shape != (r.shape[0], self.num_radial):
            raise ValueError(
                f"EGNNConv: edge_radial must have shape [{r.shape[0]}, {self.num_radial}], "
                f"got {tuple(edge_radial.shape)}"
            )
        return edge_radial.to(r.dtype)

    def _check_vectors(
        self, v: torch.Tensor | None, name: str, n: int, channels: int, allow_flat: bool
    ) -> torch.Tensor | None:
        if channels == 0:
            if v is not None:
                raise ValueError(f"EGNNConv got `{name}` but was built with {name}_channels=0")
            return None
        if v is None:
            raise ValueError(f"EGNNConv({name}_channels={channels}) needs `{name}` [N, {channels}, 3]")
        if allow_flat and channels == 1 and v.dim() == 2:
            v = v.unsqueeze(1)
        if v.dim() != 3 or v.shape != (n, channels, 3):
            raise ValueError(f"`{name}` must have shape [{n}, {channels}, 3], got {tuple(v.shape)}")
        return v

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, edge_dim={self.edge_dim}, "
            f"vel_channels={self.vel_channels}, vec_channels={self.vec_channels}, "
            f"attention={self.att is not None}, coord_step={self.coord_step}"
            + (f", radial={self.radial!r}" if self.radial is not None else "")
            + (f", aggr={self.aggr!r}" if self.aggr != "sum" else "")
            + ")"
        )
