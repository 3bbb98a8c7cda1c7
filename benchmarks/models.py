"""Models of the benchmark runner: gdl models and the peers, built from JSON-able specs.

A spec is a plain dict, so that it can be sent to a measurement subprocess and stored in the
JSON record:

* ``{"kind": "gdl", "name": "EGNN", "kwargs": {...}}`` — a :mod:`gdl.models` class with one
  graph-level scalar target; ``kwargs["anchors"]`` of ``GroupConvNet`` is a name
  (``"icosahedral"``, ``"octahedral"``, ``"tetrahedral"``) or ``"random:<n>"``; with
  ``"commit": "<git revision>"``, the class of the gdl package at that commit of this repository
  (:func:`gdl_package_at`: old and new code side by side in one process);
* ``{"kind": "peer", "name": "egnn_pytorch" | "se3_transformer_pytorch" | "nequip" | "schnet",
  "kwargs": {...}}`` — the peers of the ``peers`` extra and PyG's SchNet, wrapped to read the same
  batches (:class:`EGNNPytorchNet`, :class:`SE3TransformerPytorchNet`, :class:`NequIPNet`,
  :class:`SchNetNet`). They are imported only when built; :func:`peer_available` tells without
  importing.

:func:`build` returns a :class:`BenchModel`: the module, ``prepare(batch)`` (input conversion done
once, outside the timed region) and ``loss_of(output)`` (a scalar for the backward pass: the mean
square of the outputs, i.e. regression to zero — the cost of a training step does not depend on the labels).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "GDL_MODELS",
    "PEERS",
    "BenchModel",
    "EGNNPytorchNet",
    "NequIPNet",
    "SE3TransformerPytorchNet",
    "SchNetNet",
    "build",
    "count_parameters",
    "gdl_package_at",
    "match_hidden",
    "peer_available",
]

#: Every gdl model the runner measures.
GDL_MODELS = ("EGNN", "InvariantNet", "PlainNet", "TFN", "MACE", "SE3Transformer", "GroupConvNet")
#: Peer name -> the module it needs (the ``peers`` extra of pyproject.toml).
PEERS = {
    "egnn_pytorch": "egnn_pytorch",
    "se3_transformer_pytorch": "se3_transformer_pytorch",
    "nequip": "nequip",
    "schnet": "torch_geometric",
}
#: The graph-level scalar every gdl model predicts in the benchmarks.
TARGET = "U0"


@dataclass
class BenchModel:
    """What a measurement needs from a model (see the module docstring)."""

    module: nn.Module
    #: converts a batch to the module's input, once, before timing
    prepare: Callable[[Any], Any]
    #: the scalar whose gradient a training step takes, from the module's output
    loss_of: Callable[[Any], torch.Tensor]


def peer_available(name: str) -> bool:
    """Whether the peer's package can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(PEERS[name]) is not None
    except ImportError:  # e.g. a broken install, or an import hook that refuses it
        return False


def _anchors(value: str):
    from gdl.groups import icosahedral, octahedral, tetrahedral
    from gdl.groups.anchors import GroupAnchors, RandomAnchors

    groups = {"icosahedral": icosahedral, "octahedral": octahedral, "tetrahedral": tetrahedral}
    if value in groups:
        return GroupAnchors(groups[value](), name=value)
    if value.startswith("random:"):
        return RandomAnchors(int(value.split(":", 1)[1]), seed=0)
    raise ValueError(f"anchors must be one of {sorted(groups)} or 'random:<n>', got {value!r}")


_REPO = Path(__file__).resolve().parents[1]
_ABSOLUTE_IMPORT = re.compile(r"^(\s*)(from|import) gdl(?=[\s.])", re.MULTILINE)


def gdl_package_at(commit: str, cache: str | os.PathLike | None = None) -> str:
    """The import name of a copy of the ``gdl`` package at ``commit`` (any git revision of this
    repository), importable beside the working tree's ``gdl``: ``git archive`` extracts it as
    ``gdl_<sha>`` under ``cache`` (default: ``gdl-bench-packages`` in the temporary directory; kept,
    so every measurement process reuses it), with its absolute ``gdl`` imports renamed, and
    ``cache`` is put on ``sys.path``."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=_REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if sha.returncode != 0:
        raise ValueError(f"not a commit of {_REPO}: {commit!r} ({sha.stderr.strip()})")
    name = f"gdl_{sha.stdout.strip()[:12]}"
    root = Path(cache) if cache is not None else Path(tempfile.gettempdir()) / "gdl-bench-packages"
    target = root / name
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha.stdout.strip(), "gdl"],
            cwd=_REPO,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(staging)], input=archive, check=True)
        for py in (staging / "gdl").rglob("*.py"):
            py.write_text(_ABSOLUTE_IMPORT.sub(rf"\1\2 {name}", py.read_text()))
        try:
            os.replace(staging / "gdl", target)
        except OSError:  # another process extracted it first
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return name


def _gdl_module(name: str, kwargs: dict[str, Any], commit: str | None = None) -> nn.Module:
    if name not in GDL_MODELS:
        raise ValueError(f"unknown gdl model {name!r}; known: {GDL_MODELS}")
    package = "gdl" if commit is None else gdl_package_at(commit)
    models = importlib.import_module(f"{package}.models")
    kwargs = dict(kwargs)
    if "anchors" in kwargs:
        kwargs["anchors"] = _anchors(kwargs["anchors"])
    return getattr(models, name)([TARGET], **kwargs)


def _identity(batch: Any) -> Any:
    return batch


def _output_loss(out: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(v.pow(2).mean() for v in out.values())


def _square_mean(out: torch.Tensor) -> torch.Tensor:
    return out.pow(2).mean()


class EGNNPytorchNet(nn.Module):
    """egnn-pytorch's ``EGNN_Sparse`` layers stacked ``depth`` deep on an atom-type embedding, with a
    sum-pooled two-layer MLP head for a graph scalar (the head of gdl's ``EGNN`` for a ``0e`` target).

    Args:
        feats: node feature width (``feats_dim``). Default ``128``.
        depth: number of layers. Default ``4``.
        m_dim: message width (``m_dim``; the layer's own default is 16, EGNN's paper uses the
            feature width). Default ``128``.
        num_types: atom-type vocabulary. Default ``10``.
    """

    def __init__(self, feats: int = 128, depth: int = 4, m_dim: int = 128, num_types: int = 10):
        super().__init__()
        from egnn_pytorch import EGNN_Sparse

        self.embedding = nn.Embedding(num_types, feats)
        self.layers = nn.ModuleList(EGNN_Sparse(feats_dim=feats, m_dim=m_dim) for _ in range(depth))
        self.head = nn.Sequential(nn.Linear(feats, feats), nn.SiLU(), nn.Linear(feats, 1))

    def forward(self, data: Any) -> torch.Tensor:
        x = torch.cat([data.pos, self.embedding(data.z)], dim=-1)  # [N, 3 + F]: the layer's input format
        for layer in self.layers:
            x = layer(x, data.edge_index, batch=data.batch)
        node = self.head(x[:, 3:])  # [N, 1]
        return node.new_zeros(data.num_graphs, 1).index_add_(0, data.batch, node)


class SE3TransformerPytorchNet(nn.Module):
    """lucidrains' se3-transformer-pytorch ``SE3Transformer`` on padded batches: atom types as
    tokens, degree-0 outputs reduced to one scalar per atom and summed over the atoms of each
    molecule. Every atom attends to every atom of its molecule (the peer's default, a full graph).

    Args: ``dim`` (channels per degree), ``heads``, ``dim_head``, ``depth``, ``num_degrees``
    (degrees ``0..num_degrees-1``), ``num_types``; defaults 16, 4, 4, 4, 3, 10.
    """

    def __init__(
        self,
        dim: int = 16,
        heads: int = 4,
        dim_head: int = 4,
        depth: int = 4,
        num_degrees: int = 3,
        num_types: int = 10,
    ):
        super().__init__()
        from se3_transformer_pytorch import SE3Transformer

        self.net = SE3Transformer(
            num_tokens=num_types,
            dim=dim,
            heads=heads,
            dim_head=dim_head,
            depth=depth,
            num_degrees=num_degrees,
            output_degrees=1,
            reduce_dim_out=True,
        )

    @staticmethod
    def dense(data: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(feats [B, n_max], coors [B, n_max, 3], mask [B, n_max])`` of a batch, zero-padded."""
        b = int(data.num_graphs)
        sizes = torch.bincount(data.batch, minlength=b)
        n_max = int(sizes.max())
        start = torch.cumsum(sizes, 0) - sizes
        slot = torch.arange(data.batch.numel(), device=data.batch.device) - start[data.batch]
        feats = data.z.new_zeros(b, n_max)
        coors = data.pos.new_zeros(b, n_max, 3)
        mask = torch.zeros(b, n_max, dtype=torch.bool, device=data.pos.device)
        feats[data.batch, slot], coors[data.batch, slot], mask[data.batch, slot] = data.z, data.pos, True
        return feats, coors, mask

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        feats, coors, mask = inputs
        return (self.net(feats, coors, mask=mask) * mask).sum(-1, keepdim=True)  # [B, 1]


class NequIPNet(nn.Module):
    """NequIP (the ``nequip`` package, 0.19's ``NequIPGNNModel``) predicting a total energy, on the
    batch's own edges (no neighbour list of its own), without force derivatives. Atom types are the
    atomic numbers ``z`` (``num_types`` names ``t0, t1, ...``, as gdl's embedding of ``z``).

    ``nequip`` sets a global state when its first model is built (default dtype float64, and
    e3nn's ``jit_mode="script"`` for the tensor products it builds); both are restored here after
    the build, so that gdl models built later in the same process are unaffected. The model is
    float32.

    Args: ``num_layers``, ``l_max``, ``num_features`` (channels of every irrep), ``num_bessels``,
    ``r_max``, ``avg_num_neighbors``, ``num_types``, ``parity``; defaults 3, 2, 32, 8, 5.0, 16.0,
    10, ``True``; other NequIP arguments keep NequIP's defaults (radial MLP of one hidden layer of
    128, polynomial cutoff p = 6).
    """

    def __init__(
        self,
        num_layers: int = 3,
        l_max: int = 2,
        num_features: int = 32,
        num_bessels: int = 8,
        r_max: float = 5.0,
        avg_num_neighbors: float = 16.0,
        num_types: int = 10,
        parity: bool = True,
    ):
        super().__init__()
        import warnings

        import e3nn
        from nequip.model import NequIPGNNModel
        from nequip.utils.global_state import set_global_state

        dtype, e3nn_flags = torch.get_default_dtype(), e3nn.get_optimization_defaults()
        set_global_state()
        torch.set_default_dtype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-type energy scales/shifts: irrelevant to speed
            self.net = NequIPGNNModel(
                seed=0,
                model_dtype="float32",
                r_max=float(r_max),
                type_names=[f"t{k}" for k in range(num_types)],
                num_layers=num_layers,
                l_max=l_max,
                parity=parity,
                num_features=num_features,
                num_bessels=num_bessels,
                avg_num_neighbors=float(avg_num_neighbors),
                do_derivatives=False,
            )
        e3nn.set_optimization_defaults(**e3nn_flags)  # building sets jit_mode="script"

    @staticmethod
    def inputs(data: Any) -> dict[str, torch.Tensor]:
        """NequIP's ``AtomicDataDict`` of a batch."""
        return {
            "pos": data.pos,
            "edge_index": data.edge_index,
            "atom_types": data.z.long(),
            "batch": data.batch,
            "num_atoms": torch.bincount(data.batch, minlength=int(data.num_graphs)),
        }

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        # a fresh dict per call: NequIP adds its intermediate fields (edge vectors, ...) to its input
        return self.net(dict(inputs))["total_energy"]  # [B, 1]


class SchNetNet(nn.Module):
    """PyG's ``torch_geometric.nn.models.SchNet`` on the batch's own edges (its interaction graph
    returns the batch's ``edge_index`` and the lengths, instead of building a radius graph).

    Args: ``hidden_channels``, ``num_filters``, ``num_interactions``, ``num_gaussians``,
    ``cutoff``; defaults 64, 64, 4, 50, 5.0 (sum readout, as gdl's ``InvariantNet``).
    """

    def __init__(
        self,
        hidden_channels: int = 64,
        num_filters: int = 64,
        num_interactions: int = 4,
        num_gaussians: int = 50,
        cutoff: float = 5.0,
    ):
        super().__init__()
        from torch_geometric.nn.models import SchNet

        self.edges = _GivenEdges()
        self.net = SchNet(
            hidden_channels=hidden_channels,
            num_filters=num_filters,
            num_interactions=num_interactions,
            num_gaussians=num_gaussians,
            cutoff=cutoff,
            interaction_graph=self.edges,
        )

    def forward(self, data: Any) -> torch.Tensor:
        self.edges.edge_index = data.edge_index
        return self.net(data.z, data.pos, data.batch)  # [B, 1]


class _GivenEdges(nn.Module):
    """SchNet's ``interaction_graph``: the edges set before the call, and their lengths."""

    edge_index: torch.Tensor | None = None

    def forward(self, pos: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        row, col = self.edge_index
        return self.edge_index, (pos[row] - pos[col]).norm(dim=-1)


def build(spec: dict[str, Any]) -> BenchModel:
    """The :class:`BenchModel` of a spec (module docstring)."""
    kind, name, kwargs = spec["kind"], spec["name"], spec.get("kwargs", {})
    if kind == "gdl":
        return BenchModel(_gdl_module(name, kwargs, spec.get("commit")), _identity, _output_loss)
    if kind == "peer" and name == "egnn_pytorch":
        return BenchModel(EGNNPytorchNet(**kwargs), _identity, _square_mean)
    if kind == "peer" and name == "se3_transformer_pytorch":
        return BenchModel(SE3TransformerPytorchNet(**kwargs), SE3TransformerPytorchNet.dense, _square_mean)
    if kind == "peer" and name == "nequip":
        return BenchModel(NequIPNet(**kwargs), NequIPNet.inputs, _square_mean)
    if kind == "peer" and name == "schnet":
        return BenchModel(SchNetNet(**kwargs), _identity, _square_mean)
    raise ValueError(f"unknown model spec {spec!r}")


def count_parameters(spec: dict[str, Any]) -> int:
    """Trainable parameters of the model a spec builds."""
    return sum(p.numel() for p in build(spec).module.parameters() if p.requires_grad)


def match_hidden(spec: dict[str, Any], target: int, lo: int = 1, hi: int = 1024) -> dict[str, Any]:
    """A copy of ``spec`` whose ``kwargs["hidden_channels"]`` in ``[lo, hi]`` gives the parameter
    count closest to ``target`` (bisection: parameters grow with the width)."""

    def with_hidden(h: int) -> dict[str, Any]:
        return {**spec, "kwargs": {**spec.get("kwargs", {}), "hidden_channels": h}}

    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if count_parameters(with_hidden(mid)) < target:
            a = mid
        else:
            b = mid
    return with_hidden(min((a, b), key=lambda h: abs(count_parameters(with_hidden(h)) - target)))
