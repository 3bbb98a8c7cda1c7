r"""Standardisation of typed targets, fitted on the training split only.

For a target with irreps :math:`\bigoplus_k m_k \times \ell_k`, each block is scaled on its own:

* ``0e`` components (true scalars): :math:`y' = (y - a(z) - \mu) / \sigma` with mean and standard
  deviation per component, and optionally an atom reference :math:`a(z) = \sum_{i\in G} r_{z_i}`
  (e.g. free-atom energies, :func:`gdl.data.qm9_atomref`) subtracted first;
* every other irrep (``0o``, ``1o``, ``2e``, ...): :math:`y' = y / s` with one scale per copy,
  :math:`s = \sqrt{\langle |y|^2 \rangle / (2\ell + 1)}` (the RMS component). No mean is
  subtracted: a mean vector or tensor would single out a direction and break equivariance
  (``R y`` must map to ``R y'``), and a mean pseudoscalar would break parity.

Example (the training split decides the statistics; validation and test reuse them)::

    split = qm9.get_split("cormorant", train_size=1000)
    scaler = Standardize(["homo", "U0", "dipole_vec"], atomref={"U0": qm9_atomref("U0")}).fit(split["train"])
    batch = scaler(SelectTargets(["homo", "U0"])(batch))     # targets in standard units
    physical = scaler.inverse(model(batch), batch)           # predictions back in eV, Debye
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch_geometric.data import Batch
from torch_geometric.data.data import BaseData
from torch_geometric.transforms import BaseTransform

from ...keys import QM9_TARGETS, Target, TargetLike, as_targets

__all__ = ["Standardize", "gather_fields"]


def _batch_vector(data: Any, num_nodes: int, device: torch.device) -> torch.Tensor:
    b = getattr(data, "batch", None)
    return b if isinstance(b, torch.Tensor) else torch.zeros(num_nodes, dtype=torch.long, device=device)


def _field(data: Any, name: str) -> torch.Tensor:
    if name in data:
        return data[name]
    if name in QM9_TARGETS and "y" in data:
        k = QM9_TARGETS.index(name)
        return data["y"][:, k : k + 1]
    raise KeyError(
        f"field {name!r} is missing from the data (present: {', '.join(sorted(data.keys()))}); "
        "QM9 target names are read from y"
    )


def gather_fields(source: Any, names: Iterable[str], with_batch: bool = False) -> dict[str, torch.Tensor]:
    """Stack the fields ``names`` over a whole dataset: ``{name: [B or N, ...]}`` (plus ``z`` and
    ``batch`` when ``with_batch``). QM9 target names missing as fields are read from ``y``.

    ``source``: a ``Data``/``Batch``; an ``InMemoryDataset`` or a subset of one (read straight from its
    storage, without its ``transform``); or any iterable of ``Data`` (collated with ``Batch``)."""
    names = list(names)
    if isinstance(source, BaseData):
        data = source
    elif hasattr(source, "slices") and hasattr(source, "_data") and hasattr(source, "indices"):
        return _gather_in_memory(source, names, with_batch)
    else:
        items = list(source)
        if not items:
            raise ValueError("cannot fit on an empty dataset")
        data = Batch.from_data_list(items)
    out = {n: _field(data, n) for n in names}
    if with_batch:
        z = _field(data, "z")
        out["z"], out["batch"] = z, _batch_vector(data, z.shape[0], z.device)
    return out


def _gather_in_memory(ds: Any, names: list[str], with_batch: bool) -> dict[str, torch.Tensor]:
    idx = torch.as_tensor(
        list(ds.indices()) if not isinstance(ds.indices(), range) else ds.indices(), dtype=torch.long
    )
    if idx.numel() == 0:
        raise ValueError("cannot fit on an empty dataset")
    store, slices = ds._data, ds.slices

    def rows(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        sl = slices[name]
        start, count = sl[idx], sl[idx + 1] - sl[idx]
        if bool((count == 1).all()):
            return store[name][start], count
        first = torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
        gather = torch.repeat_interleave(start, count) + torch.arange(int(count.sum())) - first
        return store[name][gather], count

    out: dict[str, torch.Tensor] = {}
    for n in names:
        if n in slices:
            out[n] = rows(n)[0]
        elif n in QM9_TARGETS and "y" in slices:
            k = QM9_TARGETS.index(n)
            out[n] = rows("y")[0][:, k : k + 1]
        else:
            raise KeyError(f"field {n!r} is not stored in the dataset (stored: {', '.join(sorted(slices))})")
    if with_batch:
        z, count = rows("z")
        out["z"], out["batch"] = z, torch.repeat_interleave(torch.arange(idx.numel()), count)
    return out


class Standardize(BaseTransform):
    r"""Scale typed targets to zero mean (scalars only) and unit spread; see the module docstring.

    Args:
        targets: what to standardise (names, :class:`gdl.keys.Target`, ``"name:level:irreps"``).
        atomref: ``{name: [100] tensor}`` of per-element references subtracted from graph-level
            scalar targets before the statistics, e.g. ``{"U0": qm9_atomref("U0")}``. Default ``None``.

    Attributes:
        mean, std: ``{name: [dim] float64}`` after :meth:`fit` (``mean`` is zero outside ``0e``).
    """

    def __init__(
        self, targets: TargetLike | Iterable[TargetLike], atomref: Mapping[str, torch.Tensor] | None = None
    ):
        self.targets: tuple[Target, ...] = as_targets(targets)
        by_name = {t.name: t for t in self.targets}
        self.atomref = {
            k: torch.as_tensor(v, dtype=torch.float64).flatten() for k, v in (atomref or {}).items()
        }
        for name in self.atomref:
            t = by_name.get(name)
            if t is None or t.level != "graph" or str(t.irreps) != "1x0e":
                raise ValueError(
                    f"atomref is only for graph-level 0e targets among {list(by_name)}, got {name!r}"
                )
        self.mean: dict[str, torch.Tensor] = {}
        self.std: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------------------------------
    def _ref(self, name: str, data: Any, num_graphs: int, dtype: torch.dtype) -> torch.Tensor:
        """Per-graph atom reference ``[B, 1]`` of target ``name``."""
        z = _field(data, "z") if not isinstance(data, Mapping) else data["z"]
        batch = data["batch"] if isinstance(data, Mapping) else _batch_vector(data, z.shape[0], z.device)
        table = self.atomref[name].to(z.device)
        if int(z.max()) >= table.numel():
            raise ValueError(
                f"atomref of {name!r} covers atomic numbers < {table.numel()}, found z = {int(z.max())}"
            )
        out = torch.zeros(num_graphs, dtype=torch.float64, device=z.device).index_add_(0, batch, table[z])
        return out.to(dtype).unsqueeze(-1)

    def _check(self, t: Target, value: torch.Tensor) -> None:
        if value.dim() != 2 or value.shape[1] != t.dim:
            raise ValueError(
                f"target {t.name!r} ({t.irreps}) must be [*, {t.dim}], found {tuple(value.shape)}"
            )

    def fit(self, source: Any) -> Standardize:
        """Compute the statistics on ``source`` — the training split only (see :func:`gather_fields`)."""
        values = gather_fields(source, [t.name for t in self.targets], with_batch=bool(self.atomref))
        for t in self.targets:
            v = values[t.name].to(torch.float64)
            self._check(t, v)
            if t.name in self.atomref:
                v = v - self._ref(t.name, values, v.shape[0], v.dtype)
            mean, std = torch.zeros(t.dim, dtype=torch.float64), torch.ones(t.dim, dtype=torch.float64)
            start = 0  # walk the irreps copy by copy: [start, start + 2l + 1) is one copy
            for mul, ir in t.irreps:
                d = ir.dim
                for _ in range(mul):
                    block = v[:, start : start + d]
                    if ir.l == 0 and ir.p == 1:
                        mean[start] = block.mean()
                        std[start] = (
                            block.std() if block.shape[0] > 1 else torch.tensor(0.0, dtype=torch.float64)
                        )
                    else:
                        std[start : start + d] = block.pow(2).mean().sqrt()
                    start += d
            bad = ~(std > 0) | ~torch.isfinite(std)
            if bool(bad.any()):
                warnings.warn(
                    f"Standardize: target {t.name!r} has zero or undefined spread; using scale 1",
                    stacklevel=2,
                )
                std[bad] = 1.0
            self.mean[t.name], self.std[t.name] = mean, std
        return self

    @property
    def fitted(self) -> bool:
        return all(t.name in self.std for t in self.targets)

    def _need_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError("Standardize: call fit(training_data) (or load_state_dict) first")

    def forward(self, data: Any) -> Any:
        """Replace each target field of ``data`` by its standardised value (QM9 names: select them
        with :class:`~gdl.data.transforms.SelectTargets` first)."""
        self._need_fit()
        for t in self.targets:
            if t.name not in data:
                raise KeyError(
                    f"Standardize: data has no field {t.name!r}; apply SelectTargets([{t.name!r}]) first"
                )
            v = data[t.name]
            self._check(t, v)
            if t.name in self.atomref:
                v = v - self._ref(t.name, data, v.shape[0], v.dtype)
            data[t.name] = (v - self.mean[t.name].to(v)) / self.std[t.name].to(v)
        return data

    transform = forward

    def inverse(self, outputs: Mapping[str, torch.Tensor], data: Any = None) -> dict[str, torch.Tensor]:
        """Map standardised values (e.g. model outputs) back to physical units. Keys that are not
        targets pass through unchanged; ``data`` (with ``z`` and ``batch``) is needed for targets
        with an atom reference."""
        self._need_fit()
        out = dict(outputs)
        for t in self.targets:
            if t.name not in outputs:
                continue
            v = outputs[t.name]
            self._check(t, v)
            v = v * self.std[t.name].to(v) + self.mean[t.name].to(v)
            if t.name in self.atomref:
                if data is None:
                    raise ValueError(
                        f"Standardize.inverse: target {t.name!r} has an atom reference; pass the batch"
                    )
                v = v + self._ref(t.name, data, v.shape[0], v.dtype)
            out[t.name] = v
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"targets": [str(t) for t in self.targets], "mean": dict(self.mean), "std": dict(self.std),
                "atomref": dict(self.atomref)}  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> Standardize:
        if list(state["targets"]) != [str(t) for t in self.targets]:
            raise ValueError(
                f"state is for targets {state['targets']}, this scaler has {[str(t) for t in self.targets]}"
            )
        self.mean, self.std = dict(state["mean"]), dict(state["std"])
        self.atomref = dict(state.get("atomref", {}))
        return self

    def __repr__(self) -> str:
        refs = f", atomref={sorted(self.atomref)}" if self.atomref else ""
        return f"{self.__class__.__name__}({[str(t) for t in self.targets]}{refs}, fitted={self.fitted})"
