"""The contradiction graph, its webs, the minimum retraction set and suspicion scores."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from checks.base import CheckResult, Conflict
from consistency import graph as cg
from consistency.schema import Graph
from consistency.answers import Answers
from consistency.retraction import _greedy, minimum_hitting_set, retraction_set, retraction_weight
from consistency.suite import Conditional, Proposition, Suite


def small_suite() -> Suite:
    props = {f"p{i}": Proposition(f"p{i}", f"statement {i}", (f"also statement {i}",), i % 2 == 0) for i in range(1, 7)}
    return Suite("graph-test", props, conditionals=[Conditional("c1", "p1", "p2")])


def answers_for(suite: Suite, beliefs: dict[str, float]) -> Answers:
    answers = Answers()
    for pid, belief in beliefs.items():
        answers.credences[suite.query(pid).prompt] = belief
    return answers


def conflict(check: str, claims: list[str], severity: float, **certificate) -> Conflict:
    return Conflict(check, claims, severity, {"kind": "test", "summary": f"{check} on {claims}", **certificate})


def scenario():
    suite = small_suite()
    answers = answers_for(suite, {"p1": 0.9, "p2": 0.2, "p3": 0.6, "p4": 0.95, "p5": 0.7})
    results = {
        "xexam": CheckResult("xexam", conflicts=[
            conflict("xexam", ["p1#v0:is-true", "p1#v1:is-false"], 0.8)]),
        "logic": CheckResult("logic", conflicts=[
            conflict("logic", ["p1", "p2"], 0.6), conflict("logic", ["p3", "p4"], 0.3),
            conflict("logic", ["p5", "p6"], 0.05)],
            claim_scores={"p6": 0.4}),
        "probe": CheckResult("probe", conflicts=[conflict("probe", ["p2"], 0.9, reading=0.1, belief=0.2)]),
        "idle": CheckResult("idle", skipped="no hidden states"),
    }
    return suite, answers, results


def test_claim_nodes_fold_the_primary_phrasing_into_the_proposition():
    suite, answers, results = scenario()
    graph = cg.build_graph(suite, answers, results, evidence_checks=["probe"])
    assert graph.nodes["p1"]["kind"] == cg.CLAIM and "p1#v0:is-true" not in graph
    phrasing = graph.nodes["p1#v1:is-false"]
    assert (phrasing["proposition"], phrasing["variant"], phrasing["framing"]) == ("p1", 1, "is-false")
    assert phrasing["text"] == "also statement 1" and phrasing["belief"] is None  # never asked
    assert graph.nodes["p1"]["belief"] == 0.9
    assert graph.has_edge("p1", "p1#v1:is-false") and graph.edges["p1", "p1#v1:is-false"]["role"] == "phrasing"


def test_evidence_nodes_come_from_checks_that_read_hidden_states():
    suite, answers, results = scenario()
    graph = cg.build_graph(suite, answers, results, evidence_checks=["probe"])
    evidence = [n for n, d in graph.nodes(data=True) if d["kind"] == cg.EVIDENCE]
    assert evidence == ["evidence:probe:p2"]
    assert graph.nodes["evidence:probe:p2"]["reading"] == {"summary": "probe on ['p2']", "reading": 0.1, "belief": 0.2}
    assert graph.has_edge("conflict:probe:0", "evidence:probe:p2")


def test_webs_are_components_ranked_by_total_severity():
    suite, answers, results = scenario()
    graph = cg.build_graph(suite, answers, results, evidence_checks=["probe"], min_severity=0.1)
    found = cg.webs(graph)
    assert [w["id"] for w in found] == ["web1", "web2"]
    assert found[0]["propositions"] == ["p1", "p2"] and found[0]["severity"] == 0.8 + 0.6 + 0.9
    assert found[0]["checks"] == {"logic": 1, "probe": 1, "xexam": 1}
    assert found[1]["propositions"] == ["p3", "p4"]
    assert "conflict:logic:2" not in graph  # under min_severity
    assert all("idle" not in w["checks"] for w in found)


def test_json_round_trip():
    suite, answers, results = scenario()
    graph = cg.build_graph(suite, answers, results, evidence_checks=["probe"])
    section = cg.section(graph, cg.webs(graph))
    back = cg.from_section(Graph.model_validate_json(section.model_dump_json()))
    assert set(back.nodes) == set(graph.nodes) and set(map(frozenset, back.edges)) == set(map(frozenset, graph.edges))
    assert section.counts.model_dump() == {"claims": 7, "evidence": 1, "conflicts": 5, "webs": 3}
    assert {n.id: n.web for n in section.nodes}["p5"] == "web3"


def test_conditional_claims_show_both_ends():
    suite = small_suite()
    results = {"logic": CheckResult("logic", conflicts=[conflict("logic", ["c1", "p3"], 0.5)])}
    graph = cg.build_graph(suite, answers_for(suite, {}), results)
    assert graph.nodes["c1"]["text"] == "P(statement 2 | statement 1)"


# ----- the minimum retraction set -----------------------------------------------------------


def brute_force(sets, weights):
    items = sorted(set().union(*sets))
    best = None
    for r in range(len(items) + 1):
        for subset in itertools.combinations(items, r):
            if all(s & set(subset) for s in sets):
                cost = sum(weights[i] for i in subset)
                best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=40, deadline=None)
@given(st.lists(st.frozensets(st.sampled_from("abcdefg"), min_size=1, max_size=3), min_size=1, max_size=8),
       st.lists(st.floats(0.5, 1.0), min_size=7, max_size=7))
def test_hitting_set_is_minimum(sets, costs):
    weights = dict(zip("abcdefg", costs))
    chosen, exact = minimum_hitting_set(sets, weights)
    assert exact and all(s & chosen for s in sets)
    # z3 optimises weights rounded to thousandths
    assert sum(weights[i] for i in chosen) <= brute_force(sets, weights) + 0.01


def test_greedy_fallback_covers_everything():
    sets = [frozenset("ab"), frozenset("bc"), frozenset("cd"), frozenset("e")]
    chosen = _greedy(sets, {k: 1.0 for k in "abcde"})
    assert all(s & chosen for s in sets)


def test_less_confident_answers_are_retracted_first():
    assert retraction_weight(0.9) == retraction_weight(0.1) == 0.9 and retraction_weight(None) == 1.0
    chosen, _ = minimum_hitting_set([frozenset({"x", "y"})], {"x": 0.95, "y": 0.6})
    assert chosen == {"y"}


def test_retraction_set_and_suspicion():
    suite, answers, results = scenario()
    graph = cg.build_graph(suite, answers, results, evidence_checks=["probe"], min_severity=0.1)
    found = cg.webs(graph)
    section = retraction_set(graph, found, results, suite.propositions)
    json.dumps(section, allow_nan=False)
    # p2 is forced by the probe and also resolves a logic conflict; the cross-examination
    # conflict is cheapest resolved by p1 (0.9; the unasked phrasing costs 1); p3 (belief 0.6)
    # is cheaper to retract than p4 (0.95)
    assert {m["claim"] for m in section["claims"]} == {"p1", "p2", "p3"}
    assert [m["claim"] for m in section["claims"]][0] == "p2"  # the most severe first
    assert section["exact"] and section["size"] == 3
    assert section["ranking"][:3] == ["p2", "p1", "p3"]
    suspicion = section["suspicion"]
    assert set(suspicion) == set(suite.propositions)
    # its own probe conflict (0.9) and half of the logic conflict it shares with retracted p1 (0.6 / 2)
    assert suspicion["p2"] == round(1 - (1 - 0.9) * (1 - 0.3), 6)
    assert suspicion["p4"] == 0.0 and suspicion["p6"] == 0.4  # a claim score alone
    assert "p6" in section["ranking"] and section["ranking"].index("p6") > 2
