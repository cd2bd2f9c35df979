"""The estimator protocol shared by every probe, and the input checks they all use.

A probe is fitted on a feature matrix (one row per statement, read from the model's hidden
states) with truth labels, and returns P(true) for new rows. Features are standardised with
training statistics only: normalising test rows with their own statistics would leak the
audited claims' distribution into the probe.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol, runtime_checkable

import numpy as np
import torch

from consistency.errors import UserError


class ProbeError(UserError, ValueError):
    """Unusable probe input or option (one line; the CLI shows it as an ``error:`` line)."""


@runtime_checkable
class Probe(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> "Probe": ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(true) per row, shape (n,)."""
        ...


def check_features(X: np.ndarray, what: str = "features", ndim: int = 2) -> np.ndarray:
    """``X`` as a finite float64 array of the expected rank, or a one-line :class:`ProbeError`."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != ndim:
        raise ProbeError(f"{what} must have {ndim} dimensions, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ProbeError(f"{what} has no rows")
    if not np.isfinite(X).all():
        raise ProbeError(f"{what} contains NaN or infinite values")
    return X


def check_width(X: np.ndarray, fitted: int) -> None:
    """Rows to predict must have the width the probe was fitted on."""
    if X.shape[-1] != fitted:
        raise ProbeError(f"the probe was fitted on {fitted} features, got {X.shape[-1]}")


def check_labels(y: np.ndarray, n: int) -> np.ndarray:
    """Binary labels as a float64 vector of length ``n`` with both classes present."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ProbeError(f"labels must have shape ({n},), got {y.shape}")
    y = y.astype(np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ProbeError("labels must be 0/1 (false/true)")
    if y.min() == y.max():
        raise ProbeError(f"labels have one class only ({int(y[0])}); a probe needs true and false examples")
    return y


class Standardizer:
    """Per-feature mean and scale from the training rows, applied unchanged to any later rows."""

    def __init__(self, X: np.ndarray):
        self.mean = X.mean(axis=0)
        scale = X.std(axis=0)
        # constant features (e.g. a dead unit) are centred but not scaled, to avoid 0/0
        self.scale = np.where(scale > 1e-8 * max(1.0, float(scale.max(initial=0.0))), scale, 1.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one thread inside the block, restoring the previous setting after.

    Probe fits are chains of small operations: on a loaded machine, torch's intra-op thread
    pool spends more time waiting for busy cores than computing (measured 20-30x slower with
    two threads on a shared 2-core machine), and one thread is as fast when the cores are idle.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
