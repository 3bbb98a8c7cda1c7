r"""Linear least squares / ridge regression on standardised features, and the R² metric with a
bootstrap error (numpy only).

:class:`LeastSquares` standardises every feature with the training mean and standard deviation,
centres the targets, and solves

.. math::
    \hat W = \arg\min_W \lVert Y_c - X_s W\rVert^2 + \alpha \lVert W\rVert^2

(``alpha = 0``: ordinary least squares via ``numpy.linalg.lstsq``). :class:`RidgeCV` picks
``alpha`` by k-fold cross-validation on the training set only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["LeastSquares", "RidgeCV", "bootstrap_r2", "r2_score"]


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be [n] or [n, d], got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


class LeastSquares:
    """Ridge regression on standardised features (module docstring).

    Args:
        alpha: ridge penalty on the standardised weights, >= 0. Default ``0.0``.
    """

    def __init__(self, alpha: float = 0.0):
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)
        self.mean_: np.ndarray | None = None

    def fit(self, X: np.ndarray, Y: np.ndarray) -> LeastSquares:
        X, Y = _as_2d(X, "X"), _as_2d(Y, "Y")
        if len(X) != len(Y):
            raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}")
        if len(X) < 2:
            raise ValueError("least squares needs at least 2 samples")
        self.mean_ = X.mean(0)
        std = X.std(0)
        self.scale_ = np.where(std > 0, std, 1.0)  # constant features get weight 0 below
        Xs = (X - self.mean_) / self.scale_
        self.y_mean_ = Y.mean(0)
        Yc = Y - self.y_mean_
        if self.alpha == 0:
            self.coef_ = np.linalg.lstsq(Xs, Yc, rcond=None)[0]
        else:
            d = Xs.shape[1]
            self.coef_ = np.linalg.solve(Xs.T @ Xs + self.alpha * np.eye(d), Xs.T @ Yc)
        self.coef_[std == 0] = 0.0
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        X = _as_2d(X, "X")
        if X.shape[1] != len(self.mean_):
            raise ValueError(f"X has {X.shape[1]} features, the fit had {len(self.mean_)}")
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.y_mean_

    @property
    def num_parameters(self) -> int:
        """Fitted weights plus intercepts."""
        return 0 if self.mean_ is None else int(self.coef_.size + self.y_mean_.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"


class RidgeCV(LeastSquares):
    """:class:`LeastSquares` whose ``alpha`` is chosen among ``alphas`` by ``folds``-fold
    cross-validated mean squared error of the standardised targets (training data only).

    Args:
        alphas: candidate penalties. Default ``(0, 1e-3, 1e-2, 1e-1, 1, 10, 100)``.
        folds: number of folds. Default ``5``.
        seed: seed of the fold assignment. Default ``0``.
    """

    def __init__(
        self,
        alphas: Sequence[float] = (0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
        folds: int = 5,
        seed: int = 0,
    ):
        super().__init__(0.0)
        if not alphas or min(alphas) < 0:
            raise ValueError(f"alphas must be a non-empty list of penalties >= 0, got {alphas}")
        if folds < 2:
            raise ValueError(f"folds must be >= 2, got {folds}")
        self.alphas = tuple(float(a) for a in alphas)
        self.folds, self.seed = int(folds), int(seed)

    def fit(self, X: np.ndarray, Y: np.ndarray) -> RidgeCV:
        X, Y = _as_2d(X, "X"), _as_2d(Y, "Y")
        if len(X) < self.folds:
            raise ValueError(
                f"{self.folds}-fold cross-validation needs at least {self.folds} samples, got {len(X)}"
            )
        fold = np.random.default_rng(self.seed).permutation(len(X)) % self.folds
        scale = Y.std(0)
        scale = np.where(scale > 0, scale, 1.0)
        errors = []
        for a in self.alphas:
            err = 0.0
            for k in range(self.folds):
                tr, te = fold != k, fold == k
                pred = LeastSquares(a).fit(X[tr], Y[tr]).predict(X[te])
                err += float((((pred - Y[te]) / scale) ** 2).sum())
            errors.append(err)
        self.alpha = self.alphas[int(np.argmin(errors))]
        self.cv_errors_ = dict(zip(self.alphas, np.asarray(errors) / len(X)))
        return super().fit(X, Y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alphas={self.alphas}, folds={self.folds}, alpha={self.alpha})"


def r2_score(y_true: np.ndarray, y_pred: np.ndarray, pooled: bool = False) -> np.ndarray | float:
    """Coefficient of determination :math:`1 - \\sum (y - \\hat y)^2 / \\sum (y - \\bar y)^2` per
    column (``[n]`` inputs give a float), or pooled over all columns (``pooled=True``: one number
    for vectors such as velocities, :math:`\\bar y` the mean vector)."""
    yt, yp = _as_2d(y_true, "y_true"), _as_2d(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and y_pred {yp.shape} differ in shape")
    res = ((yt - yp) ** 2).sum(0)
    tot = ((yt - yt.mean(0)) ** 2).sum(0)
    if pooled:
        return float(1.0 - res.sum() / tot.sum())
    r2 = 1.0 - res / np.where(tot > 0, tot, np.nan)
    return float(r2[0]) if np.ndim(y_true) == 1 else r2


def bootstrap_r2(
    y_true: np.ndarray, y_pred: np.ndarray, num: int = 1000, seed: int = 0, pooled: bool = False
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Mean and standard deviation of :func:`r2_score` over ``num`` resamplings (with
    replacement) of the rows."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    draws = [r2_score(yt[i], yp[i], pooled) for i in (rng.integers(0, len(yt), len(yt)) for _ in range(num))]
    draws = np.asarray(draws)
    return (draws.mean(0), draws.std(0)) if draws.ndim > 1 else (float(draws.mean()), float(draws.std()))
