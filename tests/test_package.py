import subprocess
import sys

import gdl


def test_version():
    assert isinstance(gdl.__version__, str) and gdl.__version__.count(".") == 2


def test_import_is_light():
    # importing gdl alone must not pull in heavy optional machinery (Hydra, Lightning)
    code = (
        "import sys, gdl, gdl.groups, gdl.testing; print('hydra' in sys.modules, 'lightning' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_console_scripts_exist():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="console_scripts")}
    assert {"gdl-train", "gdl-ablate"} <= names
