"""The two geometric primitives every route uses: edge vectors and a norm with a safe gradient.

There is one of each in gdl; layers and models import them from here.
"""

from __future__ import annotations

import torch

from ._checks import check_edge_index, check_edge_vec, check_pos

__all__ = ["edge_vectors", "safe_norm"]


def safe_norm(r: torch.Tensor) -> torch.Tensor:
    """``‖r‖`` over the last dimension, exact, with a zero (not NaN) gradient where ``r = 0``
    (coinciding nodes, padded edges). Shapes: ``[..., 3] -> [...]``."""
    d2 = (r * r).sum(-1)
    nonzero = d2 > 0
    return torch.where(
        nonzero, torch.sqrt(torch.where(nonzero, d2, torch.ones_like(d2))), torch.zeros_like(d2)
    )


def edge_vectors(
    pos: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor | None = None
) -> torch.Tensor:
    """Edge vectors ``r_ij = pos[j] - pos[i]`` ``[E, 3]`` for edges ``(j -> i)`` (PyG's
    ``source_to_target`` flow: ``edge_index[0]`` is the source ``j``), or the given ``edge_vec``
    (minimum-image vectors in periodic boxes) in ``pos``'s dtype.

    Shapes are always checked (no synchronisation); values (NaN/inf, index bounds) only under
    :func:`gdl.debug` — models check them once per forward in :func:`gdl.models.check_batch`.
    """
    check_pos(pos)
    check_edge_index(edge_index, pos.shape[0])
    if edge_vec is not None:
        check_edge_vec(edge_vec, edge_index.shape[1])
        return edge_vec.to(pos.dtype)
    return pos[edge_index[0]] - pos[edge_index[1]]
