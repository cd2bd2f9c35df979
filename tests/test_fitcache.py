"""Fits remembered by their training data: free on a repeat, identical to fitting again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from checks.base import RunContext
from checks.cross_examination import CrossExamination
from checks.decomposition import DecompositionCheck
from checks.logic import LogicCheck
from checks.probe import ProbeCheck
from checks.w2s_copies import W2SCopies
from consistency.fitcache import FitCache, digest, frozen
from consistency.config import LadderSettings
from consistency.ladder import run_ladder
from tests.test_ladder import honest_run, ladder_suite


def NoCache() -> FitCache:
    """Computes every time (``--no-fit-cache``): what the checks and the ladder did before fits
    were cached."""
    return FitCache(enabled=False)


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


def test_a_token_stands_for_one_object_and_outlives_it_in_the_cache():
    from consistency import formula as fm

    cache = FitCache()
    tree = fm.parse("a & !b")
    number = cache.token(tree)
    assert cache.token(tree) == number
    assert cache.token(fm.parse("a & !b")) != number  # equal but another object: a miss, not a wrong hit
    del tree  # the cache holds it: no later object can take its id and its number
    assert len({cache.token(fm.parse("c")) for _ in range(3)}) == 3


def test_digest_tells_arrays_apart_by_content_shape_and_type():
    x = np.arange(6, dtype=np.float32)
    assert digest(x) == digest(x.copy())
    assert len({digest(x), digest(x.reshape(2, 3)), digest(x.astype(np.float64)), digest(x + 1)}) == 4


def test_a_frozen_arrays_digest_is_that_of_its_contents_and_it_stays_read_only():
    x = np.arange(6, dtype=np.float32)
    kept = frozen(x.copy())
    assert digest(kept, "y") == digest(x, "y") and digest(kept) != digest(x + 1)
    with pytest.raises(ValueError):
        kept[0] = 1.0


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


class _Counted:
    """A check that counts how often it is run."""

    def __init__(self, check):
        self.check, self.runs = check, 0
        self.name, self.needs_hidden, self.local = check.name, check.needs_hidden, check.local

    def queries(self, suite):
        return self.check.queries(suite)

    def run(self, suite, answers, context):
        self.runs += 1
        return self.check.run(suite, answers, context)


def test_the_ladder_with_cached_fits_matches_the_ladder_without():
    """Fits from the cache, L4 from L3's repairs and re-runs keyed on what each check reads:
    the same bar and the same detection scores of every lie as computing each again."""
    suite = ladder_suite()
    checks = [ProbeCheck(n_boot=50), W2SCopies(weak_source="noise", steps=20), LogicCheck(), DecompositionCheck(),
              CrossExamination()]
    answers, _, _ = honest_run(suite, checks, lies={"a1": "consistent", "na1": "consistent"})
    bars, runs = [], []
    for fits in (NoCache(), FitCache()):
        context = RunContext(seed=0, layers=answers.layers, fits=fits)
        counted = [_Counted(c) for c in checks]
        results = {c.name: c.run(suite, answers, context) for c in counted}
        scores: dict = {}
        bar = run_ladder(suite, answers, counted, results, context, LadderSettings(ladder_targets=12), lie_scores=scores)
        bars.append(json.dumps({**bar, "lie_scores": scores}, sort_keys=True))
        runs.append(sum(c.runs for c in counted))
    assert bars[0] == bars[1]
    assert fits.hits > fits.misses  # most re-runs found their fits
    assert runs[1] < runs[0]  # and checks that read nothing new were not run again


def _audit_without_timings(tmp_path, fit_cache: bool) -> dict:
    from consistency.audit import run_audit
    from consistency.config import AuditConfig

    # every check runs at this size (fewer propositions leave the probe too few trusted ones)
    config = AuditConfig(model="organism:consistent-liar", out=str(tmp_path / f"fit-cache-{fit_cache}"), limit=20,
                         ladder_targets=12, fit_cache=fit_cache, report=False,
                         check_options={"probe": {"n_boot": 20}, "w2s-copies": {"steps": 30}})
    results = json.loads(run_audit(config, log=lambda _: None, progress=False).model_dump_json())
    for volatile in ("created", "timings"):
        results.pop(volatile)
    results["config"].pop("out")
    assert results["config"].pop("fit_cache") is fit_cache
    return results


@pytest.mark.slow  # about a minute: two audits, one computing every fit again
def test_an_organism_audit_is_identical_with_and_without_the_caches(tmp_path):
    """The fit cache, L4 reusing L3's repairs and the ladder's re-runs keyed on what each check
    reads change the time an audit takes, never its results.json (timings aside)."""
    cached = _audit_without_timings(tmp_path, True)
    assert cached["bar"]["targets"] > 10 and cached["bar"]["reruns"] > 0  # the ladder ran
    assert not any(result["skipped"] for name, result in cached["checks"].items() if name != "directives")
    assert cached == _audit_without_timings(tmp_path, False)


