r"""OmegaConf resolvers that the ``gdl-train`` configs use, registered when :mod:`gdl.training` is
imported (``gdl-train``, :func:`gdl.training.compose` and every launcher's job process import it
before a config is resolved).

``${gdl.sqrt_rule_steps:n,batch_size,ref_epochs,ref_size}``
    The optimizer steps of the *epochs* ∝ 1/√n rule for learning curves: a run on ``n`` training
    examples trains

    .. math:: E(n) = \mathrm{round}\bigl(E_\mathrm{ref}\,\sqrt{n_\mathrm{ref} / n}\bigr)

    epochs of :math:`\lceil n / \mathrm{batch\_size} \rceil` steps, so the steps grow as
    :math:`\sqrt{n}`: a small training set is seen many more times than a large one (it overfits
    sooner, and early stopping ends it), but a large one still gets enough updates to converge.
    With ``ref_epochs=150, ref_size=3200`` and batch 100, n = 100 trains 849 steps and n = 3,200
    trains 4,800 (``conf/ablation/nbody_data_efficiency.yaml``). A rule fixed in the config keeps every
    run's budget visible in its saved ``.hydra/config.yaml`` and the sweep's configuration check.
"""

from __future__ import annotations

import math

from omegaconf import OmegaConf

__all__ = ["register_resolvers", "sqrt_rule_steps"]


def sqrt_rule_steps(n: int, batch_size: int, ref_epochs: float, ref_size: int) -> int:
    """Optimizer steps for ``n`` training examples under the epochs ∝ 1/√n rule (module docstring).

    Raises:
        ValueError: a non-positive size, batch size, reference size or reference epoch count.
    """
    args = {"n": n, "batch_size": batch_size, "ref_epochs": ref_epochs, "ref_size": ref_size}
    for name, value in args.items():
        if not value > 0:
            raise ValueError(f"gdl.sqrt_rule_steps: {name} must be positive, got {value!r}")
    epochs = max(1, round(float(ref_epochs) * math.sqrt(float(ref_size) / float(n))))
    return int(epochs * math.ceil(int(n) / int(batch_size)))


_RESOLVERS = {"gdl.sqrt_rule_steps": sqrt_rule_steps}


def register_resolvers() -> None:
    """Register gdl's resolvers with OmegaConf (idempotent)."""
    for name, fn in _RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
