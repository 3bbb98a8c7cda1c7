r"""Distance-only continuous-filter convolution (SchNet-style interaction block)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import MessagePassing

from .._checks import check_edge_index, check_features, check_message_passing_kwargs, check_pos
from ..geometry import edge_vectors, safe_norm
from ..radial import CosineCutoff, GaussianBasis, RadialEmbedding
from ._edge_attr import check_edge_attr

__all__ = ["InvariantConv"]


class _ShiftedSoftplus(nn.Module):
    """:math:`\\log(1 + e^x) - \\log 2` (SchNet's activation; zero at zero)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x) - math.log(2.0)


class InvariantConv(MessagePassing):
    r"""The continuous-filter convolution and interaction block of `"SchNet: A continuous-filter
    convolutional neural network for modeling quantum interactions" <https://arxiv.org/abs/1706.08566>`_
    (Schütt et al., NeurIPS 2017): messages depend on the geometry only through distances.

    .. math::
        W_{ij} &= \phi_W\big(e(d_{ij}), a_{ij}\big)\; c(d_{ij}), \qquad d_{ij} = \lVert x_j - x_i \rVert \\
        h_i' &= h_i + \phi_o\Big(\sum_{j \in \mathcal N(i)} (U h_j) \odot W_{ij}\Big)

    with a radial basis :math:`e` and smooth cutoff :math:`c` (``radial.basis`` and
    ``radial.cutoff_fn``; the filter is multiplied by the cutoff, as SchNet's CFConv does, so it
    vanishes smoothly at the radius), a filter network :math:`\phi_W` = Linear, shifted softplus,
    Linear; :math:`U` linear without bias; :math:`\phi_o` = Linear, shifted softplus, Linear.

    Invariant by construction: only :math:`d_{ij}` (and invariant edge attributes) enter, so
    :math:`h'` is invariant under rotations, reflections and translations and permutation-equivariant.

    Args:
        channels: width ``F`` of node features (input and output).
        num_filters: width of the filters :math:`W_{ij}`; ``None`` uses ``channels``. Default ``None``.
        radial: a :class:`~gdl.nn.RadialEmbedding`; ``None`` builds SchNet's 50 Gaussians on
            ``[0, 5]`` with a cosine cutoff at 5. Default ``None``.
        edge_dim: width of invariant edge attributes :math:`a_{ij}` fed to the filter network; ``0`` for
            none. Default ``0``.
        **kwargs: passed to :class:`~torch_geometric.nn.conv.MessagePassing`: ``aggr`` one of
            :attr:`supported_aggr` (``"sum"``, SchNet's, by default), ``flow="source_to_target"``.

    The per-edge radial quantities a model shares between its layers are ``edge_basis`` and
    ``edge_cutoff`` (not one ``edge_radial = basis * cutoff``): SchNet multiplies the *filter* by the
    cutoff, :math:`\phi_W(e)\, c`, which is not a function of the product :math:`e\, c`.

    Shapes:
        - **input:** ``x [N, F]`` (invariant), ``pos [N, 3]`` (position), ``edge_index [2, E]``,
          ``edge_vec [E, 3]`` (1o, optional), ``edge_attr [E, edge_dim]`` (invariant, optional),
          ``edge_basis [E, num_basis]`` and ``edge_cutoff [E]`` (invariant, optional: the output of
          :meth:`edge_features`, which a model computes once per forward pass for all its layers;
          given, they are checked for shape only and ``pos``/``edge_vec`` are not read);
          ``pair_index [E]`` (optional, with them): ``edge_basis``/``edge_cutoff`` then hold one row
          per node pair and edge ``e`` uses row ``pair_index[e]``, so that the filters of the two
          directions of an edge are computed once (:meth:`gdl.models.InvariantNet.forward`);
          ``pair_nodes [2, P]`` (optional, with ``pair_index``): when every pair ``(a, b)`` holds
          exactly the two edges ``b -> a`` and ``a -> b``, their nodes; the messages are then
          formed per pair without gathering the filters onto the edges
        - **output:** ``x' [N, F]`` (invariant)
    """

    #: the aggregation of the messages (SchNet's sum, or a mean or max through ``propagate``)
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum", "mean", "max")

    def __init__(
        self,
        channels: int,
        num_filters: int | None = None,
        radial: RadialEmbedding | None = None,
        edge_dim: int = 0,
        **kwargs,
    ):
        super().__init__(**check_message_passing_kwargs("InvariantConv", kwargs, aggr=self.supported_aggr))
        if channels < 1 or (num_filters is not None and num_filters < 1) or edge_dim < 0:
            raise ValueError(
                f"InvariantConv: need channels >= 1, num_filters >= 1, edge_dim >= 0; got {channels}, "
                f"{num_filters}, {edge_dim}"
            )
        self._sum = self.aggr == "sum"
        self.channels = int(channels)
        self.num_filters = int(num_filters or channels)
        self.edge_dim = int(edge_dim)
        self.radial = (
            radial if radial is not None else RadialEmbedding(GaussianBasis(50, 5.0), CosineCutoff(5.0))
        )
        nf = self.num_filters
        self.filter_net = nn.Sequential(
            nn.Linear(self.radial.num_basis + self.edge_dim, nf), _ShiftedSoftplus(), nn.Linear(nf, nf)
        )
        self.lin_in = nn.Linear(self.channels, nf, bias=False)
        self.out_mlp = nn.Sequential(
            nn.Linear(nf, self.channels), _ShiftedSoftplus(), nn.Linear(self.channels, self.channels)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        edge_vec: torch.Tensor | None = None,
        edge_attr: torch.Tensor | None = None,
        edge_basis: torch.Tensor | None = None,
        edge_cutoff: torch.Tensor | None = None,
        pair_index: torch.Tensor | None = None,
        pair_nodes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        n = pos.shape[0]
        if edge_basis is None:
            r = edge_vectors(pos, edge_index, edge_vec)  # [E, 3]; shape checks (values under gdl.debug)
            edge_basis, edge_cutoff = self.edge_features(r)
        else:
            check_pos(pos)
            check_edge_index(edge_index, n)
            self._check_edge_features(edge_basis, edge_cutoff, edge_index, pair_index)
        check_features(x, n, self.channels, "x")
        e = edge_basis  # [E, num_basis], or [P, num_basis] per pair
        if pair_nodes is not None and self._sum and edge_attr is None:
            # every pair (a, b) has the edges b -> a and a -> b, which share the filter W_p
            a, b = pair_nodes[0], pair_nodes[1]
            w = self.edge_filter(e, edge_cutoff)  # [P, num_filters]
            u = self.lin_in(x)
            agg = u.new_zeros(n, w.shape[1]).index_add_(0, a, u.index_select(0, b) * w)
            agg = agg.index_add_(0, b, u.index_select(0, a) * w)
            return x + self.out_mlp(agg)
        if pair_index is not None:
            if edge_attr is not None:
                raise ValueError(
                    "InvariantConv: pair_index (filters per node pair) cannot be used with edge_attr"
                )
            w = self.edge_filter(e, edge_cutoff).index_select(0, pair_index)  # [E, num_filters]
        else:
            check_edge_attr(edge_attr, e.shape[0], self.edge_dim, "InvariantConv")
            if edge_attr is not None:
                e = torch.cat([e, edge_attr.to(e.dtype)], dim=-1)
            w = self.edge_filter(e, edge_cutoff)  # [E, num_filters]
        if self._sum:  # a gather, a product and an index_add, without propagate's bookkeeping
            j, i = edge_index[0], edge_index[1]
            msg = self.lin_in(x).index_select(0, j) * w  # (U h_j) * W_ij, [E, num_filters]
            agg = msg.new_zeros(n, msg.shape[1]).index_add_(0, i, msg)  # [N, num_filters]
        else:  # another aggregation passed through **kwargs
            agg = self.propagate(edge_index, x=self.lin_in(x), w=w, size=(n, n))
        return x + self.out_mlp(agg)

    def edge_filter(self, e: torch.Tensor, edge_cutoff: torch.Tensor | None) -> torch.Tensor:
        r"""The filters :math:`W_{ij} = \phi_W(e_{ij})\, c(d_{ij})`: ``[E, in] -> [E, num_filters]``.
        The shift of the shifted softplus is folded into the bias of the second layer,
        :math:`W(\mathrm{softplus}(u) - \log 2) + b = W \mathrm{softplus}(u) + (b - \log 2\, W 1)`
        (the same function, one pass over the ``[E, num_filters]`` tensor fewer)."""
        lin1, lin2 = self.filter_net[0], self.filter_net[2]
        bias = lin2.bias - math.log(2.0) * lin2.weight.sum(dim=1)
        w = F.linear(F.softplus(lin1(e)), lin2.weight, bias)
        if edge_cutoff is not None:
            w = w * edge_cutoff.unsqueeze(-1)
        return w

    def edge_features(self, edge_vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(basis [E, num_basis], cutoff [E] or None)`` of the edge lengths: what every layer
        sharing this radial embedding needs, computed once."""
        d = safe_norm(edge_vec)  # [E]
        cutoff = self.radial.cutoff_fn(d) if self.radial.cutoff_fn is not None else None
        return self.radial.basis(d), cutoff

    def _check_edge_features(
        self,
        edge_basis: torch.Tensor,
        edge_cutoff: torch.Tensor | None,
        edge_index: torch.Tensor,
        pair_index: torch.Tensor | None = None,
    ) -> None:
        num_edges = edge_index.shape[1]
        if pair_index is not None:
            if pair_index.shape != (num_edges,):
                raise ValueError(
                    f"InvariantConv: pair_index must have shape [{num_edges}], got {tuple(pair_index.shape)}"
                )
            num_edges = edge_basis.shape[0]  # one row per pair
        if edge_basis.dim() != 2 or edge_basis.shape != (num_edges, self.radial.num_basis):
            raise ValueError(
                f"InvariantConv: edge_basis must have shape [{num_edges}, {self.radial.num_basis}], "
                f"got {tuple(edge_basis.shape)}"
            )
        if (edge_cutoff is None) != (self.radial.cutoff_fn is None):
            raise ValueError(
                "InvariantConv: edge_cutoff must be given exactly when the radial embedding has a cutoff "
                f"({self.radial.cutoff_fn!r})"
            )
        if edge_cutoff is not None and edge_cutoff.shape != (num_edges,):
            raise ValueError(
                f"InvariantConv: edge_cutoff must have shape [{num_edges}], got {tuple(edge_cutoff.shape)}"
            )

    def message(self, x_j: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x_j * w

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, num_filters={self.num_filters}, "
            f"radial={self.radial.basis!r} * {self.radial.cutoff_fn!r}, edge_dim={self.edge_dim})"
        )
