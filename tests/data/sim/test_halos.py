import sys

import numpy as np
import pytest

from gdl.data.sim.cosmology import Cosmology
from gdl.data.sim.galaxy_mocks import make_generator


def test_abundance_matched_bias_behaves_like_haloes():
    """5000 haloes in (1 Gpc/h)³: b·σ8 within 2.6–3.6 across the prior corners (Quijote's most
    massive haloes: 2.7–3.4), and P ∝ b²σ8² changes by ~1.26 (not 2.8) from σ8 = 0.6 to 1.0."""
    pytest.importorskip("colossus")
    from gdl.data.sim.halos import abundance_matched_bias

    nbar = 5000 / 1000.0**3
    bs8 = {}
    for om in (0.1, 0.3, 0.5):
        for s8 in (0.6, 1.0):
            am = abundance_matched_bias(Cosmology(om, s8), nbar)
            bs8[om, s8] = am.bias * s8
            assert 1e13 < am.min_mass < 1e15
    assert all(2.6 < v < 3.6 for v in bs8.values()), bs8
    ratio = (bs8[0.3, 1.0] / bs8[0.3, 0.6]) ** 2
    assert 1.15 < ratio < 1.4, ratio
    # rarer tracers are more biased
    assert (
        abundance_matched_bias(Cosmology(0.3, 0.8), nbar / 10).bias
        > abundance_matched_bias(Cosmology(0.3, 0.8), nbar).bias
    )


def test_default_clouds_report_the_abundance_matched_bias():
    pytest.importorskip("colossus")
    from gdl.data.sim.halos import abundance_matched_bias

    g = make_generator(dict(num_points=200, grid=16, box_size=400.0), seed=0)
    p, _ = g.draw(0)
    expected = abundance_matched_bias(p.cosmology, 200 / 400.0**3).bias
    assert p.bias == pytest.approx(expected, rel=1e-12)
    assert g.config.bias == "halo"


def test_number_density_out_of_range():
    pytest.importorskip("colossus")
    from gdl.data.sim.halos import abundance_matched_bias

    with pytest.raises(ValueError, match="outside the abundance"):
        abundance_matched_bias(Cosmology(0.3, 0.8), 10.0)


def test_missing_colossus_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "colossus", None)
    g = make_generator(dict(num_points=200, grid=16, box_size=400.0), seed=0)
    with pytest.raises(ImportError, match="galaxy"):
        g.draw(0)
    assert np.isfinite(make_generator(dict(num_points=200, grid=16, bias=2.0))(0).pos).all()
