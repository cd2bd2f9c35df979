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

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticProbe":
        (fitted,) = self.fit_subsets(X, y, np.ones((1, len(X)), dtype=bool))
        self.standardize, self.weight, self.bias = fitted.standardize, fitted.weight, fitted.bias
        return self

    @single_threaded()
    def fit_subsets(self, X: np.ndarray, y: np.ndarray, masks: np.ndarray) -> list["LogisticProbe"]:
        """One probe per row subset of ``X`` (``masks``: one boolean row mask per probe), all
        fitted in a single LBFGS run, e.g. the folds of a cross-fit.

        The subsets' losses are summed and share no parameters, so the joint optimum is every
        subset's own optimum; one run pays LBFGS's per-iteration overhead once. Each probe keeps
        its own subset's standardisation, folded into its weights (x . (w / s) - m . (w / s)),
        so no standardised copy of ``X`` per subset is ever made.
        """
        X = check_features(X)
        y = check_labels(y, len(X))
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        if masks.shape[1] != len(X):
            raise ProbeError(f"row masks must have {len(X)} columns, got {masks.shape[1]}")
        for mask in masks:
            check_labels(y[mask], int(mask.sum()))
        scalers = [Standardizer(X[mask]) for mask in masks]
        mean = torch.from_numpy(np.stack([s.mean for s in scalers]))  # (probes, d)
        scale = torch.from_numpy(np.stack([s.scale for s in scalers]))
        rows = torch.from_numpy(X)
        targets = torch.from_numpy(y)[:, None].expand(len(X), len(masks))
        share = torch.from_numpy((masks / masks.sum(axis=1, keepdims=True)).T)  # (n, probes): mean over each subset
        w = torch.zeros(len(masks), X.shape[1], dtype=torch.float64, requires_grad=True)
        # start each bias at its subset's log-odds, so LBFGS's first steps only have to find w
        rate = np.array([y[mask].mean() for mask in masks])
        b = torch.from_numpy(np.log(rate / (1 - rate))).requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-7, tolerance_change=1e-10,
            history_size=20, line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            u = w / scale
            logits = rows @ u.T - (mean * u).sum(dim=1) + b
            ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
            loss = (ce * share).sum() + 0.5 * self.l2 * (w**2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        probes = []
        for k, scaler in enumerate(scalers):
            probe = LogisticProbe(self.l2, self.max_iter)
            probe.standardize, probe.weight, probe.bias = scaler, w.detach()[k].numpy().copy(), float(b.detach()[k])
            probes.append(probe)
        return probes

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row is true."""
        if self.standardize is None or self.weight is None:
            raise RuntimeError("LogisticProbe.predict_proba called before fit")
        X = check_features(X)
        check_width(X, len(self.weight))
        # (x - m) / s . w + b, without materialising the standardised rows
        u = self.weight / self.standardize.scale
        return X @ u + (self.bias - self.standardize.mean @ u)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(self.decision_function(X))

    @property
    def direction(self) -> np.ndarray:
        """The truth direction in the original (unstandardised) feature space, unit length."""
        if self.standardize is None or self.weight is None:
            raise RuntimeError("LogisticProbe.direction read before fit")
        raw = self.weight / self.standardize.scale
        return raw / (np.linalg.norm(raw) or 1.0)
