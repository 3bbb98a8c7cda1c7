r"""The no-symmetry baseline: raw relative vectors fed to an MLP."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import MessagePassing

from .._checks import check_features, check_message_passing_kwargs
from ..geometry import edge_vectors, safe_norm
from ..radial import CosineCutoff
from ._edge_attr import check_edge_attr

__all__ = ["PlainConv"]


class PlainConv(MessagePassing):
    r"""A message-passing layer with no built-in rotation symmetry: the three Cartesian components of
    the relative vector are fed to the message MLP as plain numbers (the no-symmetry baseline, used
    with or without rotation augmentation, and the backbone that frame averaging and residual
    pathway priors wrap).

    .. math::
        m_{ij} &= \phi_m\big(h_i, h_j, r_{ij}, a_{ij}\big)\; c(\lVert r_{ij}\rVert),
            \qquad r_{ij} = x_j - x_i \in \mathbb R^3 \text{ (raw components)} \\
        h_i' &= h_i + \phi_h\Big(h_i, \sum_{j \in \mathcal N(i)} m_{ij}\Big)

    with two-layer SiLU MLPs :math:`\phi_m, \phi_h` of width ``channels`` and a smooth envelope
    :math:`c` (``radial``; so messages vanish smoothly at the graph's radius). The first layer of
    :math:`\phi_m` (parameter ``msg_lin1`` on the concatenation) is evaluated per node for
    :math:`h_i, h_j` and gathered, as in :class:`~gdl.nn.EGNNConv`.

    Symmetry: translation-invariant (only relative vectors enter) and permutation-equivariant, but
    **not** rotation- or reflection-equivariant: rotating the input changes :math:`h'`.

    Args:
        channels: width ``F`` of node features (input and output).
        edge_dim: width of edge attributes :math:`a_{ij}`; ``0`` for none. Default ``0``.
        radial: the radial part, the message envelope :math:`c` mapping edge lengths ``[E] -> [E]``:
            one of gdl's cutoffs (:class:`~gdl.nn.CosineCutoff`, :class:`~gdl.nn.PolynomialCutoff`).
            This layer has no radial *basis* (the raw vector is its geometric input), so its radial
            part is the cutoff alone. ``None`` builds ``CosineCutoff(5.0)``. Default ``None``.
        **kwargs: passed to :class:`~torch_geometric.nn.conv.MessagePassing`: ``aggr`` one of
            :attr:`supported_aggr` (``"sum"`` by default), ``flow="source_to_target"``.

    Shapes:
        - **input:** ``x [N, F]``, ``pos [N, 3]``, ``edge_index [2, E]``, ``edge_vec [E, 3]``
          (optional), ``edge_attr [E, edge_dim]`` (optional), ``edge_radial [E]`` (optional: the
          envelope of the edge lengths, which a model whose layers share one envelope computes
          once per forward pass)
        - **output:** ``x' [N, F]`` (not invariant)
    """

    #: the aggregation of the messages (through ``propagate``)
    supported_aggr: ClassVar[tuple[str, ...]] = ("sum", "mean", "max")

    def __init__(self, channels: int, edge_dim: int = 0, radial: nn.Module | None = None, **kwargs):
        super().__init__(**check_message_passing_kwargs("PlainConv", kwargs, aggr=self.supported_aggr))
        if channels < 1 or edge_dim < 0:
            raise ValueError(f"PlainConv: need channels >= 1 and edge_dim >= 0, got {channels}, {edge_dim}")
        f = self.channels = int(channels)
        self.edge_dim = int(edge_dim)
        self.radial = radial if radial is not None else CosineCutoff(5.0)
        self.msg_lin1 = nn.Linear(2 * f + 3 + self.edge_dim, f)  # on [h_i, h_j, r_ij, a_ij]
        self.msg_lin2 = nn.Linear(f, f)
        self.node_mlp = nn.Sequential(nn.Linear(2 * f, f), nn.SiLU(), nn.Linear(f, f))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        # initialise the columns acting on r_ij as their own Linear(3, F) would be (PyTorch's
        # default, bound 1/sqrt(fan_in) with fan_in = 3), not with the fan-in of the whole
        # concatenation: the raw geometry then matters as much as the features from the start.
        f = self.channels
        with torch.no_grad():
            self.msg_lin1.weight[:, 2 * f : 2 * f + 3].uniform_(-(3**-0.5), 3**-0.5)

    def forward(
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        edge_vec: torch.Tensor | None = None,
        edge_attr: torch.Tensor | None = None,
        edge_radial: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r = edge_vectors(pos, edge_index, edge_vec)  # [E, 3]; shape checks (values under gdl.debug)
        n, f = pos.shape[0], self.channels
        check_features(x, n, f, "x")
        w = self.msg_lin1.weight  # [F, 2F + 3 + edge_dim]
        ab = F.linear(x, torch.cat([w[:, :f], w[:, f : 2 * f]], dim=0))  # [N, 2F] = [W_i h | W_j h]
        z = F.linear(r, w[:, 2 * f : 2 * f + 3], self.msg_lin1.bias)  # [E, F]
        check_edge_attr(edge_attr, r.shape[0], self.edge_dim, "PlainConv")
        if edge_attr is not None:
            z = z + F.linear(edge_attr, w[:, 2 * f + 3 :])
        if edge_radial is None:
            c = self.radial(safe_norm(r))  # [E]
        elif edge_radial.shape != (r.shape[0],):
            raise ValueError(
                f"PlainConv: edge_radial must have shape [{r.shape[0]}] (the envelope per edge), "
                f"got {tuple(edge_radial.shape)}"
            )
        else:
            c = edge_radial.to(r.dtype)
        c = c.unsqueeze(-1)  # [E, 1]
        agg = self.propagate(edge_index, a=ab[:, :f], b=ab[:, f:], z=z, c=c, size=(n, n))
        return x + self.node_mlp(torch.cat([x, agg], dim=-1))

    def message(self, a_i: torch.Tensor, b_j: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return F.silu(self.msg_lin2(F.silu(a_i + b_j + z))) * c

    def __repr__(self) -> str:
        name = self.__class__.__name__
        aggr = f", aggr={self.aggr!r}" if self.aggr != "sum" else ""
        return f"{name}({self.channels}, edge_dim={self.edge_dim}, radial={self.radial!r}{aggr})"
