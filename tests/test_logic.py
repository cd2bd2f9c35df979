"""The logic check end to end: scripted models with planted lies, certificates, metrics."""

from __future__ import annotations


import pytest

import checks
from checks.base import RunContext
from checks.logic import LogicCheck, relation_views
from consistency.adapters.scripted import ScriptedAdapter
from consistency.answers import Answers
from consistency import formula as fm
from consistency.engine import elicit
from consistency.suite import Conditional, Proposition, Relation, Suite


def make_suite(extra_relations=()) -> Suite:
    facts = [
        ("a", "Paris is in France", True),
        ("b", "Rome is in Italy", True),
        ("ab", "Paris is in France and Rome is in Italy", True),
        ("na", "Paris is not in France", False),
        ("aob", "Paris is in France or Rome is in Italy", True),
        ("g", "It rained", True),
        ("w", "The street is wet", True),
        ("lone", "Snow is white", True),
    ]
    props = {pid: Proposition(pid, text, truth=truth) for pid, text, truth in facts}
    relations = [
        Relation("r_and", "ab <-> (a & b)", "conjunction"),
        Relation("r_not", "na <-> !a", "negation"),
        Relation("r_or", "aob <-> (a | b)", "disjunction"),
        *extra_relations,
    ]
    return Suite("geo", props, relations, [Conditional("c_wet", "g", "w")])


def audit(suite: Suite, answers: Answers | None = None, **adapter_options):
    check = LogicCheck()
    if answers is None:
        answers = elicit(ScriptedAdapter(suite, **adapter_options), list(check.queries(suite)))
    return check.run(suite, answers, RunContext())


def test_registered_and_asks_each_involved_claim_once():
    check = checks.get("logic")
    suite = make_suite()
    claims = [q.claim for q in check.queries(suite)]
    assert claims == ["a", "b", "ab", "na", "aob", "g", "w", "c_wet"]  # "lone" is in no relation
    assert check.needs_hidden is False


def test_honest_model_is_coherent_and_satisfiable():
    result = audit(make_suite(), jitter=0.0)
    assert result.conflicts == []
    assert result.metrics["r1"] == pytest.approx(0.0, abs=1e-9)
    assert result.metrics["unsat_components"] == 0
    assert result.metrics["incoherent_components"] == 0
    assert result.metrics["maxsat_flips"] == 0
    assert result.metrics["components"] == 2  # the a/b web, and g -> w through the conditional
    assert result.skipped is None
    result.model_dump_json()  # results.json-ready


def test_planted_lie_yields_cores_a_dutch_book_and_the_top_score():
    result = audit(make_suite(), lies={"a": "consistent"})
    kinds = sorted(c.certificate["kind"] for c in result.conflicts)
    assert kinds.count("unsat-core") >= 2 and kinds.count("dutch-book") == 1
    assert all("a" in c.claims for c in result.conflicts if c.certificate["kind"] == "unsat-core")
    assert max(result.claim_scores, key=result.claim_scores.get) == "a"
    assert result.metrics["maxsat_flips"] == 1
    assert result.details["worst_components"][0]["maxsat_flips"] == ["a"]
    assert result.metrics["r1"] > 0.5 and result.metrics["incoherent_components"] == 1


def test_core_certificate_is_in_plain_words():
    result = audit(make_suite(), lies={"a": "consistent"})
    core = next(c for c in result.conflicts if c.certificate["kind"] == "unsat-core" and "na" in c.claims)
    cert = core.certificate
    assert {a["claim"]: a["says"] for a in cert["answers"]} == {"a": "false", "na": "false"}
    assert cert["relations"] == [
        {
            "id": "r_not",
            "source": "negation",
            "formula": "na <-> !a",
            "short_formula": "na <-> !a",
            "in_words": '"Paris is not in France" if and only if not "Paris is in France"',
        }
    ]
    assert '"Paris is in France" is false' in cert["summary"]
    assert 0 < core.severity <= 1


def test_an_exclusivity_is_named_in_one_line_however_many_claims_it_spans():
    # Twelve cities expand to 67 clauses; the certificate says "exactly one of" instead.
    cities = [f"c{i}" for i in range(12)]
    props = {c: Proposition(c, f"Kedozo lives in city {i}", truth=(i == 0)) for i, c in enumerate(cities)}
    suite = Suite("one-city", props, [Relation("one", fm.exactly_one(*cities), "exclusivity")])
    answers = Answers(credences={suite.query(c).prompt: 0.01 for c in cities})  # no home city at all
    result = audit(suite, answers)
    core = next(c for c in result.conflicts if c.certificate["kind"] == "unsat-core")
    (relation,) = core.certificate["relations"]
    assert relation["short_formula"] == f"exactly_one({', '.join(cities)})"
    assert relation["in_words"] == "exactly one of " + ", ".join(f'"Kedozo lives in city {i}"' for i in range(12))
    assert len(relation["formula"]) > 10 * len(relation["short_formula"])  # the full formula is kept


def test_dutch_book_certificate_loses_in_every_world():
    result = audit(make_suite(), lies={"a": "consistent"})
    book = next(c for c in result.conflicts if c.certificate["kind"] == "dutch-book").certificate
    assert book["method"] == "simplex"
    assert book["guaranteed_loss"] == pytest.approx(book["r1"])
    assert min(w["loss"] for w in book["loss_per_world"]) == pytest.approx(book["r1"])
    assert {row["claim"] for row in book["bets"]} == {"a", "b", "ab", "na", "aob"}
    assert all(-1 <= row["stake"] <= 1 for row in book["bets"])
    # the table is enough to check by hand: recompute the loss in each listed world
    for world in book["loss_per_world"]:
        loss = sum(row["stake"] * (row["credence"] - (row["claim"] in world["true"])) for row in book["bets"])
        assert loss == pytest.approx(world["loss"])


def test_unanswered_claims_are_skipped_and_counted():
    suite = make_suite()
    check = LogicCheck()
    answers = elicit(ScriptedAdapter(suite), list(check.queries(suite)))
    answers.credences.pop(suite.query("b").prompt)
    answers.credences.pop(suite.conditional_query(suite.conditionals[0]).prompt)
    result = check.run(suite, answers, RunContext())
    assert result.details["claims_missing"] == 2
    assert result.metrics["claims_missing"] == 2
    assert "b" not in result.claim_scores and "a" in result.claim_scores
    assert result.metrics["components"] == 1  # g and w are no longer linked


def test_nothing_answered_skips_with_a_reason():
    result = audit(make_suite(), answers=Answers())
    assert result.skipped and "relation" in result.skipped
    assert result.metrics["claims_missing"] == 8


def test_self_contradictory_relations_are_a_warning_not_a_crash():
    suite = make_suite([Relation("r_bad1", "g -> !w"), Relation("r_bad2", "g"), Relation("r_bad3", "w")])
    result = audit(suite)
    assert result.details["relations_unsatisfiable"] == [["r_bad1", "r_bad2", "r_bad3"]]
    assert "warning" in result.details
    assert result.metrics["components"] == 1


def test_conditional_lie_is_caught():
    suite = make_suite()
    check = LogicCheck()
    answers = elicit(ScriptedAdapter(suite, confidence=0.99, jitter=0.0), list(check.queries(suite)))
    # the model is sure it rained and the street is wet, yet says P(wet | rained) = 0.3
    answers = answers.with_beliefs({suite.conditional_query(suite.conditionals[0]): 0.3})
    result = check.run(suite, answers, RunContext())
    core = next(c for c in result.conflicts if c.certificate["kind"] == "unsat-core")
    assert sorted(core.claims) == ["c_wet", "g", "w"]
    assert "supposing" in core.certificate["summary"]
    # the least confident answer in the core is the cheapest flip, so it takes the blame
    assert result.details["worst_components"][0]["maxsat_flips"] == ["c_wet"]
    assert max(result.claim_scores, key=result.claim_scores.get) == "c_wet"


def test_relation_views_are_the_pairwise_formulas():
    suite = make_suite()
    views = relation_views(suite, {"a": 0.9, "b": 0.8, "ab": 0.9, "na": 0.3, "aob": 0.7})
    assert views["and"] == [pytest.approx(0.1)]  # P(ab) - min(P(a), P(b))
    assert views["negation"] == [pytest.approx(0.2)]
    assert views["or"] == [pytest.approx(0.2)]  # max(P(a), P(b)) - P(aob)


def test_views_are_labelled_secondary_metrics():
    result = audit(make_suite(), lies={"a": "naive"})
    assert {k for k in result.metrics if k.startswith("view_")} == {"view_and_mean", "view_negation_mean", "view_or_mean"}


def test_honest_jitter_is_slight_incoherence_without_boolean_conflict():
    # confident honest answers with +-0.05 noise: no answer is wrong, but credences wobble
    result = audit(make_suite())
    assert result.metrics["unsat_components"] == 0
    assert 0 < result.metrics["r1"] < 0.2
    assert all(c.certificate["kind"] == "dutch-book" and c.severity < 0.2 for c in result.conflicts)


def test_a_900_term_disjunction_answered_no_throughout_is_checked_in_a_moment():
    """Issue 12: `p0 | ... | p899` with every answer 0.01. The check took 9-13 CPU s, nearly
    all of it MARCO shrinking the one 900-answer MUS by 900 z3 checks of 900 assumptions (1.1 s
    now that the assumptions skip z3's casts); the clause's closed forms (repair and Boolean
    analysis) take 0.05 s. The bound is in CPU seconds, 15x that, for a slow machine."""
    import time

    ids = [f"p{i}" for i in range(900)]
    suite = Suite("chain", {pid: Proposition(pid, f"statement {pid}") for pid in ids}, [Relation("r1", " | ".join(ids))])
    answers = Answers(credences={suite.query(pid).prompt: 0.01 for pid in ids})
    start = time.process_time()
    result = LogicCheck().run(suite, answers, RunContext())
    assert time.process_time() - start < 0.75
    assert result.metrics["unsat_components"] == 1 and result.metrics["maxsat_flips"] == 1
    assert result.metrics["r1"] == 0.0  # 900 x 0.01 >= 1: coherent, yet every answer is "no"
    (core,) = result.conflicts
    assert sorted(core.claims) == sorted(ids) and core.certificate["relations"][0]["id"] == "r1"
    assert result.details["worst_components"][0]["cores_complete"] is True
