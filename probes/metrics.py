"""AUROC with bootstrap confidence intervals, and out-of-fold predictions on a trusted split."""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from probes.base import Probe

# Elements per block of bootstrap resamples (resamples x rows): a few MB per array, whatever n.
BOOTSTRAP_BLOCK = 1 << 18


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

    The stream is that of one (n_boot, n_pos) draw from ``rng`` followed by one
    (n_boot, n_neg) draw, whatever the blocking: the draws, multiplicities and sums are taken a
    block of resamples at a time, so memory holds one block's arrays, never an n_boot x n one
    (at 1000 resamples of 50k rows, 400 MB of 8-byte draws).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    pos, neg = scores[labels], np.sort(scores[~labels])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    # Every positive's draws precede every negative's in the stream: a copy of ``rng`` reads the
    # positives' blocks while ``rng`` itself, moved past them, reads the negatives'.
    pos_rng = copy.deepcopy(rng)
    _skip_draws(len(pos), n_boot, rng)
    lower_at = np.searchsorted(neg, pos, side="left")  # resampled negatives < pos_i
    upper_at = np.searchsorted(neg, pos, side="right")  # resampled negatives <= pos_i
    values = np.empty(n_boot)
    for block in _blocks(n_boot, max(len(pos), len(neg))):
        c_pos = _counts(_draws(len(pos), block, pos_rng), len(pos))
        c_neg = _counts(_draws(len(neg), block, rng), len(neg))
        below = np.concatenate([np.zeros((len(c_neg), 1)), np.cumsum(c_neg, axis=1)], axis=1)
        values[block] = np.sum(c_pos * (below[:, lower_at] + below[:, upper_at]) / 2, axis=1) / (len(pos) * len(neg))
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def skip_bootstrap(labels: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> None:
    """Advance ``rng`` exactly as :func:`bootstrap_auroc_ci` on these ``labels`` would, without
    computing the interval: its draws depend on the class sizes alone, not on the scores."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos and n_neg:
        _skip_draws(n_pos, n_boot, rng)
        _skip_draws(n_neg, n_boot, rng)


def _blocks(n_boot: int, n: int) -> list[slice]:
    """The resamples in blocks of at most ``BOOTSTRAP_BLOCK`` elements (one resample at least)."""
    step = max(1, BOOTSTRAP_BLOCK // max(n, 1))
    return [slice(start, min(start + step, n_boot)) for start in range(0, n_boot, step)]


def _draws(n: int, block: slice, rng: np.random.Generator) -> np.ndarray:
    """Row indices drawn with replacement, ``n`` per resample of ``block``, as int32.

    Drawn block by block, the values and the generator's state are those of one
    ``rng.integers(0, n, (n_boot, n))`` call (numpy draws a bounded integer from the bit
    generator alike for int32 and int64 results, and one call's draws in row order).
    """
    return rng.integers(0, n, (block.stop - block.start, n), dtype=np.int32)


def _skip_draws(n: int, n_boot: int, rng: np.random.Generator) -> None:
    """Advance ``rng`` past ``n_boot`` resamples of ``n`` rows, one block in memory at a time."""
    for block in _blocks(n_boot, n):
        _draws(n, block, rng)


def _counts(draws: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` rows is drawn in each resample (one per row of ``draws``)."""
    offsets = n * np.arange(len(draws))[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=len(draws) * n).reshape(len(draws), n)


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
    groups: np.ndarray | None = None, repeats: int = 1,
) -> tuple[np.ndarray, list[Probe]]:
    """P(true) for every row from probes that never saw it (stratified ``k``-fold cross-fitting,
    repeated ``repeats`` times on fresh fold draws and averaged), and the fold probes (unfitted
    clones of ``probe``, each fitted on its other folds: ``k`` per repeat). With ``groups``,
    rows of one group share a fold.

    In-sample predictions are overconfident; thresholds calibrated on them would flag far more
    honest claims than the nominal rate. One draw of folds is itself a random choice: with few
    rows, which rows train together moves each reading (and the AUROC that picks a layer), so
    the readings are averaged over several draws, every one of them out of fold.
    """
    y = np.asarray(y)
    k = max(2, min(k, int(y.sum()), int(len(y) - y.sum())))  # every fold must see both classes
    out = np.zeros(len(y), dtype=np.float64)
    probes: list[Probe] = []
    for _ in range(repeats):
        if groups is None:
            folds = stratified_folds(y, k, rng)
        else:
            folds = grouped_folds(y, groups, min(k, len(np.unique(groups))), rng)
        drawn = [clone(probe).fit(_float64_rows(X, folds != fold), y[folds != fold]) for fold in range(int(folds.max()) + 1)]
        for fold, fitted in enumerate(drawn):
            out[folds == fold] += fitted.predict_proba(X[folds == fold])[:, 1]
        probes += drawn
    return out / repeats, probes


def _float64_rows(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``X[mask]`` as float64 (every probe fits in float64), converted a block of rows at a time:
    ``X[mask]`` of float32 features would first copy nearly every row in float32 beside it."""
    if X.dtype == np.float64:
        return X[mask]
    at = np.flatnonzero(mask)
    out = np.empty((len(at), *X.shape[1:]), dtype=np.float64)
    for start in range(0, len(at), 4096):
        out[start : start + 4096] = X[at[start : start + 4096]]
    return out


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
