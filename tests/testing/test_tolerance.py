import pytest

from gdl.testing import EPS64, float64_atol


def test_bound_is_linear_in_each_ingredient():
    assert EPS64 == pytest.approx(2.220446049250313e-16)
    base = float64_atol()
    assert base == pytest.approx(16 * EPS64)
    assert float64_atol(2.0, cond=3.0, terms=5) == pytest.approx(30 * base)
    assert float64_atol(safety=1.0) == pytest.approx(EPS64)


@pytest.mark.parametrize("bad", [{"scale": 0.0}, {"cond": -1.0}, {"terms": 0}, {"safety": 0.0}])
def test_rejects_non_positive_ingredients(bad):
    with pytest.raises(ValueError, match="must be > 0"):
        float64_atol(**bad)
