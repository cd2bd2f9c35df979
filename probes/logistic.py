"""L2-regularised logistic regression on standardised features (scikit-learn's, with LBFGS)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from probes.base import LinearProbeEstimator, ProbeError, check_features, check_labels, single_threaded


class LogisticProbe(LinearProbeEstimator):
    """P(true | x) = sigmoid(w . z + b) with z = x standardised by training statistics.

    The loss is the mean cross-entropy plus ``l2 / 2 * |w|^2`` (the bias is not penalised),
    which is scikit-learn's ``C * sum of cross-entropies + |w|^2 / 2`` with C = 1 / (l2 n). It
    is convex, so the fit is deterministic, with no seed. The fitted standardisation is folded
    into ``coef_`` and ``intercept_``, which act on raw features.
    """

    def __init__(self, l2: float = 1e-2, max_iter: int = 1000):
        self.l2 = l2
        self.max_iter = max_iter

    def check_params(self) -> None:
        if not self.l2 >= 0:
            raise ProbeError(f"l2 must be >= 0, got {self.l2}")

    @single_threaded()
    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticProbe:
        self.check_params()
        X = check_features(X)
        y = check_labels(y, len(X))
        scaler = StandardScaler().fit(X)
        C = 1.0 / (self.l2 * len(X)) if self.l2 > 0 else np.inf
        model = LogisticRegression(C=C, max_iter=self.max_iter, tol=1e-6).fit(scaler.transform(X), y)
        # (x - m) / s . w + b  =  x . (w / s) + (b - m . (w / s))
        self.coef_ = model.coef_[0] / scaler.scale_
        self.intercept_ = float(model.intercept_[0] - scaler.mean_ @ self.coef_)
        self._fitted_on(X)
        return self
