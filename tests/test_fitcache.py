"""Fits remembered by their training data: free on a repeat, identical to fitting again."""

from __future__ import annotations

import json

import numpy as np

from checks.base import RunContext
from checks.probe import ProbeCheck
from checks.w2s_copies import W2SCopies
from consistency.fitcache import FitCache, digest
from consistency.config import LadderSettings
from consistency.ladder import run_ladder
from tests.test_ladder import honest_run, ladder_suite


class NoCache(FitCache):
    """Computes every time: what the checks did before fits were cached."""

    def memo(self, key, rng, compute):
        self.misses += 1
        return compute()


def test_a_hit_returns_the_value_and_leaves_the_generator_where_the_fit_left_it():
    cache = FitCache()
    first, second = np.random.default_rng(7), np.random.default_rng(7)
    a = cache.memo("k", first, lambda: first.normal(size=3))
    b = cache.memo("k", second, lambda: np.zeros(3))  # never called: the same key and state
    assert np.array_equal(a, b) and (cache.hits, cache.misses) == (1, 1)
    assert first.random() == second.random()  # both generators continue from the same state


def test_another_generator_state_or_key_is_a_miss():
    cache = FitCache()
    rng = np.random.default_rng(0)
    cache.memo("k", rng, lambda: rng.random())
    cache.memo("k", rng, lambda: rng.random())  # the state moved on
    cache.memo("other", None, lambda: 1)
    assert (cache.hits, cache.misses) == (0, 3)


def test_digest_tells_arrays_apart_by_content_shape_and_type():
    x = np.arange(6, dtype=np.float32)
    assert digest(x) == digest(x.copy())
    assert len({digest(x), digest(x.reshape(2, 3)), digest(x.astype(np.float64)), digest(x + 1)}) == 4


def _results(check, suite, answers, context):
    return check.run(suite, answers, context).model_dump_json()


def test_hidden_state_checks_rerun_from_the_cache_with_identical_results():
    suite = ladder_suite()
    checks = [ProbeCheck(n_boot=50), W2SCopies(weak_source="noise", steps=20)]
    answers, _, _ = honest_run(suite, checks)
    for check in checks:
        fresh = _results(check, suite, answers, RunContext(seed=0, layers=answers.layers, fits=NoCache()))
        shared = RunContext(seed=0, layers=answers.layers)
        assert _results(check, suite, answers, shared) == fresh
        misses = shared.fits.misses
        # a liar's new beliefs leave the training data as it was: every fit is a hit
        liar = answers.with_beliefs({suite.query("a0"): 1 - answers.belief(suite.query("a0"))})
        assert _results(check, suite, liar, shared) == _results(check, suite, liar, RunContext(
            seed=0, layers=answers.layers, fits=NoCache()))
        assert shared.fits.misses == misses and shared.fits.hits > 0
        # moved trusted hidden states are new training data: fitted again
        trusted = suite.query(suite.split("train")[0].id)
        moved = answers.with_hidden("statement_end", {trusted.prompt: answers.hidden["statement_end"][trusted.prompt] + 1})
        check.run(suite, moved, shared)
        assert shared.fits.misses > misses


def test_the_ladder_with_cached_fits_matches_the_ladder_without():
    suite = ladder_suite()
    checks = [ProbeCheck(n_boot=50), W2SCopies(weak_source="noise", steps=20)]
    answers, _, _ = honest_run(suite, checks, lies={"a1": "consistent", "na1": "consistent"})
    bars = []
    for fits in (NoCache(), FitCache()):
        context = RunContext(seed=0, layers=answers.layers, fits=fits)
        results = {c.name: c.run(suite, answers, context) for c in checks}
        bar = run_ladder(suite, answers, checks, results, context, LadderSettings(ladder_targets=12))
        bars.append(json.dumps({k: v for k, v in bar.items() if k != "reruns"}, sort_keys=True))
    assert bars[0] == bars[1]
    assert fits.hits > fits.misses  # most re-runs found their fits
