"""What the benchmark runner measures: the full plan (``make bench``) and the quick one (``--quick``).

The QM9 rows follow issue 11: 4 layers, batches of 32, ``EGNN`` at 128 features against
egnn-pytorch at 128 features, ``SE3Transformer`` against se3-transformer-pytorch at degrees 0..2,
16 channels, 4 heads of 4, depth 4 (SO(3), as the original), ``TFN`` (l_max 2), ``MACE`` (message
l_max 2, scalar features, correlation 3: MACE's own choice for molecules) and ``GroupConvNet`` (60
icosahedral anchors) with hidden widths chosen so that their parameter counts match EGNN's.
Extra rows, labelled: egnn-pytorch at its own default message width (16); both SE(3)-Transformers
at 8 molecules per batch (the peer needs ~20 GB at 32); ``GroupConvNet`` at width 32 (the
parameter-matched one needs more memory than a 24 GB machine has to spare); ``InvariantNet`` and
``PlainNet`` at 128 features.

The pairs (issue 16) put gdl beside the peer a researcher would pick instead, at matched settings,
on the same QM9 batches of 32 molecules with radius-5 Å graphs, interleaved step by step in one
process (:func:`benchmarks.measure.pair`): ``TFN`` vs NequIP (3 layers, 32 channels of every
irrep, l_max 1 and 2, 8 Bessel functions, cutoff 5 Å, energy readout), ``InvariantNet`` vs PyG's
``SchNet`` (4 layers, 64 channels, 50 Gaussians; without and with ``torch.set_flush_denormal``,
the same setting for both), gdl against itself with the full last layer
(``prune_last_layer=False``) and with e3nn's generated tensor-product code (``tp_backend="e3nn"``,
the same function as the default ``"batched"``) for ``TFN`` and ``SE3Transformer``, and ``MACE``
beside ``TFN`` at the same width, layers and l_max (issue 19: many-body messages on scalar features
against two-body messages on l <= 2 features). With ``--versus-commit REV`` the section also puts
every selected model beside the same model of the gdl package at commit ``REV``
(:func:`benchmarks.models.gdl_package_at`; the QM9 rows' settings and full graphs, same weights),
``RATIO <model>_vs_<REV>``: old code's time / new code's time.

Scaling uses small models so that a training step on 10⁵ points (1.6 M edges) stays below about
7 GB (measured at 10⁴ points: 2.2–4.4 kB per edge): 2 layers; EGNN, InvariantNet, PlainNet at 32
features; TFN and MACE at 8 and SE3Transformer at 4 channels per irrep with l_max 1 (at l_max 2 the
spherical harmonics and per-path weights of every edge take 5–10 kB per edge whatever the width);
GroupConvNet at 4 channels on the 12 anchors of the tetrahedral group (memory grows with edges ×
anchors × channels; 60 anchors would need ~5× more).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SECTIONS", "Plan", "make_plan"]

SECTIONS = ("qm9", "pairs", "scaling", "compile", "flops")


def _gdl(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"kind": "gdl", "name": name, "kwargs": kwargs}


def _peer(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"kind": "peer", "name": name, "kwargs": kwargs}


@dataclass
class Plan:
    """Sizes and repeat counts of one run (see :func:`make_plan`)."""

    quick: bool
    sample_size: int
    batch_size: int
    reduced_batch_size: int
    num_batches: int
    layers: int
    width: int
    se3: dict[str, int]
    anchors: tuple[str, int]
    steps: dict[str, Any]
    slow_peer_steps: dict[str, Any]
    scaling_sizes: tuple[int, ...]
    scaling_k: int
    scaling_steps: dict[str, Any]
    compile_steps: dict[str, Any]
    flops_steps: dict[str, Any]
    gemm_n: int
    scaling_widths: dict[str, int] = field(default_factory=dict)
    pair_sizes: dict[str, int] = field(default_factory=dict)
    pair_steps: dict[str, Any] = field(default_factory=dict)

    @property
    def scaling_settings(self) -> dict[str, Any]:
        return self.scaling_steps

    @property
    def compile_settings(self) -> dict[str, Any]:
        return self.compile_steps

    @property
    def flops_settings(self) -> dict[str, Any]:
        return self.flops_steps

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def _se3_gdl(self) -> dict[str, Any]:
        s = self.se3
        return _gdl(
            "SE3Transformer",
            hidden_channels=s["channels"],
            num_layers=self.layers,
            l_max=2,
            parity=False,
            num_heads=s["heads"],
        )

    def _se3_peer(self) -> dict[str, Any]:
        s = self.se3
        return _peer(
            "se3_transformer_pytorch",
            dim=s["channels"],
            heads=s["heads"],
            dim_head=s["channels"] // s["heads"],
            depth=self.layers,
            num_degrees=3,
        )

    def qm9_rows(self, models: list[str]) -> list[dict[str, Any]]:
        """The rows of the QM9 section for the selected gdl ``models`` (peers follow their model)."""
        w, layers, b, rb = self.width, self.layers, self.batch_size, self.reduced_batch_size
        s = self.se3
        anchors, num_anchors = self.anchors
        std = {"warmup": "first", **self.steps}
        slow = {"warmup": "tiny", **self.slow_peer_steps}
        rows = [
            (
                "egnn",
                "EGNN",
                f"gdl EGNN ({w} features, {layers} layers)",
                _gdl("EGNN", hidden_channels=w, num_layers=layers),
                b,
                std,
            ),
            (
                "egnn_pytorch",
                "EGNN",
                f"egnn-pytorch EGNN_Sparse x{layers} ({w} features, m_dim {w})",
                _peer("egnn_pytorch", feats=w, depth=layers, m_dim=w),
                b,
                std,
            ),
            (
                "egnn_pytorch_m16",
                "EGNN",
                f"egnn-pytorch EGNN_Sparse x{layers} ({w} features, m_dim 16: its default)",
                _peer("egnn_pytorch", feats=w, depth=layers, m_dim=16),
                b,
                std,
            ),
            (
                "se3t",
                "SE3Transformer",
                f"gdl SE3Transformer (degrees 0..2, {s['channels']} channels, "
                f"{s['heads']} heads, {layers} layers, SO(3))",
                self._se3_gdl(),
                b,
                std,
            ),
            (
                "se3_transformer_pytorch",
                "SE3Transformer",
                "se3-transformer-pytorch (matched)",
                self._se3_peer(),
                b,
                slow,
            ),
            (
                "se3t_b8",
                "SE3Transformer",
                f"gdl SE3Transformer (same), {rb} molecules per batch",
                self._se3_gdl(),
                rb,
                std,
            ),
            (
                "se3_transformer_pytorch_b8",
                "SE3Transformer",
                f"se3-transformer-pytorch (matched), {rb} molecules per batch",
                self._se3_peer(),
                rb,
                slow,
            ),
            (
                "tfn",
                "TFN",
                f"gdl TFN (l_max 2, {layers} layers, width matched to EGNN's parameters)",
                _gdl("TFN", num_layers=layers, l_max=2),
                b,
                std,
            ),
            (
                "mace",
                "MACE",
                f"gdl MACE (message l_max 2, scalar features, correlation 3, {layers} layers, width "
                "matched to EGNN's parameters)",
                _gdl("MACE", num_layers=layers, l_max=2),
                b,
                std,
            ),
            (
                "groupconv",
                "GroupConvNet",
                f"gdl GroupConvNet ({num_anchors} {anchors} anchors, {layers} layers, "
                "width matched to EGNN's parameters)",
                _gdl("GroupConvNet", num_layers=layers, anchors=anchors),
                b,
                std,
            ),
            (
                "groupconv_h32",
                "GroupConvNet",
                f"gdl GroupConvNet ({num_anchors} {anchors} anchors, {layers} layers, width 32)",
                _gdl("GroupConvNet", hidden_channels=32, num_layers=layers, anchors=anchors),
                b,
                std,
            ),
            (
                "invariant",
                "InvariantNet",
                f"gdl InvariantNet ({w} features, {layers} layers)",
                _gdl("InvariantNet", hidden_channels=w, num_layers=layers),
                b,
                std,
            ),
            (
                "plain",
                "PlainNet",
                f"gdl PlainNet ({w} features, {layers} layers)",
                _gdl("PlainNet", hidden_channels=w, num_layers=layers),
                b,
                std,
            ),
        ]
        out = []
        for rid, model, label, spec, batch_size, settings in rows:
            if model not in models:
                continue
            row = {
                "id": rid,
                "model": model,
                "label": label,
                "spec": spec,
                "batch_size": batch_size,
                "settings": settings,
                "main": rid in ("egnn", "se3t", "tfn", "mace", "groupconv_h32", "invariant", "plain"),
            }
            if rid in ("tfn", "mace", "groupconv"):
                row["match_parameters_of"] = "egnn"
                if "EGNN" not in models:  # nothing to match: use the model's default width
                    row.pop("match_parameters_of")
            out.append(row)
        return out

    def pair_rows(self, models: list[str]) -> list[dict[str, Any]]:
        """The rows of the pairs section (``ratio``: the RATIO name; ``specs``: gdl first, then the
        model it is compared with) for the selected gdl ``models``."""
        p = self.pair_sizes
        tfn = {"hidden_channels": p["tfn_channels"], "num_layers": p["tfn_layers"], "cutoff": 5.0}
        nequip = {"num_features": p["tfn_channels"], "num_layers": p["tfn_layers"], "r_max": 5.0}
        inv = {
            "hidden_channels": p["invariant_channels"],
            "num_layers": p["invariant_layers"],
            "num_basis": 50,
        }
        schnet = {
            "hidden_channels": p["invariant_channels"],
            "num_filters": p["invariant_channels"],
            "num_interactions": p["invariant_layers"],
            "num_gaussians": 50,
            "cutoff": 5.0,
        }
        ch, layers = p["tfn_channels"], p["tfn_layers"]
        rows = [
            (
                "tfn_vs_nequip_l1",
                "TFN",
                f"gdl TFN vs NequIP (l_max 1, {ch} channels, {layers} layers)",
                [_gdl("TFN", l_max=1, **tfn), _peer("nequip", l_max=1, **nequip)],
                {},
            ),
            (
                "tfn_vs_nequip_l2",
                "TFN",
                f"gdl TFN vs NequIP (l_max 2, {ch} channels, {layers} layers)",
                [_gdl("TFN", l_max=2, **tfn), _peer("nequip", l_max=2, **nequip)],
                {},
            ),
            (
                "invariant_vs_schnet",
                "InvariantNet",
                f"gdl InvariantNet vs PyG SchNet ({p['invariant_channels']} channels, "
                f"{p['invariant_layers']} layers, 50 Gaussians)",
                [_gdl("InvariantNet", **inv), _peer("schnet", **schnet)],
                {},
            ),
            (
                "invariant_vs_schnet_ftz",
                "InvariantNet",
                "the same with torch.set_flush_denormal(True) for both",
                [_gdl("InvariantNet", **inv), _peer("schnet", **schnet)],
                {"flush_denormal": True},
            ),
            (
                "tfn_vs_tfn_full_last_layer",
                "TFN",
                f"gdl TFN (l_max 2, {ch} channels, {layers} layers) vs the same with a full last layer",
                [_gdl("TFN", l_max=2, **tfn), _gdl("TFN", l_max=2, prune_last_layer=False, **tfn)],
                {},
            ),
            (
                "mace_vs_tfn",
                "MACE",
                f"gdl MACE (message l_max 2, scalar features, correlation 3) vs gdl TFN (l_max 2 "
                f"features), both {ch} channels, {layers} layers",
                [_gdl("MACE", l_max=2, **tfn), _gdl("TFN", l_max=2, **tfn)],
                {},
            ),
            (
                "tfn_vs_tfn_e3nn_tp_l1",
                "TFN",
                f"gdl TFN (l_max 1, {ch} channels, {layers} layers) vs the same with e3nn's TP code",
                [_gdl("TFN", l_max=1, **tfn), _gdl("TFN", l_max=1, tp_backend="e3nn", **tfn)],
                {},
            ),
            (
                "tfn_vs_tfn_e3nn_tp_l2",
                "TFN",
                f"gdl TFN (l_max 2, {ch} channels, {layers} layers) vs the same with e3nn's TP code",
                [_gdl("TFN", l_max=2, **tfn), _gdl("TFN", l_max=2, tp_backend="e3nn", **tfn)],
                {},
            ),
            (
                "se3t_vs_se3t_e3nn_tp",
                "SE3Transformer",
                "gdl SE3Transformer (the QM9 row's settings) vs the same with e3nn's tensor-product code",
                [
                    self._se3_gdl(),
                    {**self._se3_gdl(), "kwargs": {**self._se3_gdl()["kwargs"], "tp_backend": "e3nn"}},
                ],
                {},
            ),
            (
                "se3t_vs_se3t_full_last_layer",
                "SE3Transformer",
                "gdl SE3Transformer (the QM9 row's settings) vs the same with a full last layer",
                [
                    self._se3_gdl(),
                    {**self._se3_gdl(), "kwargs": {**self._se3_gdl()["kwargs"], "prune_last_layer": False}},
                ],
                {},
            ),
        ]
        return [
            {
                "id": rid,
                "ratio": rid,
                "model": model,
                "label": label,
                "specs": specs,
                "batch_size": self.batch_size,
                "radius": 5.0,
                "settings": {**self.pair_steps, **extra},
            }
            for rid, model, label, specs, extra in rows
            if model in models
        ]

    def versus_rows(self, models: list[str], commit: str) -> list[dict[str, Any]]:
        """Pairs rows (as :meth:`pair_rows`) of every selected model against the same model of the gdl
        package at ``commit``: the QM9 section's settings (:meth:`context_spec`) and full graphs."""
        from .record import ALIASES

        tag = "".join(c if c.isalnum() else "_" for c in commit)
        rows = []
        for model in models:
            spec = self.context_spec(model)
            rows.append(
                {
                    "id": f"{ALIASES[model]}_vs_{tag}",
                    "ratio": f"{ALIASES[model]}_vs_{tag}",
                    "model": model,
                    "label": f"gdl {model} (QM9 row settings) vs the same at commit {commit}",
                    "specs": [spec, {**spec, "commit": commit}],
                    "batch_size": self.batch_size,
                    "radius": None,
                    "settings": dict(self.pair_steps),
                }
            )
        return rows

    def context_spec(self, model: str) -> dict[str, Any]:
        """The spec of ``model`` in the compile and FLOPs sections when the QM9 section did not run."""
        w, layers = self.width, self.layers
        anchors = self.anchors[0]
        return {
            "EGNN": _gdl("EGNN", hidden_channels=w, num_layers=layers),
            "InvariantNet": _gdl("InvariantNet", hidden_channels=w, num_layers=layers),
            "PlainNet": _gdl("PlainNet", hidden_channels=w, num_layers=layers),
            "TFN": _gdl("TFN", num_layers=layers, l_max=2),
            "MACE": _gdl("MACE", num_layers=layers, l_max=2),
            "SE3Transformer": self._se3_gdl(),
            "GroupConvNet": _gdl("GroupConvNet", hidden_channels=32, num_layers=layers, anchors=anchors),
        }[model]

    def scaling_spec(self, model: str) -> tuple[dict[str, Any], str]:
        """The spec (no atom types: galaxies have none) and a description of ``model`` for scaling."""
        w = self.scaling_widths
        common = {"num_layers": 2, "inputs": {"num_types": 0}}
        spec = {
            "EGNN": _gdl("EGNN", hidden_channels=w["scalar"], **common),
            "InvariantNet": _gdl("InvariantNet", hidden_channels=w["scalar"], **common),
            "PlainNet": _gdl("PlainNet", hidden_channels=w["scalar"], **common),
            "TFN": _gdl("TFN", hidden_channels=w["tfn"], l_max=1, **common),
            "MACE": _gdl("MACE", hidden_channels=w["tfn"], l_max=1, **common),
            "SE3Transformer": _gdl(
                "SE3Transformer", hidden_channels=w["se3"], l_max=1, num_heads=2, **common
            ),
            "GroupConvNet": _gdl(
                "GroupConvNet", hidden_channels=w["regular"], anchors="tetrahedral", **common
            ),
        }[model]
        kw = spec["kwargs"]
        config = f"width {kw['hidden_channels']}, 2 layers" + (
            ", l_max 1" if "l_max" in kw else ", 12 tetrahedral anchors" if "anchors" in kw else ""
        )
        return spec, config


def make_plan(quick: bool = False) -> Plan:
    """The full plan of issue 11, or a quick one (seconds per measurement) for smoke runs and tests."""
    if quick:
        return Plan(
            quick=True,
            sample_size=32,
            batch_size=8,
            reduced_batch_size=4,
            num_batches=2,
            layers=2,
            width=16,
            se3={"channels": 4, "heads": 2},
            anchors=("tetrahedral", 12),
            steps={"min_steps": 2, "max_steps": 3, "budget_s": 1.0},
            slow_peer_steps={"min_steps": 1, "max_steps": 2, "budget_s": 1.0},
            scaling_sizes=(200, 2000),
            scaling_k=8,
            scaling_steps={"warmup": "first", "min_steps": 2, "max_steps": 3, "budget_s": 1.0},
            compile_steps={"min_steps": 2, "max_steps": 3, "budget_s": 1.0},
            flops_steps={"min_steps": 2, "max_steps": 3, "budget_s": 1.0},
            gemm_n=256,
            scaling_widths={"scalar": 8, "tfn": 4, "se3": 2, "regular": 2},
            pair_sizes={"tfn_channels": 4, "tfn_layers": 2, "invariant_channels": 8, "invariant_layers": 2},
            pair_steps={"min_steps": 2, "max_steps": 3, "budget_s": 1.0},
        )
    return Plan(
        quick=False,
        sample_size=1024,
        batch_size=32,
        reduced_batch_size=8,
        num_batches=32,
        layers=4,
        width=128,
        se3={"channels": 16, "heads": 4},
        anchors=("icosahedral", 60),
        steps={"min_steps": 5, "max_steps": 32, "budget_s": 60.0},
        slow_peer_steps={"min_steps": 1, "max_steps": 3, "budget_s": 60.0},
        scaling_sizes=(1_000, 10_000, 100_000),
        scaling_k=16,
        scaling_steps={"warmup": "first", "min_steps": 3, "max_steps": 10, "budget_s": 30.0},
        compile_steps={"min_steps": 6, "max_steps": 16, "budget_s": 30.0},
        flops_steps={"min_steps": 3, "max_steps": 10, "budget_s": 15.0},
        gemm_n=2048,
        scaling_widths={"scalar": 32, "tfn": 8, "se3": 4, "regular": 4},
        pair_sizes={"tfn_channels": 32, "tfn_layers": 3, "invariant_channels": 64, "invariant_layers": 4},
        pair_steps={"min_steps": 8, "max_steps": 32, "budget_s": 60.0},
    )
