import numpy as np
import pytest

from gdl.baselines.regression import LeastSquares, RidgeCV, bootstrap_r2, r2_score


def _data(n=200, d=6, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + rng.normal(size=d)
    W = rng.normal(size=(d, 2))
    Y = X @ W + [1.0, -2.0] + noise * rng.normal(size=(n, 2))
    return X, Y


def test_least_squares_recovers_a_linear_map():
    X, Y = _data()
    m = LeastSquares().fit(X, Y)
    np.testing.assert_allclose(m.predict(X), Y, atol=1e-9)
    assert m.num_parameters == 14
    np.testing.assert_allclose(r2_score(Y, m.predict(X)), [1.0, 1.0])


def test_ridge_shrinks_and_constant_features_are_ignored():
    X, Y = _data(noise=0.5)
    X = np.hstack([X, np.ones((len(X), 1))])
    w0 = LeastSquares().fit(X, Y).coef_
    w1 = LeastSquares(alpha=100.0).fit(X, Y).coef_
    assert np.linalg.norm(w1) < np.linalg.norm(w0)
    assert (w0[-1] == 0).all()


def test_ridge_cv_prefers_little_penalty_on_clean_data_and_more_on_noise():
    X, Y = _data(n=60, d=30, noise=0.01)
    assert RidgeCV().fit(X, Y).alpha <= 0.01
    rng = np.random.default_rng(1)
    Xn, Yn = rng.normal(size=(40, 30)), rng.normal(size=(40, 1))  # pure noise
    assert RidgeCV().fit(Xn, Yn).alpha >= 10.0
    assert "alpha=" in repr(RidgeCV())


def test_r2_score_definitions():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0
    assert r2_score(y, -y) < 0
    v = np.random.default_rng(0).normal(size=(100, 3))
    pooled = r2_score(v, 0.5 * v, pooled=True)
    assert pooled == pytest.approx(1 - 0.25 * (v**2).sum() / ((v - v.mean(0)) ** 2).sum())
    mean, std = bootstrap_r2(y, y + 0.1, num=50)
    assert 0.9 < mean <= 1.0 and std >= 0
    mean2, std2 = bootstrap_r2(np.c_[y, 2 * y], np.c_[y, 2 * y], num=20)
    assert mean2.shape == (2,) and (mean2 == 1).all()


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        LeastSquares(alpha=-1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        LeastSquares().predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        LeastSquares().fit(np.array([[np.nan], [1.0]]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="rows"):
        LeastSquares().fit(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="features"):
        LeastSquares().fit(np.random.rand(5, 2), np.random.rand(5)).predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="shape"):
        r2_score(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="folds"):
        RidgeCV(folds=1)
