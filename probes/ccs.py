"""Contrast-consistent search (Burns et al. 2022): an unsupervised probe on contrast pairs.

Each row is a pair (x+, x-): the hidden state for a statement and for its negation. Each half
is normalised with its own training mean and scale, which removes what only says "this is the
negated form"; then p+- = sigmoid(w . x+- + b) is fitted to be consistent and confident:

    loss = mean[(p+ - (1 - p-))^2] + mean[min(p+, p-)^2]

The credence is (p+ + 1 - p-) / 2. The loss cannot tell "true" from "false" (w -> -w leaves it
unchanged), so the labels, when given, only fix the sign on the trusted split; they never enter
the loss.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from probes.base import ProbeError, ProbeEstimator, check_features, check_labels, check_width, single_threaded
from probes.metrics import auroc


class CCSProbe(ProbeEstimator):
    def __init__(self, n_restarts: int = 10, max_iter: int = 100, l2: float = 1e-3, seed: int = 0):
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.l2 = l2
        self.seed = seed

    def check_params(self) -> None:
        if self.n_restarts < 1:
            raise ProbeError(f"n_restarts must be >= 1, got {self.n_restarts}")

    @staticmethod
    def _pairs(X: np.ndarray) -> np.ndarray:
        X = check_features(X, "contrast pairs", ndim=3)
        if X.shape[1] != 2:
            raise ProbeError(f"contrast pairs must have shape (n, 2, d), got {X.shape}")
        return X

    @single_threaded()
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> CCSProbe:
        """Fit on pairs ``X`` (n, 2, d); labels ``y``, if given, only orient the probe."""
        self.check_params()
        X = self._pairs(X)
        self.scalers_ = (StandardScaler().fit(X[:, 0]), StandardScaler().fit(X[:, 1]))
        pos = torch.from_numpy(self.scalers_[0].transform(X[:, 0]))
        neg = torch.from_numpy(self.scalers_[1].transform(X[:, 1]))
        generator = torch.Generator().manual_seed(self.seed)
        # The loss is not convex, so several random starts are trained and the lowest
        # (unsupervised) loss wins. They are trained side by side as the columns of one weight
        # matrix: the summed loss separates per column, so its stationary points are exactly the
        # restarts' own, and one LBFGS run over all columns replaces ``n_restarts`` runs.
        init = torch.randn(pos.shape[1], self.n_restarts, generator=generator, dtype=torch.float64)
        w = (init / init.norm(dim=0)).requires_grad_(True)
        b = torch.zeros(self.n_restarts, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-7, tolerance_change=1e-12,
            history_size=20, line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            losses = _ccs_loss(torch.sigmoid(pos @ w + b), torch.sigmoid(neg @ w + b))
            total = losses.sum() + self.l2 * (w**2).sum()
            total.backward()
            return total

        optimizer.step(closure)
        with torch.no_grad():
            losses = _ccs_loss(torch.sigmoid(pos @ w + b), torch.sigmoid(neg @ w + b))
        best = int(torch.argmin(losses))
        self.loss_ = float(losses[best])
        self.coef_ = w.detach()[:, best].numpy().copy()
        self.intercept_ = float(b.detach()[best])
        self._fitted_on(X)
        if y is not None:
            y = check_labels(y, len(X))
            if auroc(self.p_true(X), y) < 0.5:
                self.coef_, self.intercept_ = -self.coef_, -self.intercept_  # p -> 1 - p for both halves
        return self

    def p_true(self, X: np.ndarray) -> np.ndarray:
        """Credence that the (non-negated) statement of each pair is true."""
        check_is_fitted(self)
        X = self._pairs(X)
        check_width(X, self.n_features_in_)
        p_pos = expit(self.scalers_[0].transform(X[:, 0]) @ self.coef_ + self.intercept_)
        p_neg = expit(self.scalers_[1].transform(X[:, 1]) @ self.coef_ + self.intercept_)
        return (p_pos + 1 - p_neg) / 2


def _ccs_loss(p_pos: torch.Tensor, p_neg: torch.Tensor) -> torch.Tensor:
    """The CCS loss per column (one per restart) of (n, restarts) credences."""
    consistency = (p_pos - (1 - p_neg)) ** 2
    confidence = torch.minimum(p_pos, p_neg) ** 2
    return consistency.mean(dim=0) + confidence.mean(dim=0)
