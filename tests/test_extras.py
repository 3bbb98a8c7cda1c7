"""The core install serves the library; a missing extra stops with a message naming it."""

import subprocess
import sys

import pytest

from gdl._extras import EXTRAS, MissingExtraError, missing_extra, require

#: what the extras bring, hidden from a subprocess as if not installed
EXTRA_MODULES = ("lightning", "hydra", "omegaconf", "matplotlib", "pandas", "qm9pack", "h5py", "yaml")


def _run_without(modules, code: str) -> subprocess.CompletedProcess:
    hide = "".join(f"sys.modules[{m!r}] = None\n" for m in modules)  # import then fails as if absent
    return subprocess.run(
        [sys.executable, "-c", f"import sys\n{hide}{code}"], capture_output=True, text=True, timeout=300
    )


def test_require_names_the_extra():
    with pytest.raises(
        MissingExtraError, match=r"gdl-train needs 'no_such_pkg'.*`train` extra.*gdl\[train\]"
    ):
        require("train", "gdl-train", ("no_such_pkg",))
    require("dev", "the tests")  # installed here
    with pytest.raises(ValueError, match="unknown extra 'trian'"):
        require("trian", "x")
    assert isinstance(missing_extra("qm9", "QM9", ("qm9pack",)), ImportError)
    assert set(EXTRAS) >= {"train", "analysis", "qm9", "galaxy", "slurm", "peers", "dev"}


def test_core_packages_import_without_any_extra():
    code = (
        "import gdl.nn, gdl.models, gdl.symmetry, gdl.groups, gdl.testing, gdl.data, gdl.baselines\n"
        "from gdl.nn import EGNNConv, TFNConv\n"
        "from gdl.data import NBodyCharged\n"
        f"assert not any(sys.modules.get(m) for m in {EXTRA_MODULES!r})\n"
        "print('ok')"
    )
    out = _run_without(EXTRA_MODULES, code)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize(
    "hidden,code,extra",
    [
        (("lightning",), "import gdl.training", "train"),
        (("lightning",), "import gdl.data.datamodules", "train"),
        (("hydra",), "from gdl.cli.train import main; sys.argv = ['gdl-train']; main()", "train"),
        (("matplotlib",), "import gdl.analysis", "analysis"),
        (("qm9pack",), "from gdl.data.datasets._qm9_raw import qm9pack_data_dir; qm9pack_data_dir()", "qm9"),
    ],
)
def test_a_missing_extra_stops_with_a_message_naming_it(hidden, code, extra):
    out = _run_without(hidden, code)
    assert out.returncode != 0
    assert "MissingExtraError" in out.stderr and f"`{extra}` extra" in out.stderr, out.stderr[-2000:]
