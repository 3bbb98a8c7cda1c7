r"""Two small E(3)-equivariant dynamics baselines of the EGNN paper's N-body table (Satorras et al.
2021, Table 2): :class:`LinearDynamics` (the "Linear" row) and :class:`RadialField` (the "Radial
Field" row, after Köhler et al. 2019). Both predict one node-level ``1o`` target, the displacement
of every particle, and neither carries node features through its layers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch_geometric.utils import scatter

from ..keys import TargetLike
from .base import GDLModel

__all__ = ["LinearDynamics", "RadialField"]


def _check_single_node_vector(model: GDLModel) -> None:
    name = type(model).__name__
    if len(model.targets) != 1:
        raise ValueError(
            f"{name} predicts one node 1o target (a displacement), got {len(model.targets)} targets"
        )
    model.check_targets(["1o"], levels=("node",))
    if model.targets[0].irreps.dim != 3:
        raise ValueError(f"{name} predicts a single 1o vector per node, got irreps {model.targets[0].irreps}")


def _field(data: Any, key: str, width: int, model: str) -> torch.Tensor:
    v = getattr(data, key, None)
    n = data.pos.shape[0]
    if not isinstance(v, torch.Tensor) or v.shape != (n, width) or not v.is_floating_point():
        what = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise ValueError(
            f"{model} needs `{key}` as a floating tensor of shape [{n}, {width}] in the batch, got {what}"
        )
    return v.to(data.pos.dtype)


class LinearDynamics(GDLModel):
    r"""The EGNN paper's "Linear" baseline: constant-velocity motion with one learned time step.

    .. math::
        \Delta x_i = s\, v_i

    Symmetry: E(3)-equivariant (rotations, reflections), translation-invariant, permutation-equivariant.

    Args:
        targets: exactly one node-level ``1o`` target (the displacement).
        velocity: name of the ``[N, 3]`` velocity field. Default ``"vel"``.
        init: initial value of :math:`s` (the gap between the input and target frames in simulation
            time units is 1 for the charged N-body protocol). Default ``1.0``.

    Shapes:
        ``Batch`` with ``pos [N, 3]``, ``edge_index``, ``<velocity> [N, 3]`` -> ``{name: [N, 3]}``.
    """

    def __init__(self, targets: TargetLike | Iterable[TargetLike], velocity: str = "vel", init: float = 1.0):
        super().__init__(targets)
        _check_single_node_vector(self)
        self.velocity = str(velocity)
        self.init = float(init)
        self.time_step = nn.Parameter(torch.tensor(self.init))

    def reset_parameters(self) -> None:
        """Set the time step back to its initial value ``init``."""
        with torch.no_grad():
            self.time_step.fill_(self.init)

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        vel = _field(data, self.velocity, 3, type(self).__name__)
        return {self.target_specs[0][0]: self.time_step.to(vel.dtype) * vel}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", velocity={self.velocity!r}"


class RadialField(GDLModel):
    r"""Radial-field dynamics: positions are moved along relative vectors scaled by a learned
    function of the distance, with no node features (Köhler, Klein and Noé 2019), in the form the
    EGNN paper trained on charged N-body (its ``RF_vel`` model: charge products on the edges and a
    velocity term).

    .. math::
        x^{l+1}_i = x^l_i + \frac{1}{|\mathcal N(i)|} \sum_{j \in \mathcal N(i)} (x^l_i - x^l_j)\,
            \tanh\!\big(\phi_l(\lVert x^l_i - x^l_j \rVert, q_i q_j)\big) + v_i\, \psi_l(\lVert v_i \rVert),
        \qquad \Delta x_i = x^L_i - x^0_i

    with :math:`\phi_l, \psi_l` two-layer MLPs (SiLU). Köhler et al.'s radial field is the special
    case ``velocity=None, charge=None, input_distance=False`` (no velocity term, :math:`\phi_l` of
    the distance alone).
    With ``input_distance=True`` (the default), :math:`\phi_l` also reads the squared distance of the *input*
    frame, :math:`\lVert x^0_i - x^0_j \rVert^2` (the same in every layer), as the EGNN paper's
    ``RF_vel`` code does: its edge attributes are :math:`[q_i q_j, \lVert x^0_i - x^0_j \rVert^2]`
    beside the current distance. With ``velocity_bias=True`` the last layer of each :math:`\psi_l`
    has a bias, as in that code (its ``coord_mlp_vel``), so that :math:`\psi_l` can be a constant
    time step at any speed.
    Positions are updated layer by layer, so periodic ``edge_vec`` is not supported.

    Symmetry: E(3)-equivariant (rotations, reflections), translation-invariant, permutation-equivariant.

    Args:
        targets: exactly one node-level ``1o`` target (the displacement).
        hidden_channels: width of the MLPs :math:`\phi_l, \psi_l`. Default ``64``.
        num_layers: number of position updates :math:`L`. Default ``4``.
        velocity: name of the ``[N, 3]`` velocity field, or ``None`` for no velocity term. Default ``"vel"``.
        charge: name of the ``[N, 1]`` charge field whose products :math:`q_i q_j` enter
            :math:`\phi_l`, or ``None``. Default ``"x"`` (the charged N-body data's charges).
        input_distance: also give :math:`\phi_l` the input frame's squared distance. Default
            ``True``: on the charged N-body protocol it lowered the test MSE from 0.0283 to 0.0179
            (seed 0, 300 epochs; ``docs/results.md``, Table 2).
        velocity_bias: give the last layer of each :math:`\psi_l` a bias. Default ``False``.

    Shapes:
        ``Batch`` with ``pos [N, 3]``, ``edge_index [2, E]`` and the named fields -> ``{name: [N, 3]}``.
    """

    def __init__(
        self,
        targets: TargetLike | Iterable[TargetLike],
        hidden_channels: int = 64,
        num_layers: int = 4,
        velocity: str | None = "vel",
        charge: str | None = "x",
        input_distance: bool = True,
        velocity_bias: bool = False,
    ):
        super().__init__(targets)
        _check_single_node_vector(self)
        if hidden_channels < 1 or num_layers < 1:
            raise ValueError(
                "RadialField: need hidden_channels >= 1 and num_layers >= 1, "
                f"got {hidden_channels}, {num_layers}"
            )
        self.hidden_channels, self.num_layers = int(hidden_channels), int(num_layers)
        self.velocity = None if velocity is None else str(velocity)
        self.charge = None if charge is None else str(charge)
        self.input_distance = bool(input_distance)
        self.velocity_bias = bool(velocity_bias)
        edge_in = 1 + (self.charge is not None) + self.input_distance
        self.phi = nn.ModuleList(self._mlp(edge_in) for _ in range(self.num_layers))
        self.psi = (
            nn.ModuleList(self._mlp(1, bias=self.velocity_bias) for _ in range(self.num_layers))
            if self.velocity
            else None
        )
        self.reset_parameters()

    def _mlp(self, width_in: int, bias: bool = False) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(width_in, self.hidden_channels),
            nn.SiLU(),
            nn.Linear(self.hidden_channels, 1, bias=bias),
        )

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation, with the last layer of each :math:`\\phi_l` scaled down
        (1e-3) so that the untrained model starts near the identity map, as radial fields need for
        stable training."""
        for mlp in [*self.phi, *(self.psi or [])]:
            for layer in mlp:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
        with torch.no_grad():
            for mlp in self.phi:
                mlp[-1].weight.mul_(1e-3)

    def validate(self, data: Any) -> None:
        super().validate(data)
        if getattr(data, "edge_vec", None) is not None:
            raise ValueError(
                "RadialField moves the positions layer by layer and cannot use precomputed (periodic) "
                "edge_vec"
            )

    def forward(self, data: Any) -> dict[str, torch.Tensor]:
        self.validate(data)
        name = type(self).__name__
        pos0 = data.pos
        src, dst = data.edge_index
        fixed = []  # edge inputs that stay the same through the layers
        if self.charge is not None:
            q = _field(data, self.charge, 1, name)
            fixed.append(q[src] * q[dst])
        if self.input_distance:
            fixed.append((pos0[dst] - pos0[src]).pow(2).sum(dim=-1, keepdim=True))
        vel = _field(data, self.velocity, 3, name) if self.velocity is not None else None
        speed = vel.norm(dim=-1, keepdim=True) if vel is not None else None
        pos = pos0
        for layer in range(self.num_layers):
            rel = pos[dst] - pos[src]  # x_i - x_j on the edge j -> i
            dist = rel.norm(dim=-1, keepdim=True)
            edge_in = torch.cat([dist, *fixed], dim=-1) if fixed else dist
            msg = rel * torch.tanh(self.phi[layer](edge_in))
            pos = pos + scatter(msg, dst, dim=0, dim_size=pos.shape[0], reduce="mean")
            if vel is not None:
                assert self.psi is not None and speed is not None
                pos = pos + vel * self.psi[layer](speed)
        return {self.target_specs[0][0]: pos - pos0}

    def extra_repr(self) -> str:
        return (
            super().extra_repr() + f", hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"velocity={self.velocity!r}, charge={self.charge!r}, input_distance={self.input_distance}, "
            f"velocity_bias={self.velocity_bias}"
        )
