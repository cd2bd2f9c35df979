"""L2-regularised logistic regression on standardised features, fitted with full-batch LBFGS."""

from __future__ import annotations

import numpy as np
import torch

from probes.base import ProbeError, Standardizer, check_features, check_labels, check_width, sigmoid, single_threaded


class LogisticProbe:
    """P(true | x) = sigmoid(w . z + b) with z = x standardised by training statistics.

    The loss is the mean cross-entropy plus ``l2 / 2 * |w|^2`` (the bias is not penalised).
    It is convex, so LBFGS from zero reaches the same optimum on every run: the fit is
    deterministic, with no seed.
    """

    def __init__(self, l2: float = 1e-2, max_iter: int = 200):
        if l2 < 0:
            raise ProbeError(f"l2 must be >= 0, got {l2}")
        self.l2 = l2
        self.max_iter = max_iter
        self.standardize: Standardizer | None = None
        self.weight: np.ndarray | None = None
        self.bias = 0.0

    @single_threaded()
    def fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticProbe":
        X = check_features(X)
        y = check_labels(y, len(X))
        self.standardize = Standardizer(X)
        Z = torch.from_numpy(self.standardize(X))
        t = torch.from_numpy(y)
        w = torch.zeros(Z.shape[1], dtype=torch.float64, requires_grad=True)
        # start the bias at the training log-odds, so the first LBFGS step only has to find w
        prior = float(np.log(y.mean() / (1 - y.mean())))
        b = torch.tensor(prior, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-7, tolerance_change=1e-10,
            history_size=20, line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logits = Z @ w + b
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, t) + 0.5 * self.l2 * (w @ w)
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight = w.detach().numpy().copy()
        self.bias = float(b.detach())
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row is true."""
        if self.standardize is None or self.weight is None:
            raise RuntimeError("LogisticProbe.predict_proba called before fit")
        X = check_features(X)
        check_width(X, len(self.weight))
        return self.standardize(X) @ self.weight + self.bias

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(self.decision_function(X))

    @property
    def direction(self) -> np.ndarray:
        """The truth direction in the original (unstandardised) feature space, unit length."""
        if self.standardize is None or self.weight is None:
            raise RuntimeError("LogisticProbe.direction read before fit")
        raw = self.weight / self.standardize.scale
        return raw / (np.linalg.norm(raw) or 1.0)
