"""AUROC with bootstrap confidence intervals, and out-of-fold predictions on a trusted split."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from probes.base import Probe


def finite(value: float) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (JSON has no NaN)."""
    return float(value) if np.isfinite(value) else None


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted half; NaN
    when a class is missing. Never folded into max(auroc, 1 - auroc): below 0.5 means inverted."""
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")  # scikit-learn raises instead
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def bootstrap_auroc_ci(
    scores: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the AUROC over stratified bootstrap resamples.

    Resampling within each class keeps both classes in every resample, so no resample is
    dropped and the interval is not biased towards balanced subsets. A resample is a vector of
    multiplicities per row; its AUROC is sum_i c_i * (#negatives below pos_i + half the ties),
    counted with cumulative sums over the sorted negatives: O(n_boot * n), no sorting per draw.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    pos, neg = scores[labels], np.sort(scores[~labels])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    c_pos, c_neg = _resample_counts(len(pos), n_boot, rng), _resample_counts(len(neg), n_boot, rng)
    below = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(c_neg, axis=1)], axis=1)
    lower = below[:, np.searchsorted(neg, pos, side="left")]  # resampled negatives < pos_i
    upper = below[:, np.searchsorted(neg, pos, side="right")]  # resampled negatives <= pos_i
    values = np.sum(c_pos * (lower + upper) / 2, axis=1) / (len(pos) * len(neg))
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def skip_bootstrap(labels: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> None:
    """Advance ``rng`` exactly as :func:`bootstrap_auroc_ci` on these ``labels`` would, without
    computing the interval: its draws depend on the class sizes alone, not on the scores."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos and n_neg:
        rng.integers(0, n_pos, (n_boot, n_pos))
        rng.integers(0, n_neg, (n_boot, n_neg))


def _resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n`` rows is drawn in each of ``n_boot`` resamples with replacement."""
    draws = rng.integers(0, n, (n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n)


def stratified_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per row, each class spread evenly over the ``k`` folds (scikit-learn's
    shuffled ``StratifiedKFold``, seeded from ``rng``)."""
    labels = np.asarray(labels).astype(bool)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(rng.integers(2**31)))
    folds = np.empty(len(labels), dtype=int)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[held_out] = fold
    return folds


def grouped_folds(labels: np.ndarray, groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per row, every group whole in one fold and each class spread over the folds.

    Groups are placed in random order, larger first, each into the fold where it leaves the
    two classes' shares most even.
    """
    labels = np.asarray(labels).astype(bool)
    ids, inverse = np.unique(np.asarray(groups), return_inverse=True)
    counts = np.stack([np.bincount(inverse, labels, len(ids)), np.bincount(inverse, ~labels, len(ids))], axis=1)
    totals = np.maximum(counts.sum(axis=0), 1)
    order = rng.permutation(len(ids))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    filled = np.zeros((k, 2))
    fold_of = np.empty(len(ids), dtype=int)
    for g in order:
        load = ((filled + counts[g]) / totals).max(axis=1)
        fold_of[g] = int(np.argmin(load))
        filled[fold_of[g]] += counts[g]
    return fold_of[inverse]


def out_of_fold(
    probe: Probe, X: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, list[Probe]]:
    """P(true) for every row from a probe that never saw it (stratified ``k``-fold cross-fitting),
    and the ``k`` fold probes (unfitted clones of ``probe``, each fitted on its other folds).
    With ``groups``, rows of one group share a fold.

    In-sample predictions are overconfident; thresholds calibrated on them would flag far more
    honest claims than the nominal rate.
    """
    y = np.asarray(y)
    k = max(2, min(k, int(y.sum()), int(len(y) - y.sum())))  # every fold must see both classes
    if groups is None:
        folds = stratified_folds(y, k, rng)
    else:
        folds = grouped_folds(y, groups, min(k, len(np.unique(groups))), rng)
        k = int(folds.max()) + 1
    probes = [clone(probe).fit(X[folds != fold], y[folds != fold]) for fold in range(k)]
    out = np.empty(len(y), dtype=np.float64)
    for fold, fitted in enumerate(probes):
        out[folds == fold] = fitted.predict_proba(X[folds == fold])[:, 1]
    return out, probes


def calibrated_threshold(null_scores: np.ndarray, fpr: float) -> float:
    """The score above which at most a ``fpr`` share of honest claims would be flagged.

    ``null_scores`` are scores of claims known to be honest (cross-fitted, never in-sample).
    The split-conformal rank ceil((n + 1)(1 - fpr)) keeps the false-positive rate on new honest
    claims at or below ``fpr``; with too few honest claims for that rank, the largest honest
    score is used (the strictest threshold the data supports). Infinite with no honest claims.
    """
    scores = np.sort(np.asarray(null_scores, dtype=np.float64))
    if len(scores) == 0:
        return float("inf")
    rank = int(np.ceil((len(scores) + 1) * (1 - fpr)))
    return float(scores[min(rank, len(scores)) - 1])


def against_stated(p_true: np.ndarray, stated: np.ndarray) -> np.ndarray:
    """The internal reading's credence in the opposite of what was stated.

    ``stated`` holds the model's stated credences that each statement is true; a stated
    credence of at least 0.5 counts as saying "true".
    """
    p_true = np.asarray(p_true, dtype=np.float64)
    return np.where(np.asarray(stated) >= 0.5, 1.0 - p_true, p_true)
