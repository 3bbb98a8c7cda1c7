r"""Rotation-invariant losses for typed targets.

A target with irreps :math:`\bigoplus_k m_k \times \ell_k` is a row of ``irreps.dim`` numbers made of
copies of irreducible blocks (a ``0e`` copy is one number, a ``1o`` copy three, a ``2e`` copy five).
The error :math:`e = \hat y - y` of each copy is measured by its Euclidean norm, which is unchanged
by any rotation or reflection acting on the copy (Wigner-D matrices are orthogonal):

.. math::
    \mathcal L_{\mathrm{mse}} = \frac{1}{R\,C} \sum_{r=1}^{R} \sum_{c=1}^{C} \lVert e_{rc} \rVert^2,
    \qquad
    \mathcal L_{\mathrm{l1}} = \frac{1}{R\,C} \sum_{r=1}^{R} \sum_{c=1}^{C} \lVert e_{rc} \rVert

over ``R`` rows (graphs or nodes) and ``C`` copies. For a ``0e`` target these are the usual MSE and
L1 (absolute) losses; for a ``1o`` target the mean squared (or plain) Euclidean norm of the error
vector; for ``2e`` the same on the five components (the Frobenius norm of the traceless symmetric
error matrix, up to the basis' normalisation). An element-wise L1 on vectors would not be
rotation-invariant; this one is.

The losses are applied to *standardised* targets (:class:`gdl.data.Standardize`), so targets of
different units can be summed.
"""

from __future__ import annotations

from typing import Literal

import torch
from e3nn import o3

__all__ = ["LOSSES", "copy_norms", "irreps_blocks", "typed_loss"]

#: Names of the losses :func:`typed_loss` knows.
LOSSES: tuple[str, ...] = ("mse", "l1")


def irreps_blocks(irreps: str | o3.Irreps) -> tuple[tuple[int, int, int], ...]:
    """``(start, multiplicity, dim)`` of each block of ``irreps`` as plain ints (usable in ``forward``
    without touching e3nn objects)."""
    out, start = [], 0
    for mul, ir in o3.Irreps(irreps):
        out.append((start, int(mul), int(ir.dim)))
        start += mul * ir.dim
    return tuple(out)


def copy_norms(error: torch.Tensor, blocks: tuple[tuple[int, int, int], ...], squared: bool) -> torch.Tensor:
    """Euclidean norm (or squared norm) of every irreducible copy: ``[R, dim] -> [R, C]``."""
    parts = []
    for start, mul, dim in blocks:
        block = error[:, start : start + mul * dim].reshape(error.shape[0], mul, dim)
        if squared:
            parts.append(block.pow(2).sum(-1))
        elif dim == 1:
            parts.append(block.abs().squeeze(-1))
        else:
            parts.append(torch.linalg.vector_norm(block, dim=-1))  # zero gradient at zero error
    return torch.cat(parts, dim=1)


def typed_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    irreps: str | o3.Irreps | tuple[tuple[int, int, int], ...],
    kind: Literal["mse", "l1"] = "mse",
) -> torch.Tensor:
    """The rotation-invariant loss of the module docstring.

    Args:
        pred: predictions ``[R, irreps.dim]``.
        target: ground truth of the same shape.
        irreps: the target's irreps (or precomputed :func:`irreps_blocks`).
        kind: ``"mse"`` or ``"l1"``. Default ``"mse"``.
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; valid losses: {', '.join(LOSSES)}")
    blocks = irreps if isinstance(irreps, tuple) else irreps_blocks(irreps)
    dim = sum(m * d for _, m, d in blocks)
    if pred.shape != target.shape or pred.dim() != 2 or pred.shape[1] != dim:
        raise ValueError(
            f"typed_loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} must both be "
            f"[R, {dim}]"
        )
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    return copy_norms(pred - target.to(pred.dtype), blocks, squared=(kind == "mse")).mean()
