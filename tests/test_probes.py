"""The estimators in probes/: scikit-learn's conventions, recovery of a planted direction,
exact formulas, input errors."""

from __future__ import annotations

import re
import tracemalloc
from functools import partial

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from probes.base import ProbeError
from probes.ccs import CCSProbe
from probes.logistic import LogisticProbe
from probes.mass_mean import MassMeanProbe
from probes.w2s import AuxConfidenceHead
from probes.metrics import (
    against_stated,
    auroc,
    bootstrap_auroc_ci,
    calibrated_threshold,
    out_of_fold,
    skip_bootstrap,
    stratified_folds,
)
from probes.sweep import earliest_informative, embedding_sanity, sweep_layers


def planted(n: int, d: int = 32, signal: float = 1.5, seed: int = 0, offset: float = 3.0):
    """Gaussian rows with a unit truth direction: x = noise + (2y - 1) * signal * u + offset."""
    rng = np.random.default_rng(seed)
    u = np.random.default_rng(99).normal(size=d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + np.outer(2 * y - 1, u) * signal + offset
    return X, y, u


ESTIMATORS = [
    LogisticProbe(l2=0.5), MassMeanProbe(), MassMeanProbe(lda=True), CCSProbe(n_restarts=3), AuxConfidenceHead(steps=7)
]


@pytest.mark.parametrize("probe", ESTIMATORS, ids=lambda p: type(p).__name__)
def test_probes_follow_scikit_learns_estimator_conventions(probe):
    """Parameters round-trip through get_params/set_params/clone, the constructor checks
    nothing, fitting adds only attributes ending in ``_``, predict_proba is (n, 2)."""
    params = probe.get_params()
    copy = clone(probe)
    assert copy.get_params() == params and type(copy) is type(probe)
    assert copy.set_params(**params) is copy
    assert not [k for k in vars(copy) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        copy.predict_proba(np.ones((2, 4)))
    X, y, _ = planted(60, d=4)
    if isinstance(probe, CCSProbe):
        X = np.stack([X, -X], axis=1)
    before = set(vars(copy))
    assert copy.fit(X, y) is copy
    learnt = set(vars(copy)) - before
    assert learnt and all(k.endswith("_") and not k.startswith("_") for k in learnt)
    proba = copy.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(copy.classes_, [0, 1])
    np.testing.assert_array_equal(copy.predict(X), (proba[:, 1] >= 0.5).astype(int))
    assert clone(copy).get_params() == params  # a fitted probe clones to an unfitted one


@pytest.mark.parametrize(
    "probe, message",
    [
        (LogisticProbe(l2=-1), "l2 must be >= 0"),
        (CCSProbe(n_restarts=0), "n_restarts must be >= 1"),
        (AuxConfidenceHead(aux_max=2.0), "aux_max must be in [0, 1]"),
        (AuxConfidenceHead(warmup=0.0), "warmup must be in (0, 1]"),
    ],
)
def test_bad_options_fail_at_fit_not_at_construction(probe, message):
    with pytest.raises(ProbeError, match=re.escape(message)):
        probe.check_params()
    X, y, _ = planted(20, d=3)
    with pytest.raises(ProbeError):
        probe.fit(np.stack([X, -X], axis=1) if isinstance(probe, CCSProbe) else X, y)


def p_true(probe, X):
    return probe.predict_proba(X)[:, 1]


@pytest.mark.parametrize("probe", [LogisticProbe(), MassMeanProbe(), MassMeanProbe(lda=True)], ids=["logistic", "mass-mean", "lda"])
def test_supervised_probes_recover_the_planted_direction(probe):
    X, y, u = planted(400)
    X_test, y_test, _ = planted(400, seed=1)
    probe.fit(X, y)
    assert auroc(p_true(probe, X_test), y_test) >= 0.95
    assert probe.direction_ @ u > 0.8  # the right direction, with the right sign


@pytest.mark.parametrize("probe", [LogisticProbe(), MassMeanProbe(), MassMeanProbe(lda=True)], ids=["logistic", "mass-mean", "lda"])
def test_predictions_use_training_statistics_only(probe):
    """A row's reading must not depend on which other rows are predicted with it (a probe that
    normalised test rows with their own statistics would fail this)."""
    X, y, _ = planted(200)
    X_test, _, _ = planted(50, seed=2, offset=10.0)  # shifted: batch statistics would differ a lot
    probe.fit(X, y)
    together = p_true(probe, X_test)
    alone = np.array([p_true(probe, X_test[i : i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(together[:5], alone, rtol=1e-10)


def test_mass_mean_log_odds_match_the_gaussian_posterior():
    # one feature, classes N(+-1, 0.5^2), balanced: the exact log-odds are 2 * 1 * x / 0.25 = 8x
    rng = np.random.default_rng(0)
    y = np.repeat([1, 0], 20000)
    X = (np.where(y == 1, 1.0, -1.0) + 0.5 * rng.normal(size=len(y)))[:, None]
    probe = MassMeanProbe().fit(X, y)
    grid = np.array([[-0.3], [0.0], [0.2]])
    np.testing.assert_allclose(probe.decision_function(grid), 8 * grid[:, 0], atol=0.1)


def test_lda_corrects_for_correlated_nuisance_where_mass_mean_cannot():
    # the class means differ along e0 + e1, but e1 also carries a large nuisance; the optimal
    # (LDA) direction discounts e1, the raw mean difference does not
    rng = np.random.default_rng(0)

    def draw(n):
        y = rng.integers(0, 2, n)
        X = rng.normal(size=(n, 2)) * [0.3, 3.0] + np.outer(2 * y - 1, [0.5, 0.5])
        return X, y

    X, y = draw(2000)
    X_test, y_test = draw(2000)
    plain = auroc(p_true(MassMeanProbe().fit(X, y), X_test), y_test)
    lda = auroc(p_true(MassMeanProbe(lda=True).fit(X, y), X_test), y_test)
    assert lda > plain + 0.1


def test_lda_stays_usable_with_fewer_statements_than_dimensions():
    """Shrinkage keeps the covariance invertible at n < d (40 statements, 120 features)."""
    X, y, u = planted(40, d=120, signal=2.0)
    X_test, y_test, _ = planted(400, d=120, signal=2.0, seed=1)
    probe = MassMeanProbe(lda=True).fit(X, y)
    assert np.all(np.isfinite(probe.coef_))
    assert auroc(p_true(probe, X_test), y_test) >= 0.9


def contrast_pairs(n: int, seed: int = 0):
    """(x+, x-) pairs: the statement carries +-u by its truth, its negation the opposite,
    over a shared per-statement nuisance and a constant 'negated form' shift."""
    rng = np.random.default_rng(seed)
    d = 24
    u = np.random.default_rng(7).normal(size=d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n)
    s = (2 * y - 1)[:, None]
    shared = rng.normal(size=(n, d))
    pos = shared + 1.5 * s * u + 0.5 * rng.normal(size=(n, d)) + 2.0
    neg = shared - 1.5 * s * u + 0.5 * rng.normal(size=(n, d)) - 1.0
    return np.stack([pos, neg], axis=1), y


def test_ccs_finds_truth_without_labels_and_labels_only_fix_the_sign():
    X, y = contrast_pairs(300)
    X_test, y_test = contrast_pairs(300, seed=1)
    unsupervised = CCSProbe(seed=3).fit(X)
    score = auroc(p_true(unsupervised, X_test), y_test)
    assert score >= 0.95 or score <= 0.05  # truth found, sign unknown
    oriented = CCSProbe(seed=3).fit(X, y)
    assert auroc(p_true(oriented, X_test), y_test) >= 0.95
    flipped = CCSProbe(seed=3).fit(X, 1 - y)
    assert auroc(p_true(flipped, X_test), y_test) <= 0.05
    assert oriented.loss_ == pytest.approx(flipped.loss_)  # the loss never saw the labels


def test_ccs_is_deterministic_for_a_seed():
    X, y = contrast_pairs(100)
    a = CCSProbe(seed=5).fit(X, y).predict_proba(X)
    b = CCSProbe(seed=5).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: LogisticProbe().fit(np.ones((4, 3)), np.array([1, 1, 1, 1])), "one class only"),
        (lambda: LogisticProbe().fit(np.ones((4, 3)), np.array([1, 0, 1])), "labels must have shape"),
        (lambda: MassMeanProbe().fit(np.full((4, 3), np.nan), np.array([1, 0, 1, 0])), "NaN"),
        (lambda: LogisticProbe().fit(np.ones(4), np.array([1, 0, 1, 0])), "2 dimensions"),
        (lambda: CCSProbe().fit(np.ones((4, 3, 2))), "shape (n, 2, d)"),
        (lambda: MassMeanProbe().fit(np.eye(4), np.array([1, 0, 1, 0])).predict_proba(np.ones((2, 5))), "fitted on 4"),
        (lambda: LogisticProbe().fit(np.ones((4, 3)), np.array([2, 0, 1, 0])), "0/1"),
    ],
)
def test_bad_input_is_a_one_line_probe_error(call, message):
    with pytest.raises(ProbeError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("probe", [LogisticProbe(), MassMeanProbe(), MassMeanProbe(lda=True)], ids=["logistic", "mass-mean", "lda"])
def test_a_constant_feature_does_not_break_a_probe(probe):
    """A dead unit (constant over the training rows) is centred, not divided by a zero scale."""
    X, y, _ = planted(100, d=4)
    X[:, 2] = 7.0
    proba = probe.fit(X, y).predict_proba(X)
    assert np.all(np.isfinite(proba)) and auroc(proba[:, 1], y) > 0.9


# ----- metrics ------------------------------------------------------------------------


def test_auroc_matches_pairwise_counting_with_ties_and_is_never_folded():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.integers(0, 2, 60).astype(bool)
    pos, neg = scores[labels], scores[~labels]
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert auroc(scores, labels) == pytest.approx(brute)
    assert auroc(-scores, labels) == pytest.approx(1 - brute)  # inverted, not max(a, 1 - a)
    assert np.isnan(auroc(scores, np.ones(60, dtype=bool)))


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(0)

    def width(n):
        labels = rng.integers(0, 2, n).astype(bool)
        scores = labels + rng.normal(size=n)
        low, high = bootstrap_auroc_ci(scores, labels, np.random.default_rng(1))
        assert low <= auroc(scores, labels) <= high
        return high - low

    assert width(2000) < width(100) / 2


def test_bootstrap_counts_give_the_auroc_of_each_expanded_resample():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40).astype(bool)
    scores = np.round(labels + rng.normal(size=40), 1)  # ties within and across classes
    low, high = bootstrap_auroc_ci(scores, labels, np.random.default_rng(5), n_boot=200)
    # the same draws, expanded into explicit resamples and scored one by one
    replay = np.random.default_rng(5)
    pos, neg = scores[labels], np.sort(scores[~labels])
    pos_draws = replay.integers(0, len(pos), (200, len(pos)))
    neg_draws = replay.integers(0, len(neg), (200, len(neg)))
    values = [
        auroc(np.r_[pos[a], neg[b]], np.r_[np.ones(len(pos)), np.zeros(len(neg))])
        for a, b in zip(pos_draws, neg_draws)
    ]
    assert (low, high) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))


def test_bootstrap_blocks_leave_the_interval_and_the_stream_unchanged(monkeypatch):
    import probes.metrics as metrics

    def one_block(scores, labels, rng, n_boot):
        # the interval as computed before blocking: every resample's arrays at once
        pos, neg = scores[labels], np.sort(scores[~labels])
        c_pos = metrics._counts(rng.integers(0, len(pos), (n_boot, len(pos))), len(pos))
        c_neg = metrics._counts(rng.integers(0, len(neg), (n_boot, len(neg))), len(neg))
        below = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(c_neg, axis=1)], axis=1)
        lower = below[:, np.searchsorted(neg, pos, side="left")]
        upper = below[:, np.searchsorted(neg, pos, side="right")]
        values = np.sum(c_pos * (lower + upper) / 2, axis=1) / (len(pos) * len(neg))
        tail = (1 - 0.95) / 2
        return tuple(float(v) for v in np.quantile(values, [tail, 1 - tail]))

    monkeypatch.setattr(metrics, "BOOTSTRAP_BLOCK", 64)  # blocks of one or two resamples
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(5, 90))
        labels = rng.random(n) < 0.4
        labels[:2] = [True, False]
        scores = np.round(labels + rng.normal(size=n), 1)  # ties
        blocked, whole = np.random.default_rng(trial), np.random.default_rng(trial)
        assert bootstrap_auroc_ci(scores, labels, blocked, n_boot=37) == one_block(scores, labels, whole, 37)
        assert blocked.integers(1 << 40) == whole.integers(1 << 40)  # the generator left where it was


def test_the_bootstrap_never_holds_every_resample_at_once():
    """1000 resamples of 20k rows are 160 MB of draws as 8-byte integers; a block at a time they
    are a few MB, and the generator ends where one draw of them all leaves it."""
    labels = np.arange(20_000) % 3 == 0
    scores = labels + np.random.default_rng(1).normal(size=len(labels))
    whole = np.random.default_rng(5)
    whole.integers(0, labels.sum(), (1000, labels.sum()))
    whole.integers(0, (~labels).sum(), (1000, (~labels).sum()))
    for run in (partial(bootstrap_auroc_ci, scores), skip_bootstrap):
        blocked = np.random.default_rng(5)
        tracemalloc.start()
        try:
            run(labels, blocked, 1000)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * 2**20
        assert blocked.bit_generator.state == whole.bit_generator.state


def test_out_of_fold_fits_float32_rows_exactly_as_float64_ones():
    X, y, _ = planted(300)
    X32 = X.astype(np.float32)
    for probe in (MassMeanProbe(), LogisticProbe(l2=0.5)):
        oof32, _ = out_of_fold(probe, X32, y, 5, np.random.default_rng(3))
        oof64, _ = out_of_fold(probe, X32.astype(np.float64), y, 5, np.random.default_rng(3))
        np.testing.assert_array_equal(oof32, oof64)


def test_mass_mean_spread_is_each_row_centred_on_its_own_class_mean():
    X, y, _ = planted(200, d=5)
    probe = MassMeanProbe().fit(X, y)
    yes = y.astype(bool)
    theta = X[yes].mean(axis=0) - X[~yes].mean(axis=0)
    within = np.where(yes[:, None], X - X[yes].mean(axis=0), X - X[~yes].mean(axis=0))
    np.testing.assert_array_equal(probe.coef_, theta * (theta @ theta) / np.mean((within @ theta) ** 2))


def test_out_of_fold_predictions_never_come_from_a_probe_that_saw_the_row():
    seen: list[set] = []

    class Recorder(BaseEstimator):
        def fit(self, X, y):
            self.rows_ = {float(v) for v in X[:, 0]}
            seen.append(self.rows_)
            return self

        def predict_proba(self, X):
            # P(true) 1.0 if the row was in this probe's training set
            inside = np.array([float(float(v) in self.rows_) for v in X[:, 0]])
            return np.column_stack([1 - inside, inside])

    X = np.arange(40.0)[:, None]
    y = np.arange(40) % 2
    oof, probes = out_of_fold(Recorder(), X, y, 5, np.random.default_rng(0))
    assert np.all(oof == 0.0) and len(seen) == 5 and len(probes) == 5


def test_stratified_folds_spread_each_class():
    labels = np.array([1] * 10 + [0] * 20)
    folds = stratified_folds(labels, 5, np.random.default_rng(0))
    for fold in range(5):
        assert labels[folds == fold].sum() == 2 and (folds == fold).sum() == 6


def test_calibrated_threshold_holds_the_false_positive_rate_on_fresh_honest_scores():
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(200):
        threshold = calibrated_threshold(rng.uniform(size=99), 0.1)
        rates.append(np.mean(rng.uniform(size=1000) > threshold))
    assert np.mean(rates) <= 0.1 + 0.01
    assert calibrated_threshold(np.array([0.2, 0.7]), 0.05) == 0.7  # too few: the largest
    assert calibrated_threshold(np.array([]), 0.05) == float("inf")


def test_against_stated_reads_the_opposite_side():
    np.testing.assert_allclose(against_stated(np.array([0.9, 0.9, 0.2]), np.array([0.8, 0.1, 0.5])), [0.1, 0.9, 0.8])


# ----- the layer sweep ----------------------------------------------------------------------


def test_earliest_informative_layer_rule():
    assert earliest_informative({0: 0.5, 1: 0.7, 2: 0.96, 3: 0.98}) == 2  # 0.46 >= 0.95 * 0.48
    assert earliest_informative({0: 0.5, 1: 0.7, 2: 0.9, 3: 0.98}) == 3
    assert earliest_informative({0: 0.5, 1: 0.45}) is None
    assert earliest_informative({0: float("nan"), 1: 0.8}) == 1


def layered(n: int, leak: float, seed: int):
    """Layer 0 (embeddings) carries ``leak`` of the truth signal, deeper layers more."""
    X, y, u = planted(n, d=8, signal=0.0, seed=seed)
    rng = np.random.default_rng(seed + 100)
    s = np.outer(2 * y - 1, u)
    return {layer: rng.normal(size=X.shape) + s * strength for layer, strength in ((0, leak), (1, 0.5), (2, 2.0))}, y


def test_sweep_scores_every_layer_and_the_embedding_sanity_check():
    train, y = layered(300, leak=0.0, seed=0)
    evaluate, y_eval = layered(300, leak=0.0, seed=1)
    fits = sweep_layers(LogisticProbe(), train, y, np.random.default_rng(0), evaluate, y_eval.astype(float), n_boot=200)
    assert [f.layer for f in fits] == [0, 1, 2]
    assert fits[2].cv_auroc > 0.95 and fits[2].eval_auroc > 0.95
    assert fits[2].cv_ci[0] <= fits[2].cv_auroc <= fits[2].cv_ci[1]
    assert 0.35 < fits[0].cv_auroc < 0.65
    assert earliest_informative({f.layer: f.cv_auroc for f in fits}) == 2
    sanity = embedding_sanity(fits)
    assert sanity is not None and sanity["near_chance"] and sanity["message"] == ""

    leaky, y = layered(300, leak=2.0, seed=0)
    flagged = embedding_sanity(sweep_layers(LogisticProbe(), leaky, y, np.random.default_rng(0), n_boot=200))
    assert flagged is not None and not flagged["near_chance"] and "far from chance" in flagged["message"]


def test_sweep_eval_auroc_ignores_rows_without_truth():
    train, y = layered(200, leak=0.0, seed=0)
    evaluate, y_eval = layered(100, leak=0.0, seed=1)
    y_eval = y_eval.astype(float)
    y_eval[:50] = np.nan
    fits = sweep_layers(MassMeanProbe(), train, y, np.random.default_rng(0), evaluate, y_eval, n_boot=100)
    expected = auroc(fits[2].eval_proba[50:], y_eval[50:])
    assert fits[2].eval_auroc == pytest.approx(expected)
    assert fits[2].row()["eval_auroc"] == pytest.approx(expected)
