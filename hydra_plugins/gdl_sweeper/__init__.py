"""gdl's Hydra sweeper plugin (``hydra/sweeper=resumable``, the default of ``gdl-train -m``).

Hydra loads plugins only from the ``hydra_plugins`` namespace package, so the class is declared
here; the logic is :mod:`gdl.cli.sweep`.
"""

from gdl.cli import sweep as _sweep


class ResumableSweeper(_sweep.ResumableSweeperBase):
    """Hydra's basic sweeper made resumable: see :class:`gdl.cli.sweep.ResumableSweeperBase`."""


__all__ = ["ResumableSweeper"]
