"""Every conf/symmetry/*.yaml instantiates (as Hydra does: ``instantiate(cfg.symmetry)(model)``)
around a GroupConvNet, which every strategy supports, and lists only constructor parameters, each
with a default in the class equal to the value in the file."""

import inspect
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from gdl.symmetry import SymmetryStrategy

from ._models import make_model

CONF = Path(__file__).resolve().parents[2] / "conf" / "symmetry"
FILES = sorted(CONF.glob("*.yaml"))


def test_every_strategy_has_a_config():
    names = {p.stem for p in FILES}
    assert {"augment", "frame_average", "rpp", "relaxed", "partial", "learned"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_config_instantiates_with_the_class_defaults(path):
    cfg = OmegaConf.load(path)
    cls = get_class(cfg._target_)
    assert cfg._partial_ is True and issubclass(cls, SymmetryStrategy)
    assert cls.name == path.stem  # the file name is the strategy's name
    params = inspect.signature(cls.__init__).parameters
    for key, value in OmegaConf.to_container(cfg, resolve=True).items():
        if key.startswith("_"):
            continue
        assert key in params, f"{path.name}: {key!r} is not a parameter of {cls.__name__}"
        assert params[key].default is not inspect.Parameter.empty, f"{cls.__name__}.{key} has no default"
        default = params[key].default
        assert default == value, f"{path.name}: {key}={value!r}, class default {default!r}"
    model = make_model("GroupConvNet")
    strategy = instantiate(cfg)(model)
    assert isinstance(strategy, cls) and strategy.targets == model.targets
    assert strategy.symmetry_report()["strategy"] == cls.name
