r"""Making targets addressable by name (:class:`SelectTargets`); their standardisation is
:mod:`gdl.data.transforms.standardize`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch_geometric.transforms import BaseTransform

from ...keys import QM9_TARGETS

__all__ = ["SelectTargets"]


class SelectTargets(BaseTransform):
    r"""Make every target addressable by name: QM9 target names copy their column of ``y``
    (``data.homo = y[:, 2:3]``, graph ``0e`` ``[1, 1]``); other names must already be fields
    (``dipole_vec``, ``charges``, ``displacement``), which are checked and left as they are.

    Args:
        names: target names (one string or a sequence).
    """

    def __init__(self, names: str | Sequence[str]) -> None:
        self.names = (names,) if isinstance(names, str) else tuple(names)
        if not self.names:
            raise ValueError("SelectTargets: give at least one target name")

    def forward(self, data: Any) -> Any:
        for name in self.names:
            if name in QM9_TARGETS and "y" in data:
                y = data.y
                if y.dim() != 2 or y.shape[1] != len(QM9_TARGETS):
                    raise ValueError(
                        f"SelectTargets: data.y must be [B, {len(QM9_TARGETS)}], found {tuple(y.shape)}"
                    )
                k = QM9_TARGETS.index(name)
                data[name] = y[:, k : k + 1]
            elif name not in data:
                raise KeyError(
                    f"SelectTargets: target {name!r} is neither a field of the data "
                    f"({', '.join(sorted(data.keys()))}) nor a QM9 column of y ({', '.join(QM9_TARGETS)})"
                )
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({list(self.names)})"
