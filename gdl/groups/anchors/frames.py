r"""Anchors as tensors, and the invariants layers build from them: the components of vectors in
each anchor's frame (:func:`frame_components`), their sphere analogue (:func:`sphere_components`),
relative rotations of anchor pairs (:func:`relative_rotations`), and how a rotation permutes a closed
anchor set (:func:`anchor_permutation`); :func:`check_anchors` validates anchor tensors.

How a rotation acts (conventions of :mod:`gdl.groups.so3`, ``x' = g x``). Features are invariant
functions of (point, anchor) pairs, e.g. :math:`f(i, a) = \phi(R_a^\top v_i)`. Rotating the input by
:math:`g` gives :math:`\phi(R_a^\top g v_i) = \phi((g^\top R_a)^\top v_i)`, so when the anchor set is
closed under :math:`R \mapsto g^\top R` the features are *permuted*:
:math:`f(g\cdot x)[:, a] = f(x)[:, \sigma_g(a)]` with :math:`R_{\sigma_g(a)} = g^\top R_a`
(:func:`anchor_permutation`). Sphere anchors: :math:`o_{\sigma_g(a)} = g^\top o_a`.
"""

from __future__ import annotations

import torch

from ..finite import match_elements
from ..so3 import check_rotations

__all__ = [
    "anchor_permutation",
    "anchor_space",
    "check_anchors",
    "frame_components",
    "relative_rotations",
    "sphere_components",
]


def anchor_space(anchors: torch.Tensor) -> str:
    """``"so3"`` for ``[A, 3, 3]`` rotation stacks, ``"sphere"`` for ``[A, 3]`` unit vectors."""
    if anchors.dim() == 3 and anchors.shape[-2:] == (3, 3):
        return "so3"
    if anchors.dim() == 2 and anchors.shape[-1] == 3:
        return "sphere"
    raise ValueError(
        f"anchors must be rotations [A, 3, 3] or unit vectors [A, 3], got shape {tuple(anchors.shape)}"
    )


def check_anchors(
    anchors: torch.Tensor,
    space: str | None = None,
    name: str = "anchors",
    atol: float = 1e-5,
    proper: bool = True,
) -> torch.Tensor:
    """Validate anchors and return them; raise a clear error for an empty set, NaN, non-rotations
    (``space="so3"``: orthogonal, and ``det = +1`` when ``proper``) or non-unit vectors (``"sphere"``).

    ``space`` defaults to the one the shape implies (:func:`anchor_space`)."""
    if not isinstance(anchors, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(anchors).__name__}")
    found = anchor_space(anchors)
    if space is not None and found != space:
        want = "[A, 3, 3] rotations" if space == "so3" else "[A, 3] unit vectors"
        raise ValueError(f"{name} must be {want} for {space} anchors, got shape {tuple(anchors.shape)}")
    if anchors.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one anchor is required")
    if not anchors.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {anchors.dtype}")
    if found == "so3":
        return check_rotations(anchors, name, atol=atol, proper=proper)
    if not bool(torch.isfinite(anchors).all()):
        raise ValueError(f"{name} contain NaN or inf")
    err = (anchors.norm(dim=-1) - 1).abs()
    if bool((err > atol).any()):
        bad = (err > atol).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"{name} must be unit vectors within atol={atol}; entries {bad} have norms "
            f"{[round(float(n), 6) for n in anchors[bad].norm(dim=-1)]}"
        )
    return anchors


# ---------------------------------------------------------------------------------------------
# invariants of (vector, anchor) and (anchor, anchor) pairs
# ---------------------------------------------------------------------------------------------
def frame_components(vec: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    r"""Components of vectors in each anchor's frame, :math:`R_a^\top v`: ``[..., 3], [A, 3, 3] ->
    [..., A, 3]``. Invariant under :math:`(v, R_a) \mapsto (g v, g R_a)`."""
    return torch.einsum("aji,...j->...ai", rotations.to(vec.dtype), vec)


def sphere_components(vec: torch.Tensor, orientations: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    r"""The invariants of a vector and each orientation, :math:`[o_a \cdot v,\ \lVert v - (o_a\cdot v)
    o_a \rVert]`: ``[..., 3], [A, 3] -> [..., A, 2]``. The norm is :math:`\sqrt{|v_\perp|^2 + \epsilon}`
    so that its gradient stays finite when :math:`v \parallel o_a`."""
    par = vec @ orientations.to(vec.dtype).T  # [..., A]
    perp2 = (vec * vec).sum(-1, keepdim=True) - par * par
    return torch.stack([par, torch.sqrt(perp2.clamp_min(0) + eps)], dim=-1)


def relative_rotations(anchors_out: torch.Tensor, anchors_in: torch.Tensor) -> torch.Tensor:
    r""":math:`R_a^\top R_b` for every pair: ``[A, 3, 3], [B, 3, 3] -> [A, B, 3, 3]``."""
    return torch.einsum("aki,bkj->abij", anchors_out, anchors_in.to(anchors_out.dtype))


def anchor_permutation(g: torch.Tensor, anchors: torch.Tensor, atol: float = 1e-6) -> torch.Tensor:
    r"""The permutation :math:`\sigma_g` of a closed anchor set under the rotation ``g [3, 3]``:
    ``anchors[σ[a]] = gᵀ anchors[a]``, so that features satisfy ``f(g·x)[:, a] = f(x)[:, σ[a]]``.
    Raises if the set is not closed under ``g``."""
    g = g.to(anchors.dtype)
    if anchor_space(anchors) == "so3":
        return match_elements(g.T @ anchors, anchors, atol)
    moved = anchors @ g  # rows: (gᵀ o_a)ᵀ
    err, idx = torch.cdist(moved, anchors).min(dim=-1)
    if bool((err > atol).any()):
        raise ValueError(f"{int((err > atol).sum())} anchors leave the set under this rotation (atol={atol})")
    return idx
