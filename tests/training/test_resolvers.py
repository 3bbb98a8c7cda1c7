"""gdl's OmegaConf resolvers (gdl.training.resolvers)."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from gdl.training.resolvers import register_resolvers, sqrt_rule_steps


def test_sqrt_rule_steps_follows_epochs_proportional_to_one_over_sqrt_n():
    # the reference size trains ref_epochs epochs of ceil(n / batch) steps
    assert sqrt_rule_steps(3200, 100, 150, 3200) == 150 * 32
    # a quarter of the data: twice the epochs, a quarter of the steps per epoch -> half the steps
    assert sqrt_rule_steps(800, 100, 150, 3200) == 300 * 8
    # n = 100: round(150 * sqrt(32)) = 849 one-step epochs
    assert sqrt_rule_steps(100, 100, 150, 3200) == round(150 * math.sqrt(32)) == 849
    # a partial last batch is a step: 150 examples at batch 100 are 2 steps per epoch
    assert sqrt_rule_steps(150, 100, 10, 150) == 20
    # steps grow as sqrt(n) across the preset's sizes
    steps = [sqrt_rule_steps(n, 100, 150, 3200) for n in (100, 200, 400, 800, 1600, 3200)]
    assert steps == [849, 1200, 1696, 2400, 3392, 4800]


@pytest.mark.parametrize("bad", [dict(n=0), dict(batch_size=0), dict(ref_epochs=-1), dict(ref_size=0)])
def test_sqrt_rule_steps_refuses_non_positive_arguments(bad):
    args = dict(n=100, batch_size=100, ref_epochs=150, ref_size=3200) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        sqrt_rule_steps(**args)


def test_the_resolver_is_registered_and_registering_twice_is_harmless():
    register_resolvers()
    register_resolvers()
    cfg = OmegaConf.create({"n": 400, "b": 100, "steps": "${gdl.sqrt_rule_steps:${n},${b},150,3200}"})
    assert cfg.steps == 1696
