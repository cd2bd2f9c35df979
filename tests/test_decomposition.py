"""The decomposition check: composite vs the recomposition of separately asked parts."""

from __future__ import annotations

import math

import pytest

from checks.base import RunContext
from checks.decomposition import DecompositionCheck, recompose, recomposition_formula
from consistency import formula as fm
from consistency.adapters.scripted import ScriptedAdapter
from consistency.engine import elicit
from consistency.suite import Decomposition, Proposition, Suite


def make_suite() -> Suite:
    facts = [
        ("p", "Paris is the capital of France", True),
        ("q", "France is in Europe", True),
        ("pq", "The capital of France is in Europe", True),
        ("r", "Rome is in Spain", False),
        ("pr", "Paris is the capital of France or Rome is in Spain", True),
    ]
    props = {pid: Proposition(pid, text, truth=truth) for pid, text, truth in facts}
    return Suite(
        "hops",
        props,
        decompositions=[
            Decomposition("d_and", "pq", ("p", "q"), "pq <-> (p & q)"),
            Decomposition("d_or", "pr", ("p", "r"), "p | r"),  # the formula of the parts alone
        ],
    )


def run(suite: Suite, **adapter_options):
    check = DecompositionCheck()
    answers = elicit(ScriptedAdapter(suite, **adapter_options), list(check.queries(suite)))
    return check.run(suite, answers, RunContext()), answers


def test_asks_composites_and_parts_once_each():
    claims = [q.claim for q in DecompositionCheck().queries(make_suite())]
    assert claims == ["pq", "p", "q", "pr", "r"]


def test_recomposition_reads_either_formula_style():
    d_and, d_or = make_suite().decompositions
    assert fm.to_string(recomposition_formula(d_or)) == "pr <-> p | r"
    assert recomposition_formula(d_and) == d_and.tree
    assert recompose(d_and, {"p": True, "q": False}) is False
    assert recompose(d_or, {"p": False, "r": True}) is True
    open_ended = Decomposition("d", "c", ("a",), "c -> a")
    assert recompose(open_ended, {"a": True}) is None  # c may be either


def test_honest_model_agrees_with_its_parts():
    result, _ = run(make_suite(), jitter=0.0)
    assert result.metrics["disagreement_rate"] == 0
    assert result.metrics["r1"] == pytest.approx(0.0, abs=1e-9)
    assert result.conflicts == []
    result.model_dump_json()


def test_lie_on_the_composite_is_a_conflict_with_the_parts_as_reference():
    result, _ = run(make_suite(), lies={"pq": "consistent"})
    assert result.metrics["disagreement_rate"] == 0.5
    (conflict,) = result.conflicts
    cert = conflict.certificate
    assert conflict.claims == ["pq", "p", "q"]
    assert cert["kind"] == "decomposition" and cert["recomposed"] == "true"
    assert cert["composite"]["says"] == "false"
    assert "asked part by part" in cert["summary"]
    assert result.metrics["r1"] > 0.5
    assert max(result.claim_scores, key=result.claim_scores.get) == "pq"
    row = next(r for r in result.details["decompositions"] if r["id"] == "d_and")
    assert row["recomposed"] is True and row["composite_says"] is False


def test_lie_on_a_part_changes_the_recomposition():
    result, _ = run(make_suite(), lies={"r": "consistent"})
    # r flips to true: p | r stays true, so d_or agrees; d_and does not involve r
    assert result.metrics["disagreement_rate"] == 0
    result, _ = run(make_suite(), lies={"p": "consistent"})
    assert result.metrics["disagreement_rate"] == 1.0  # both composites now disagree with p's lie


def test_missing_answers_skip_that_decomposition():
    suite = make_suite()
    check = DecompositionCheck()
    answers = elicit(ScriptedAdapter(suite), list(check.queries(suite)))
    answers.credences.pop(suite.query("r").prompt)
    result = check.run(suite, answers, RunContext())
    assert result.metrics["decompositions_missing"] == 1
    assert result.metrics["decompositions_examined"] == 1
    assert [r["id"] for r in result.details["decompositions"]] == ["d_and"]


def test_suite_without_decompositions_is_skipped():
    suite = Suite("none", {"a": Proposition("a", "A")})
    result = DecompositionCheck().run(suite, elicit(ScriptedAdapter(suite), []), RunContext())
    assert result.skipped == "the suite has no decompositions"
    assert math.isnan(result.metrics["disagreement_rate"])
