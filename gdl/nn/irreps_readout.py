r"""Typed readout of irreps features: an equivariant linear map per target, then pooling."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from e3nn import o3
from torch import nn
from torch_geometric.utils import scatter

from ..keys import Target, TargetLike, as_targets
from .irreps import as_irreps, so3_label

__all__ = ["IrrepsReadout"]

REDUCTIONS = ("sum", "mean")


class IrrepsReadout(nn.Module):
    r"""Reads typed targets (``0e``, ``1o``, ``2e``, ... at graph or node level) off irreps features.

    For each target :math:`t` with irreps :math:`\rho_t`, an equivariant linear map
    (``e3nn.o3.Linear``, with a bias on true scalars) from the node features, pooled over the nodes of
    each graph for graph-level targets:

    .. math::
        y^{t}_i = W_t\, h_i \quad(\text{node}), \qquad
        y^{t}_G = \bigoplus_{i \in G} W_t\, h_i \quad(\text{graph}, \oplus = \text{sum or mean})

    :math:`W_t` only connects equal irreps, so a target irrep that the features do not contain cannot
    be produced: construction raises instead of returning zeros. With ``parity=False`` (SO(3)-only
    features labelled even, :mod:`gdl.nn.irreps`) the degree-``l`` features feed targets ``le`` and
    ``lo`` alike.

    Args:
        irreps_in: irreps of the node features.
        targets: the targets (see :func:`gdl.keys.as_targets`).
        reduce: graph pooling, ``"sum"`` or ``"mean"``. Default ``"sum"``.
        parity: whether the features carry true parities (O(3)). Default ``True``.

    Shapes:
        ``h [N, irreps_in.dim]``, ``batch [N]`` -> ``{name: [B, irreps.dim] or [N, irreps.dim]}``;
        each output transforms by its target irreps.
    """

    def __init__(
        self,
        irreps_in: str | o3.Irreps,
        targets: TargetLike | Iterable[TargetLike],
        reduce: str = "sum",
        parity: bool = True,
    ):
        super().__init__()
        self.irreps_in = as_irreps(irreps_in, "irreps_in")
        self.targets: tuple[Target, ...] = as_targets(targets)
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
        self.reduce, self.parity = reduce, parity
        have = {ir for mul, ir in self.irreps_in if mul > 0}
        self.linears = nn.ModuleDict()
        for t in self.targets:
            out = t.irreps if parity else so3_label(t.irreps)
            missing = sorted({str(ir) for _, ir in out} - {str(ir) for ir in have})
            if missing:
                raise ValueError(
                    f"target {t.name!r} ({t.level} {t.irreps}) needs irreps {missing} that the features "
                    f"{self.irreps_in} do not contain"
                )
            self.linears[t.name] = o3.Linear(self.irreps_in, out, biases=True)
        self._specs = tuple((t.name, t.level) for t in self.targets)
        self._dim = self.irreps_in.dim

    @staticmethod
    def supported_irreps(irreps_in: str | o3.Irreps, parity: bool = True) -> list[str]:
        """The irreps a readout of these features can produce (for ``GDLModel.check_targets``)."""
        have = {ir for mul, ir in o3.Irreps(irreps_in) if mul > 0}
        if parity:
            return sorted(str(ir) for ir in have)
        return sorted({f"{ir.l}{p}" for ir in have for p in "eo"})

    def reset_parameters(self) -> None:
        for lin in self.linears.values():
            with torch.no_grad():
                lin.weight.normal_()
                lin.bias.zero_()

    def forward(self, h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> dict[str, torch.Tensor]:
        if h.dim() != 2 or h.shape[1] != self._dim:
            raise ValueError(f"{self.__class__.__name__} expects h [N, {self._dim}], got {tuple(h.shape)}")
        out: dict[str, torch.Tensor] = {}
        for name, level in self._specs:
            y = self.linears[name](h)
            if level == "graph":
                y = scatter(y, batch, dim=0, dim_size=num_graphs, reduce=self.reduce)
            out[name] = y
        return out

    def __repr__(self) -> str:
        targets = ", ".join(str(t) for t in self.targets)
        name = self.__class__.__name__
        return f"{name}({self.irreps_in} -> [{targets}], reduce={self.reduce}, parity={self.parity})"
