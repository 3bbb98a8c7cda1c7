"""Target selection."""

import pytest
import torch
from torch_geometric.data import Batch

from gdl.data import SelectTargets
from gdl.keys import QM9_TARGETS

from ._clouds import cloud


# --- target selection -------------------------------------------------------------------------------
def test_select_targets():
    b = Batch.from_data_list([cloud(3, 1), cloud(4, 2)])
    out = SelectTargets(["homo", "U0_atom", "quadrupole"])(b)
    assert torch.equal(out.homo, b.y[:, 2:3]) and out.homo.shape == (2, 1)
    assert torch.equal(out.U0_atom, b.y[:, QM9_TARGETS.index("U0_atom") : QM9_TARGETS.index("U0_atom") + 1])
    assert torch.equal(out.quadrupole, b.quadrupole)
    with pytest.raises(KeyError, match="neither a field"):
        SelectTargets("dipole_vec")(b)
    with pytest.raises(ValueError, match="at least one"):
        SelectTargets([])
    assert repr(SelectTargets("gap")) == "SelectTargets(['gap'])"
