r"""Transforms by elements of E(3): random rotations of every typed field and centring.

Rotations reuse :func:`gdl.action.act_on_data`, so positions (``"pos"`` fields, e.g. ``pos`` and
``pos_target``), vectors (``1o``: ``vel``, ``dipole_vec``, ``displacement``) and tensors (``2e``:
``quadrupole``) are rotated consistently, by the types of :data:`gdl.keys.FIELDS` (unregistered
fields are invariant unless declared with ``types=``). The same function moves data in the
equivariance checks (:mod:`gdl.testing`) and the symmetry strategies, so all of them agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch_geometric.transforms import BaseTransform

from ...action import FieldTypeLike, GroupElement, act_on_data, resolve_data_types
from ...groups.so3 import as_generator, haar, haar_o3
from .graphs import _batch, _check_pos

__all__ = ["Center", "RandomRotation"]


class RandomRotation(BaseTransform):
    r"""Rotate a ``Data``/``Batch`` by a random element of SO(3) (or O(3)) drawn from the Haar measure,
    acting on every typed field (module docstring); one draw per call, shared by a whole batch.

    Args:
        group: ``"SO3"`` (rotations) or ``"O3"`` (rotations and, with probability ½, the inversion
            :math:`-I` composed with them; ``1o`` fields flip, ``2e`` fields do not). Default ``"SO3"``.
        seed: seed or ``torch.Generator`` of this transform's own generator; ``None`` draws one from
            torch's global RNG. Default ``None``. With DataLoader workers, each worker starts from
            a copy of the same state: seed per worker (``worker_init_fn``) if that matters.
        types: extra or overriding field types, ``{name: type}`` (e.g. ``{"f": "1o"}``).
            Default ``None`` (the registry).
    """

    def __init__(
        self,
        group: Literal["SO3", "O3"] = "SO3",
        seed: int | torch.Generator | None = None,
        types: Mapping[str, FieldTypeLike] | None = None,
    ) -> None:
        if group not in ("SO3", "O3"):
            raise ValueError(f"RandomRotation: group must be 'SO3' or 'O3', got {group!r}")
        self.group = group
        self.generator = as_generator(seed)
        self.types = dict(types or {})

    def sample(self) -> torch.Tensor:
        """The next random matrix ``[3, 3]`` (float64)."""
        draw = haar if self.group == "SO3" else haar_o3
        return draw(1, self.generator, dtype=torch.float64)[0]

    def forward(self, data: Any) -> Any:
        return act_on_data(data, GroupElement(self.sample()), self.types or None)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(group={self.group!r})"


class Center(BaseTransform):
    r"""Translate each graph so that the mean of its ``pos`` is the origin; every ``"pos"``-typed
    field (``pos``, ``pos_target``) moves by the same vector, vectors and tensors are unchanged."""

    def forward(self, data: Any) -> Any:
        pos = _check_pos(data, "Center")
        batch = _batch(data)
        if batch is None:
            shift = pos.mean(0, keepdim=True).expand_as(pos)
        else:
            n = int(batch.max()) + 1 if batch.numel() else 0
            total = torch.zeros(n, 3, dtype=pos.dtype, device=pos.device).index_add_(0, batch, pos)
            count = torch.bincount(batch, minlength=n).clamp_min(1).to(pos.dtype)
            shift = (total / count[:, None])[batch]
        for k, ft in resolve_data_types(data).items():
            if ft.rep == "pos" and ft.level == "node":
                data[k] = data[k] - shift.to(data[k].dtype)
        return data
