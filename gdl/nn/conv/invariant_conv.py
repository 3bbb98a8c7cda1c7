r"""Distance-only continuous-filter convolution (SchNet-style interaction block)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import MessagePassing

from .._checks import check_features, edge_vectors
from ..radial import CosineCutoff, GaussianBasis, RadialEmbedding
from ..scalar_readout import safe_norm
from ._scalar_common import check_edge_attr

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
        **kwargs: passed to :class:`~torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** ``x [N, F]`` (invariant), ``pos [N, 3]`` (position), ``edge_index [2, E]``,
          ``edge_vec [E, 3]`` (1o, optional), ``edge_attr [E, edge_dim]`` (invariant, optional)
        - **output:** ``x' [N, F]`` (invariant)
    """

    def __init__(
        self,
        channels: int,
        num_filters: int | None = None,
        radial: RadialEmbedding | None = None,
        edge_dim: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        if channels < 1 or (num_filters is not None and num_filters < 1) or edge_dim < 0:
            raise ValueError(
                f"InvariantConv: need channels >= 1, num_filters >= 1, edge_dim >= 0; got {channels}, "
                f"{num_filters}, {edge_dim}"
            )
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
        edge_vec: torch.Tensor | None = None,
        edge_attr: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r = edge_vectors(pos, edge_index, edge_vec)  # [E, 3]; validates pos/edges
        n = pos.shape[0]
        check_features(x, n, self.channels, "x")
        d = safe_norm(r)  # [E]
        e = self.radial.basis(d)  # [E, num_basis]
        check_edge_attr(edge_attr, r.shape[0], self.edge_dim, "InvariantConv")
        if edge_attr is not None:
            e = torch.cat([e, edge_attr.to(e.dtype)], dim=-1)
        w = self.filter_net(e)  # [E, num_filters]
        if self.radial.cutoff_fn is not None:
            w = w * self.radial.cutoff_fn(d).unsqueeze(-1)
        agg = self.propagate(edge_index, x=self.lin_in(x), w=w, size=(n, n))  # [N, num_filters]
        return x + self.out_mlp(agg)

    def message(self, x_j: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x_j * w

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, num_filters={self.num_filters}, "
            f"radial={self.radial.basis!r} * {self.radial.cutoff_fn!r}, edge_dim={self.edge_dim})"
        )
