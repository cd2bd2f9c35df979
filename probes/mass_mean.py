"""Mass-mean probes: the difference of class means, and its covariance-corrected (LDA) form.

Both are closed forms. Probabilities come from the Gaussian model with a shared covariance:

- ``MassMeanProbe``: theta = mu_true - mu_false, read along theta only. With z = theta . (x - m)
  (m the midpoint of the class means) the class means of z sit at +-|theta|^2 / 2, so with
  s^2 the pooled within-class variance of z the log-odds are |theta|^2 z / s^2 + log(n1 / n0).
  This generalises better out of distribution (Marks & Tegmark, "Geometry of truth").
- ``MassMeanProbe(lda=True)``: the log-odds theta^T Sigma^-1 (x - m) + log(n1 / n0), Sigma the
  pooled within-class covariance with Ledoit-Wolf shrinkage, so it stays invertible when there
  are fewer statements than hidden dimensions: scikit-learn's ``LinearDiscriminantAnalysis``
  (``solver="lsqr", shrinkage="auto"``, which shrinks the standardised features' covariance
  towards the identity). Best in distribution.
"""

from __future__ import annotations

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from probes.base import LinearProbeEstimator, check_features, check_labels, single_threaded


class MassMeanProbe(LinearProbeEstimator):
    def __init__(self, lda: bool = False):
        self.lda = lda

    @single_threaded()
    def fit(self, X: np.ndarray, y: np.ndarray) -> MassMeanProbe:
        X = check_features(X)
        y = check_labels(y, len(X)).astype(bool)
        if self.lda:
            model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X, y)
            self.coef_, self.intercept_ = model.coef_[0], float(model.intercept_[0])
        else:
            mu_true, mu_false = X[y].mean(axis=0), X[~y].mean(axis=0)
            theta = mu_true - mu_false
            # rows centred on their class mean, in one array (not three as np.where would take)
            within = np.subtract(X, mu_false)
            np.subtract(X, mu_true, out=within, where=y[:, None])
            spread = float(np.mean((within @ theta) ** 2))
            self.coef_ = theta * (float(theta @ theta) / spread) if spread > 0 else theta
            midpoint = (mu_true + mu_false) / 2
            self.intercept_ = float(np.log(y.mean() / (1 - y.mean())) - midpoint @ self.coef_)
        self._fitted_on(X)
        return self
