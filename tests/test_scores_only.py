"""The ladder's re-runs made cheap, not different: a scores-only run reports exactly the scores and
conflicts a full run does, and the hidden states it reads from memory are the table's own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from checks.base import CheckResult, RunContext
from checks.cross_examination import CrossExamination
from checks.decomposition import DecompositionCheck
from checks.logic import LogicCheck
from checks.probe import ProbeCheck
from checks.w2s_copies import W2SCopies
from consistency.fitcache import FitCache, digest
from consistency.config import LadderSettings
from consistency.answers import Overlay, layer_matrix
from consistency.ladder import Ladder, _KeptLayers, detection_scores, reading_scores, run_ladder
from probes.metrics import bootstrap_auroc_ci, skip_bootstrap
from probes.sweep import sweep_layers
from probes.logistic import LogisticProbe
from probes.w2s import AuxConfidenceHead
from tests.test_ladder import honest_run, ladder_suite

CHECKS = (
    lambda: ProbeCheck(n_boot=50),
    lambda: W2SCopies(weak_source="noise", steps=20),
    LogicCheck,
    DecompositionCheck,
    CrossExamination,
)


def _read_by_the_ladder(result, suite):
    """What the ladder reads of a check's result: its detection scores (with the probe's
    per-layer readings) and each conflict's claims and severity."""
    scores = reading_scores(result, detection_scores(result, suite))
    conflicts = sorted((tuple(c.claims), c.severity) for c in result.conflicts)
    return {column: dict(values) for column, values in scores.items()}, conflicts, dict(result.claim_scores)


@pytest.fixture(scope="module")
def liars():
    """Honest answers, a consistent liar's, and an L5 liar's (hidden states moved too)."""
    suite = ladder_suite()
    checks = [make() for make in CHECKS]
    answers, _, _ = honest_run(suite, checks, lies={"a1": "consistent", "na1": "consistent"})
    ladder = Ladder(suite, answers, checks)
    lies = [ladder.lie(target, 5) for target in ("a0", "b2", "c5")]
    return suite, checks, [answers, answers.with_beliefs({suite.query("b3"): 0.9}), ladder.apply(lies)]


@pytest.mark.parametrize("index", range(len(CHECKS)))
def test_a_scores_only_run_reports_what_a_full_run_does(liars, index):
    suite, checks, all_answers = liars
    check = checks[index]
    for answers in all_answers:
        for fits in (FitCache(enabled=False), FitCache()):
            full = check.run(suite, answers, RunContext(seed=0, layers=answers.layers, fits=fits))
            context = RunContext(seed=0, layers=answers.layers, fits=fits, scores_only=True)
            scores_only = check.run(suite, answers, context)
            assert _read_by_the_ladder(scores_only, suite) == _read_by_the_ladder(full, suite)
            assert full.metrics and not full.skipped
            if check.name in ("probe", "w2s-copies", "logic"):  # these leave their metrics out
                assert scores_only.metrics == {}


def test_the_probe_reads_conflicts_somewhere(liars):
    """The comparison above means something: the liars give the probe and logic conflicts."""
    suite, checks, all_answers = liars
    context = RunContext(seed=0, layers=all_answers[2].layers, scores_only=True)
    assert checks[2].run(suite, all_answers[2], context).conflicts
    assert checks[0].run(suite, all_answers[2], context).details["layer_readings"]


def test_skipping_the_bootstrap_leaves_the_generator_where_computing_it_does():
    scores, labels = np.random.default_rng(1).random(40), np.arange(40) % 3 == 0
    computed, skipped = np.random.default_rng(5), np.random.default_rng(5)
    bootstrap_auroc_ci(scores, labels, computed, 200)
    skip_bootstrap(labels, skipped, 200)
    assert computed.random() == skipped.random()


@pytest.mark.parametrize("enabled", [False, True])
def test_a_sweep_without_intervals_reads_and_fits_every_layer_alike(enabled):
    rng = np.random.default_rng(0)
    layers = {layer: rng.normal(size=(30, 6)) + layer for layer in range(3)}
    y = (np.arange(30) % 2).astype(float)
    evaluate = {layer: rng.normal(size=(12, 6)) for layer in range(3)}
    y_eval = (np.arange(12) % 2).astype(float)
    cache = FitCache(enabled=enabled)
    with_ci, without = (
        sweep_layers(LogisticProbe(), layers, y, np.random.default_rng(3), evaluate, y_eval, folds=3, n_boot=30,
                     cache=cache, interval=interval)
        for interval in (True, False)
    )
    for a, b in zip(with_ci, without):
        assert np.array_equal(a.oof, b.oof) and a.cv_ci == b.cv_ci and np.array_equal(a.eval_proba, b.eval_proba)
        assert not np.isnan(a.eval_ci[0]) and np.isnan(b.eval_ci[0])


def test_a_copy_reads_rows_as_its_scaler_and_coefficients_say():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)) * 3 + 1, (np.arange(40) % 2).astype(float)
    head = AuxConfidenceHead(steps=10).fit(X, y)
    expected = expit(head.scaler_.transform(X) @ head.coef_ + head.intercept_)
    assert np.array_equal(head.p_true(X), expected)


class _Recording:
    """A check that keeps the context of every run."""

    name, needs_hidden, local = "recording", False, True

    def __init__(self):
        self.contexts = []

    def queries(self, suite):
        return [suite.query(pid) for pid in suite.propositions]

    def run(self, suite, answers, context):
        self.contexts.append(context)
        return CheckResult(self.name, claim_scores={})


def test_the_ladder_asks_for_scores_only_and_shares_the_fits():
    suite = ladder_suite()
    check = _Recording()
    answers, context, results = honest_run(suite, [check])
    check.contexts.clear()
    run_ladder(suite, answers, [check], results, context, LadderSettings(ladder_targets=4))
    assert check.contexts and all(c.scores_only and c.fits is context.fits for c in check.contexts)
    assert not context.scores_only  # the audit's own context is left as it was


def test_kept_layers_read_the_rows_the_table_holds_within_their_budget():
    rng = np.random.default_rng(0)
    table = {f"prompt {i}": rng.normal(size=(3, 4)).astype(np.float32) for i in range(10)}
    asked = ["prompt 7", "prompt 2", "prompt 2", "prompt 9"]
    for budget, kept in ((1 << 20, 2), (10 * 4 * 4, 1), (0, 0)):  # every layer, one, none
        columns = _KeptLayers(table, budget)
        for index in (0, 2, 0):
            assert np.array_equal(columns.layer_rows(asked, index), layer_matrix(table, asked, index))
        assert len(columns.layers) == kept
    # a list read again is handed back as read, read-only and its digest taken once
    columns = _KeptLayers(table, 1 << 20)
    first = columns.layer_rows(asked, 1)
    assert columns.layer_rows(list(asked), 1) is first and not first.flags.writeable
    assert digest(first) == digest(first.copy())
    # an L5 liar's moved states overlay the kept layers
    moved = Overlay(_KeptLayers(table, 1 << 20), {"prompt 2": np.ones((3, 4), dtype=np.float32)})
    assert np.array_equal(moved.layer_rows(asked, 1)[1:3], np.ones((2, 4)))
    assert np.array_equal(moved.layer_rows(asked, 1)[[0, 3]], layer_matrix(table, ["prompt 7", "prompt 9"], 1))
