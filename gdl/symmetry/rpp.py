r"""Residual pathway priors: an equivariant model plus a non-equivariant path with a strong prior."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from ..models.base import GDLModel
from .strategy import SymmetryStrategy

__all__ = ["RPP", "ResidualPathwayPrior", "default_residual"]


def default_residual(model: GDLModel, hidden_channels: int = 32, num_layers: int = 2) -> GDLModel:
    """A :class:`~gdl.models.PlainNet` with the targets of ``model`` and, where ``model`` exposes
    them, its inputs (its ``inputs``, else ``num_types``/``in_channels`` of its ``embedding`` and
    ``vector_inputs``), ``cutoff`` and ``reduce``."""
    from ..models.inputs import NodeInputs
    from ..models.plain_net import PlainNet

    inputs = getattr(model, "inputs", None)
    if not isinstance(inputs, NodeInputs):  # a model not (yet) built from NodeInputs
        emb = getattr(model, "embedding", None)
        inputs = NodeInputs(
            num_types=int(getattr(emb, "num_types", getattr(model, "num_types", 10))),
            in_channels=int(getattr(emb, "in_channels", getattr(model, "in_channels", 0))),
            vector_inputs=tuple(getattr(model, "vector_inputs", ())),
        )
    return PlainNet(
        model.targets,
        hidden_channels=hidden_channels,
        num_layers=num_layers,
        inputs=inputs,
        cutoff=float(getattr(model, "cutoff", 5.0)),
        reduce=str(getattr(model, "reduce", "sum")),
    )


class ResidualPathwayPrior(SymmetryStrategy):
    r"""Residual pathway prior (Finzi, Benton & Wilson, "Residual Pathway Priors for Soft
    Equivariance Constraints", NeurIPS 2021, https://arxiv.org/abs/2112.01388): the output is the sum
    of an equivariant model and a non-equivariant residual path,

    .. math::
        f(x) = f_{\text{eq}}(x; \theta_{\text{eq}}) + f_{\text{res}}(x; \theta_{\text{res}}), \qquad
        \mathcal R = \lambda \lVert \theta_{\text{eq}} \rVert^2
            + \lambda\, r \lVert \theta_{\text{res}} \rVert^2

    with Gaussian priors on the weights, i.e. L2 penalties (:meth:`regularizer`) whose ratio
    :math:`r` (``prior_ratio``, the ratio of prior precisions) makes the residual path much more
    expensive: it is used only where the data contradict the symmetry. The residual path is a
    :class:`~gdl.models.PlainNet` by default (:func:`default_residual`) or any model given, with the
    same targets.

    Symmetry: exactly that of the equivariant model when the residual's output is zero (e.g. all
    its weights zeroed, tested at 1e-9). Otherwise, with :math:`f = e + r`,
    :math:`f(g x) - g f(x) = r(g x) - g\, r(x)`, so the relative equivariance error is at most
    :math:`(\lVert r(gx) \rVert + \lVert r(x) \rVert) / \lVert f \rVert`: about twice the ratio of
    the two paths' output norms *if the residual's output norm does not change under the rotation*
    (:math:`\lVert r(gx) \rVert \approx \lVert r(x) \rVert`). That is an assumption, not a property
    of a non-equivariant residual such as a PlainNet, whose output norm may change with the
    orientation; the bound then uses the larger of the two norms. The ratio, which :meth:`symmetry_report`
    gives (``output_norm_ratio`` over all targets and ``output_norm_ratio/<target>``, measured on the
    **last forward pass**; :meth:`output_norm_ratio` measures it on a given batch).

    Args:
        model: the equivariant :class:`~gdl.models.GDLModel`.
        residual: the non-equivariant path, a ``GDLModel`` with the same targets; ``None`` builds
            :func:`default_residual` (in the model's dtype and on its device). Default ``None``.
        weight_decay: :math:`\lambda`, L2 weight on the equivariant parameters. Default ``1e-6``.
        prior_ratio: :math:`r`, how much stronger the penalty on the residual parameters is.
            Default ``1000.0``.

    Shapes:
        as the wrapped model: ``Batch`` -> ``{target: [B or N, dim]}``.
    """

    name: ClassVar[str] = "rpp"
    supported_models = (GDLModel,)

    def __init__(
        self,
        model: GDLModel,
        residual: GDLModel | None = None,
        weight_decay: float = 1e-6,
        prior_ratio: float = 1000.0,
    ):
        super().__init__(model)
        if not (weight_decay >= 0 and prior_ratio > 0):
            raise ValueError(
                f"RPP: need weight_decay >= 0 and prior_ratio > 0, got {weight_decay}, {prior_ratio}"
            )
        if residual is None:
            residual = default_residual(model)
            p = next(model.parameters(), None)
            if p is not None:
                residual = residual.to(dtype=p.dtype, device=p.device)
        if not isinstance(residual, GDLModel):
            raise TypeError(f"RPP: residual must be a GDLModel, got {type(residual).__name__}")
        if [str(t) for t in residual.targets] != [str(t) for t in model.targets]:
            raise ValueError(
                f"RPP: the residual path predicts {[str(t) for t in residual.targets]} but the model "
                f"predicts {[str(t) for t in model.targets]}"
            )
        self.residual = residual
        self.weight_decay, self.prior_ratio = float(weight_decay), float(prior_ratio)
        #: {target or "all": (equivariant norm, residual norm)} of the last forward pass
        self._norms: dict[str, tuple[float, float]] = {}

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        eq = self.model(data)
        res = self.residual(data)
        with torch.no_grad():
            self._norms = {k: (_norm({k: eq[k]}), _norm({k: res[k]})) for k in eq}
            self._norms["all"] = (_norm(eq), _norm(res))
        return {k: eq[k] + res[k] for k in eq}

    def regularizer(self) -> torch.Tensor:
        zero = super().regularizer()  # a zero of the parameters' dtype and device
        eq = sum((p.pow(2).sum() for p in self.model.parameters()), zero)
        res = sum((p.pow(2).sum() for p in self.residual.parameters()), zero)
        return self.weight_decay * (eq + self.prior_ratio * res)

    @torch.no_grad()
    def output_norm_ratio(self, data: Any) -> float:
        """``‖f_res(x)‖ / ‖f_eq(x)‖`` on ``data`` (norms over all targets and rows)."""
        return _norm(self.residual(data)) / max(_norm(self.model(data)), 1e-300)

    def symmetry_report(self) -> dict[str, Any]:
        """``prior_ratio``, ``weight_decay``, ``output_norm_ratio`` (all targets) and
        ``output_norm_ratio/<target>`` of the last forward pass (NaN before the first), and the L2
        norms of both paths' weights."""

        def ratio(key: str) -> float:
            eq, res = self._norms.get(key, (math.nan, math.nan))
            return res / eq if eq > 0 else math.nan

        report: dict[str, Any] = {
            "strategy": self.name,
            "prior_ratio": self.prior_ratio,
            "weight_decay": self.weight_decay,
            "output_norm_ratio": ratio("all"),
        }
        report.update({f"output_norm_ratio/{t.name}": ratio(t.name) for t in self.targets})
        report["residual_weight_norm"] = _param_norm(self.residual)
        report["equivariant_weight_norm"] = _param_norm(self.model)
        return report

    def extra_repr(self) -> str:
        return f"weight_decay={self.weight_decay}, prior_ratio={self.prior_ratio}"


def _norm(out: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(v.detach().double().pow(2).sum()) for v in out.values()))


def _param_norm(module: torch.nn.Module) -> float:
    return math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in module.parameters()))


#: short name
RPP = ResidualPathwayPrior
