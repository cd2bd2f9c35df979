"""What every probe is (a scikit-learn classifier), and the input checks they all use.

A probe is fitted on a feature matrix (one row per statement, read from the model's hidden
states) with truth labels, and ``predict_proba`` returns, per row, P(false) and P(true) (class
order ``classes_ = [0, 1]``). Probes follow scikit-learn's estimator conventions: the
constructor only stores its parameters (``get_params``/``set_params``/``clone`` work), options
are checked by :meth:`ProbeEstimator.check_params` when fitting, and what fitting learns ends
in ``_``. Features are standardised with training statistics only: normalising test rows with
their own statistics would leak the audited claims' distribution into the probe.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Protocol, runtime_checkable

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from consistency.errors import UserError


class ProbeError(UserError, ValueError):
    """Unusable probe input or option (one line; the CLI shows it as an ``error:`` line)."""


@runtime_checkable
class Probe(Protocol):
    """The part of the estimator API the sweep and the checks use."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(P(false), P(true)) per row, shape (n, 2)."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...


class ProbeEstimator(ClassifierMixin, BaseEstimator):
    """Shared by the probes: binary classes 0/1, ``predict_proba`` from :meth:`p_true`."""

    def check_params(self) -> None:
        """A one-line :class:`ProbeError` for an unusable option (called by ``fit``; callers
        that build a probe long before fitting it call it to fail early)."""

    def p_true(self, X: np.ndarray) -> np.ndarray:
        """P(true) per row, shape (n,)."""
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        p = self.p_true(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def _fitted_on(self, X: np.ndarray) -> None:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[-1]


class LinearProbeEstimator(ProbeEstimator):
    """A probe whose log-odds are linear in the raw features: ``X @ coef_ + intercept_``."""

    coef_: np.ndarray
    intercept_: float

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row is true."""
        check_is_fitted(self)
        X = check_features(X)
        check_width(X, self.n_features_in_)
        return X @ self.coef_ + self.intercept_

    def p_true(self, X: np.ndarray) -> np.ndarray:
        return expit(self.decision_function(X))

    @property
    def direction_(self) -> np.ndarray:
        """The truth direction in the original feature space, unit length."""
        check_is_fitted(self)
        return self.coef_ / (np.linalg.norm(self.coef_) or 1.0)


def estimator_key(probe: Probe) -> str:
    """What identifies a probe's fits: its class and parameters (for the fit cache)."""
    return f"{type(probe).__qualname__}{sorted(probe.get_params().items())}"


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


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch and the BLAS/OpenMP pools numpy, scipy and scikit-learn use on one thread
    inside the block, restoring the previous settings after.

    Probe fits are chains of small operations: on a loaded machine, a thread pool spends more
    time waiting for busy cores than computing (measured 20-30x slower with two torch threads
    on a shared 2-core machine; scikit-learn's logistic fit on 600 x 128 rows, 432 ms with two
    BLAS threads against 74 ms with one), and one thread is as fast when the cores are idle.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)
