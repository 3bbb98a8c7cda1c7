"""The shared machinery: Lightning stays out of ``import gdl.data``; targets are checked first."""

import pytest

from gdl.data.datamodules import GalaxyDataModule, NBodyDataModule, QM9DataModule


def test_import_gdl_data_does_not_import_lightning():
    import subprocess
    import sys

    code = "import sys, gdl.data; sys.exit(int('lightning' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_targets_are_checked_before_any_data_is_read(tmp_path):
    missing = tmp_path / "nothing-here"
    with pytest.raises(ValueError, match=r"qm9 has no target 'velocity'; valid targets: mu \(graph 1x0e\)"):
        QM9DataModule(["velocity:node:1o"], root=missing)
    with pytest.raises(ValueError, match="target 'homo' is graph 1x0e, but it was declared as graph 1x1o"):
        QM9DataModule(["homo:graph:1o"], root=missing)
    with pytest.raises(ValueError, match="nbody has no target 'homo'; valid targets: displacement"):
        NBodyDataModule(["homo"], root=missing)
    with pytest.raises(ValueError, match="galaxy has no target 'homo'"):
        GalaxyDataModule(["homo"], root=missing)
    with pytest.raises(ValueError, match="batch_size"):
        QM9DataModule(["homo"], root=missing, batch_size=0)
    assert not missing.exists()
