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

from probes.base import ProbeError, Standardizer, check_features, check_labels, check_width, sigmoid, single_threaded
from probes.metrics import auroc


class CCSProbe:
    def __init__(self, n_restarts: int = 10, max_iter: int = 100, l2: float = 1e-3, seed: int = 0):
        if n_restarts < 1:
            raise ProbeError(f"n_restarts must be >= 1, got {n_restarts}")
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.l2 = l2
        self.seed = seed
        self.normalize: tuple[Standardizer, Standardizer] | None = None
        self.weight: np.ndarray | None = None
        self.bias = 0.0
        self.loss = float("nan")

    def _pairs(self, X: np.ndarray) -> np.ndarray:
        X = check_features(X, "contrast pairs", ndim=3)
        if X.shape[1] != 2:
            raise ProbeError(f"contrast pairs must have shape (n, 2, d), got {X.shape}")
        return X

    @single_threaded()
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "CCSProbe":
        """Fit on pairs ``X`` (n, 2, d); labels ``y``, if given, only orient the probe."""
        X = self._pairs(X)
        self.normalize = (Standardizer(X[:, 0]), Standardizer(X[:, 1]))
        pos = torch.from_numpy(self.normalize[0](X[:, 0]))
        neg = torch.from_numpy(self.normalize[1](X[:, 1]))
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
        self.loss = float(losses[best])
        self.weight = w.detach()[:, best].numpy().copy()
        self.bias = float(b.detach()[best])
        if y is not None:
            y = check_labels(y, len(X))
            if auroc(self.predict_proba(X), y) < 0.5:
                self.weight, self.bias = -self.weight, -self.bias  # p -> 1 - p for both halves
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Credence that the (non-negated) statement of each pair is true."""
        if self.normalize is None or self.weight is None:
            raise RuntimeError("CCSProbe.predict_proba called before fit")
        X = self._pairs(X)
        check_width(X, len(self.weight))
        p_pos = sigmoid(self.normalize[0](X[:, 0]) @ self.weight + self.bias)
        p_neg = sigmoid(self.normalize[1](X[:, 1]) @ self.weight + self.bias)
        return (p_pos + 1 - p_neg) / 2


def _ccs_loss(p_pos: torch.Tensor, p_neg: torch.Tensor) -> torch.Tensor:
    """The CCS loss per column (one per restart) of (n, restarts) credences."""
    consistency = (p_pos - (1 - p_neg)) ** 2
    confidence = torch.minimum(p_pos, p_neg) ** 2
    return consistency.mean(dim=0) + confidence.mean(dim=0)

