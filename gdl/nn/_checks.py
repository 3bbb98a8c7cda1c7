"""Input validation shared by gdl layers: clear errors instead of silent broadcasting or NaN.

The checks are skipped while ``torch.compile`` traces (they are data-dependent and would break
the graph); run the model eagerly once to validate new data.
"""

from __future__ import annotations

import torch
from e3nn import o3

__all__ = ["check_edge_index", "check_edge_vec", "check_features", "check_pos", "edge_vectors"]


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def check_pos(pos: torch.Tensor, name: str = "pos") -> None:
    """``pos`` must be a floating ``[N, 3]`` tensor without NaN/inf."""
    if not isinstance(pos, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape [N, 3], got {type(pos).__name__}")
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"{name} must have shape [N, 3], got {tuple(pos.shape)}")
    if not pos.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {pos.dtype}")
    if not _compiling() and not bool(torch.isfinite(pos).all()):
        bad = (~torch.isfinite(pos).all(dim=1)).nonzero().flatten()[:5].tolist()
        raise ValueError(f"{name} contains NaN or inf (rows {bad}...)")


def check_edge_index(edge_index: torch.Tensor, num_nodes: int) -> None:
    """``edge_index`` must be an integer ``[2, E]`` tensor with entries in ``[0, num_nodes)``."""
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(f"edge_index must be a tensor of shape [2, E], got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must hold integers, got {edge_index.dtype}")
    if not _compiling() and edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"edge_index has entries in [{lo}, {hi}] but there are {num_nodes} nodes")


def check_edge_vec(edge_vec: torch.Tensor, num_edges: int) -> None:
    """``edge_vec`` must be a floating ``[E, 3]`` tensor with one row per edge."""
    if edge_vec.dim() != 2 or edge_vec.shape[1] != 3:
        raise ValueError(f"edge_vec must have shape [E, 3], got {tuple(edge_vec.shape)}")
    if edge_vec.shape[0] != num_edges:
        raise ValueError(f"edge_vec has {edge_vec.shape[0]} rows but edge_index has {num_edges} edges")
    if not _compiling() and not bool(torch.isfinite(edge_vec).all()):
        raise ValueError("edge_vec contains NaN or inf")


def check_features(x: torch.Tensor, num_nodes: int, dim: int | o3.Irreps, name: str = "x") -> None:
    """Node features must be ``[num_nodes, dim]`` (``dim`` an int or irreps)."""
    d = dim.dim if isinstance(dim, o3.Irreps) else int(dim)
    what = f"{dim} (dim {d})" if isinstance(dim, o3.Irreps) else str(d)
    if x.dim() != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape [N, {d}] for {what}, got {tuple(x.shape)}")
    if x.shape[0] != num_nodes:
        raise ValueError(f"{name} has {x.shape[0]} rows but pos has {num_nodes} nodes")


def edge_vectors(
    pos: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor | None = None
) -> torch.Tensor:
    """Validated edge vectors ``r_ij = pos[j] - pos[i]`` ``[E, 3]`` for edges ``(j -> i)``, or the
    given ``edge_vec`` (minimum-image vectors in periodic boxes)."""
    check_pos(pos)
    check_edge_index(edge_index, pos.shape[0])
    if edge_vec is not None:
        check_edge_vec(edge_vec, edge_index.shape[1])
        return edge_vec.to(pos.dtype)
    j, i = edge_index[0], edge_index[1]
    return pos[j] - pos[i]
