"""Kernels shared by the anchor layers (private): an MLP on invariants, and a spatial kernel on
(point, anchor) invariants and edge lengths whose first layer is split so that the radial part is
computed once per edge rather than once per (edge, anchor) pair."""

from __future__ import annotations

import torch
from torch import nn

from ..radial import BesselBasis, PolynomialCutoff

__all__ = ["InvariantMLP", "SpatialKernel", "safe_norm"]


def safe_norm(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``|v|`` over the last dimension with a finite gradient at ``v = 0``."""
    return torch.sqrt((v * v).sum(-1) + eps)


class InvariantMLP(nn.Sequential):
    """``Linear -> SiLU -> Linear`` on the last dimension."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))

    def reset_parameters(self) -> None:
        for m in self:
            if isinstance(m, nn.Linear):
                m.reset_parameters()


class SpatialKernel(nn.Module):
    r"""A kernel :math:`k(\text{inv}_{ea}, d_e) \in \mathbb{R}^C` on (edge, anchor) pairs,
    multiplied by a polynomial envelope so that it vanishes smoothly at the cutoff.

    .. math::
        k_{ea} = u(d_e)\, W_2\, \mathrm{SiLU}\big(W_{\text{inv}}\, \text{inv}_{ea}
            + W_{\text{rad}}\, \rho(d_e) + b\big)

    with :math:`\rho` a Bessel basis and :math:`u` the envelope. Memory and time are linear in
    ``E * A``.

    Shapes: ``inv [E, A, k], d [E] -> [E, A, out_dim]``.
    """

    def __init__(self, num_invariants: int, num_basis: int, hidden: int, out_dim: int, cutoff: float):
        super().__init__()
        self.basis = BesselBasis(num_basis, cutoff)
        self.envelope = PolynomialCutoff(cutoff)
        self.lin_inv = nn.Linear(num_invariants, hidden)
        self.lin_rad = nn.Linear(num_basis, hidden, bias=False)
        self.act = nn.SiLU()
        self.lin_out = nn.Linear(hidden, out_dim)

    def reset_parameters(self) -> None:
        self.lin_inv.reset_parameters()
        self.lin_rad.reset_parameters()
        self.lin_out.reset_parameters()

    def forward(self, inv: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        h = self.lin_inv(inv) + self.lin_rad(self.basis(d)).unsqueeze(1)  # [E, A, hidden]
        return self.lin_out(self.act(h)) * self.envelope(d)[:, None, None]
