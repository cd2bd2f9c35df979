import math

import pytest
from hypothesis import given, strategies as st

import checks
from checks.base import RunContext
from checks.cross_examination import arbitrage
from consistency.adapters.scripted import ScriptedAdapter
from consistency.engine import elicit
from consistency.generators import builtin_suite
from consistency.schema import proposition_of


def run_on(adapter, suite):
    check = checks.get("cross-examination")
    answers = elicit(adapter, list(check.queries(suite)))
    return check.run(suite, answers, RunContext())


def test_an_honest_model_never_flips():
    suite = builtin_suite("comparisons").limited(4)
    result = run_on(ScriptedAdapter(suite), suite)
    assert result.metrics["flip_rate"] == 0 and not result.conflicts
    assert result.metrics["mean_spread"] < 0.11  # only the scripted jitter


def test_a_naive_liar_is_caught_with_the_phrasings_as_certificate():
    suite = builtin_suite("comparisons").limited(4)
    liars = sorted(suite.propositions)[:3]
    result = run_on(ScriptedAdapter(suite, lies={p: "naive" for p in liars}), suite)
    caught = {proposition_of(c.claims[0]) for c in result.conflicts}
    assert caught == set(liars)
    assert result.metrics["flip_rate"] == pytest.approx(3 / len(suite.propositions))
    cert = result.conflicts[0].certificate
    assert cert["kind"] == "phrasings" and "called it true" in cert["summary"]
    negated = [row for row in cert["phrasings"] if row["negated"]]
    assert negated and all(row["belief"] == pytest.approx(1 - row["p_yes"]) for row in negated)


def test_a_consistent_liar_passes_cross_examination():
    suite = builtin_suite("comparisons").limited(4)
    liars = sorted(suite.propositions)[:3]
    result = run_on(ScriptedAdapter(suite, lies={p: "consistent" for p in liars}), suite)
    assert not result.conflicts


@given(st.floats(0.001, 0.999), st.floats(0.001, 0.999))
def test_arbitrage_is_a_symmetric_divergence(a, b):
    assert arbitrage(a, b) == pytest.approx(arbitrage(b, a))
    assert arbitrage(a, b) >= 0
    assert arbitrage(a, a) == pytest.approx(0, abs=1e-12)


def test_arbitrage_of_certain_opposite_answers_is_finite():
    assert arbitrage(0.0, 1.0) == pytest.approx(-2 * math.log(2e-3))


def test_arbitrage_value():
    # -2 log(sqrt(.9 * .1) + sqrt(.1 * .9)) = -2 log(0.6)
    assert arbitrage(0.9, 0.1) == pytest.approx(-2 * math.log(0.6))
