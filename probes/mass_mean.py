"""Mass-mean probes: the difference of class means, and its covariance-corrected (LDA) form.

Both are closed forms. Probabilities come from the Gaussian model with a shared covariance:

- ``MassMeanProbe``: theta = mu_true - mu_false, read along theta only. With z = theta . (x - m)
  (m the midpoint of the class means) the class means of z sit at +-|theta|^2 / 2, so with
  s^2 the pooled within-class variance of z the log-odds are |theta|^2 z / s^2 + log(n1 / n0).
  This generalises better out of distribution (Marks & Tegmark, "Geometry of truth").
- ``MassMeanProbe(lda=True)``: the log-odds theta^T Sigma^-1 (x - m) + log(n1 / n0), Sigma the
  pooled within-class covariance, shrunk towards a scaled identity by the Ledoit-Wolf amount so it
  stays invertible when there are fewer statements than hidden dimensions. Best in distribution.
"""

from __future__ import annotations

import numpy as np

from probes.base import check_features, check_labels, check_width, sigmoid


def ledoit_wolf_solve(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sigma^-1 v for the Ledoit-Wolf shrunk covariance of already-centred rows ``X`` (n, d).

    Sigma = (1 - s) X^T X / n + s mu I. Only n x n or d x d products are formed, whichever is
    smaller: with a few hundred statements and thousands of hidden dimensions the Woodbury
    identity turns a d x d solve into an n x n one.
    """
    n, d = X.shape
    gram = X @ X.T if n < d else X.T @ X  # same nonzero spectrum either way
    trace = float(np.trace(gram)) / n
    mu = trace / d
    frob2 = float(np.sum(gram**2)) / n**2  # ||S||_F^2 with S = X^T X / n
    # ||S - mu I||_F^2 / d: how far the sample covariance is from the shrinkage target
    delta = (frob2 - 2 * mu * trace + d * mu**2) / d
    # the estimated variance of the entries of S, divided by d (sum of X2^T X2 = |X2 @ 1|^2)
    beta = (float(np.sum(np.sum(X**2, axis=1) ** 2)) / n - frob2) / (d * n)
    shrinkage = 0.0 if delta <= 0 else min(beta, delta) / delta
    scale, ridge = (1 - shrinkage) / n, shrinkage * mu
    if ridge <= 0:  # no shrinkage needed (or a degenerate zero covariance): plain least squares
        return np.linalg.lstsq(scale * X.T @ X, v, rcond=None)[0]
    if n < d:
        inner = gram + (ridge / scale) * np.eye(n)
        return (v - X.T @ np.linalg.solve(inner, X @ v)) / ridge
    return np.linalg.solve(scale * gram + ridge * np.eye(d), v)


class MassMeanProbe:
    def __init__(self, lda: bool = False):
        self.lda = lda
        self.weight: np.ndarray | None = None
        self.midpoint: np.ndarray | None = None
        self.bias = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MassMeanProbe":
        X = check_features(X)
        y = check_labels(y, len(X)).astype(bool)
        mu_true, mu_false = X[y].mean(axis=0), X[~y].mean(axis=0)
        theta = mu_true - mu_false
        self.midpoint = (mu_true + mu_false) / 2
        within = np.where(y[:, None], X - mu_true, X - mu_false)  # rows centred on their class mean
        if self.lda:
            self.weight = ledoit_wolf_solve(within, theta)
        else:
            spread = float(np.mean((within @ theta) ** 2))
            norm2 = float(theta @ theta)
            self.weight = theta * (norm2 / spread) if spread > 0 else theta
        self.bias = float(np.log(y.mean() / (1 - y.mean())))
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row is true."""
        if self.weight is None or self.midpoint is None:
            raise RuntimeError("MassMeanProbe.predict_proba called before fit")
        X = check_features(X)
        check_width(X, len(self.weight))
        return (X - self.midpoint) @ self.weight + self.bias

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(self.decision_function(X))

    @property
    def direction(self) -> np.ndarray:
        if self.weight is None:
            raise RuntimeError("MassMeanProbe.direction read before fit")
        return self.weight / (np.linalg.norm(self.weight) or 1.0)
