r"""Equivariant layer norm with a norm nonlinearity (NormSE3 of the SE(3)-Transformer)."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from .irreps import as_irreps

__all__ = ["EquivariantNorm"]


class EquivariantNorm(nn.Module):
    r"""Layer normalisation of irreps features followed by a norm nonlinearity, after the ``NormSE3``
    block of the SE(3)-Transformer (`Fuchs et al. 2020 <https://arxiv.org/abs/2006.10503>`_).

    For each block ``mul x ir`` of the irreps and each node, with channels :math:`c` and
    :math:`\mathrm{LN}_c(a) = (a_c - \bar a) / \sqrt{\mathrm{Var}(a) + \epsilon}` over the channels of
    the block:

    .. math::
        \text{true scalars (0e)}:\quad & f'_c = \phi\bigl(\gamma_c\, \mathrm{LN}_c(f) + \beta_c\bigr) \\
        \text{other irreps}:\quad & n_c = \sqrt{\lVert f_c \rVert^2 + \epsilon}, \qquad
            f'_c = \phi\bigl(\gamma_c\, \mathrm{LN}_c(n) + \beta_c\bigr)\, \frac{f_c}{n_c}

    Norms are invariant, so every output has the irreps of its input (pseudo-scalars ``0o`` keep their
    sign through :math:`f_c / n_c`). Blocks of one channel skip the centring (their variance is 0).

    Args:
        irreps: irreps of the features.
        act: the nonlinearity :math:`\phi`. Default ``torch.nn.functional.silu``.
        eps: :math:`\epsilon`. Default ``1e-8``.

    Shapes:
        ``[N, irreps.dim] -> [N, irreps.dim]``; equivariant (same irreps in and out).
    """

    def __init__(self, irreps: str | o3.Irreps, act=torch.nn.functional.silu, eps: float = 1e-8):
        super().__init__()
        self.irreps = self.irreps_in = self.irreps_out = as_irreps(irreps, "irreps")
        self.act, self.eps = act, float(eps)
        # plain-Python layout for forward (no Irreps objects under torch.compile):
        # (start, mul, ir_dim, is_true_scalar, first channel)
        blocks: list[tuple[int, int, int, bool, int]] = []
        start = channel = 0
        for mul, ir in self.irreps:
            if mul > 0:
                blocks.append((start, mul, ir.dim, ir.l == 0 and ir.p == 1, channel))
            start += mul * ir.dim
            channel += mul
        self._blocks = tuple(blocks)
        self._dim = self.irreps.dim
        self.num_channels = channel
        self.weight = nn.Parameter(torch.empty(channel))
        self.bias = nn.Parameter(torch.empty(channel))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self._dim:
            raise ValueError(
                f"{self.__class__.__name__} expects features [..., {self._dim}] for {self.irreps}, "
                f"got {tuple(x.shape)}"
            )
        outs = []
        for start, mul, d, scalar, c0 in self._blocks:
            f = x.narrow(-1, start, mul * d)
            gamma, beta = self.weight[c0 : c0 + mul], self.bias[c0 : c0 + mul]
            if scalar:
                outs.append(self.act(gamma * self._layer_norm(f) + beta))
            else:
                f = f.reshape(f.shape[:-1] + (mul, d))
                n = (f.pow(2).sum(-1) + self.eps).sqrt()  # [..., mul], invariant
                scale = self.act(gamma * self._layer_norm(n) + beta) / n
                outs.append((f * scale.unsqueeze(-1)).reshape(f.shape[:-2] + (mul * d,)))
        return torch.cat(outs, dim=-1) if outs else x

    def _layer_norm(self, a: torch.Tensor) -> torch.Tensor:
        if a.shape[-1] == 1:
            return a
        mean = a.mean(dim=-1, keepdim=True)
        var = (a - mean).pow(2).mean(dim=-1, keepdim=True)
        return (a - mean) / (var + self.eps).sqrt()

    def __repr__(self) -> str:
        act = getattr(self.act, "__name__", type(self.act).__name__)
        return f"{self.__class__.__name__}({self.irreps}, act={act}, eps={self.eps})"
