"""The contradiction graph: claims, internal evidence and the conflicts that bind them.

Three kinds of node:

- **claim**: one stated answer. A conflict may name a proposition (``p1``) or a phrasing
  (``p1#v2:is-false``); the primary phrasing's key is folded into the proposition's node so
  that a probe conflict on ``p1`` and a cross-examination conflict on ``p1#v0:is-true`` meet.
- **evidence**: a reading of the model's internals (a probe, a weak-to-strong copy) that a
  stated claim contradicts; it comes from conflicts of checks that read hidden states.
- **conflict**: a hyperedge, joined to every claim (and evidence node) it involves, carrying
  its check, severity and certificate.

Phrasings of one proposition are joined to each other, so a web holds everything said about
the claims it contains. Webs are the connected components that hold a conflict, ranked by
their total severity.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

import networkx as nx

from checks.base import CheckResult
from consistency.answers import Answers
from consistency.suite import Suite

CLAIM, EVIDENCE, CONFLICT = "claim", "evidence", "conflict"


def proposition_of(ref: str) -> str:
    """The proposition (or conditional) id a claim reference is about: ``p1#v2:x`` -> ``p1``."""
    return ref.split("#", 1)[0]


def claim_node_id(ref: str, suite: Suite) -> str:
    """Canonical node id: the primary phrasing's key is the proposition itself."""
    pid, sep, rest = ref.partition("#")
    if sep and rest == f"v0:{suite.primary_framing.name}":
        return pid
    return ref


def _claim_attributes(node: str, suite: Suite, answers: Answers) -> dict[str, Any]:
    pid = proposition_of(node)
    attrs: dict[str, Any] = {"kind": CLAIM, "proposition": pid, "variant": None, "framing": None,
                             "text": "", "belief": None, "truth": None, "split": None}
    prop = suite.propositions.get(pid)
    conditional = next((c for c in suite.conditionals if c.id == pid), None)
    if prop is not None:
        variant, framing = 0, suite.primary_framing.name
        if "#" in node:
            head, _, framing = node.split("#", 1)[1].partition(":")
            variant = int(head[1:]) if head[1:].isdigit() else 0
        if variant < len(prop.phrasings) and framing in {f.name for f in suite.framings}:
            attrs["belief"] = answers.belief(suite.query(pid, variant, framing))
            attrs["text"] = prop.phrasings[variant]
        else:  # a phrasing this suite does not render: keep the canonical text
            attrs["text"] = prop.text
        attrs.update(variant=variant, framing=framing, truth=prop.truth, split=prop.split)
    elif conditional is not None:
        given, then = suite.propositions[conditional.given], suite.propositions[conditional.then]
        attrs["text"] = f"P({then.text} | {given.text})"
        attrs["belief"] = answers.belief(suite.conditional_query(conditional))
    return attrs


def build_graph(
    suite: Suite,
    answers: Answers,
    results: Mapping[str, CheckResult],
    evidence_checks: Iterable[str] = (),
    min_severity: float = 0.0,
) -> nx.Graph:
    """The contradiction graph of every conflict at or above ``min_severity``.

    ``evidence_checks`` name the checks whose conflicts oppose a stated claim to an internal
    reading (those that read hidden states); their conflicts also get an evidence node.
    """
    evidence_checks = set(evidence_checks)
    graph = nx.Graph()
    for check in sorted(results):
        result = results[check]
        if result.skipped:
            continue
        for index, conflict in enumerate(result.conflicts):
            if conflict.severity < min_severity:
                continue
            claims = sorted({claim_node_id(ref, suite) for ref in conflict.claims})
            cid = f"conflict:{check}:{index}"
            graph.add_node(cid, kind=CONFLICT, check=check, severity=float(conflict.severity),
                           certificate=conflict.certificate, claims=claims)
            for node in claims:
                if node not in graph:
                    graph.add_node(node, **_claim_attributes(node, suite, answers))
                graph.add_edge(cid, node, role=CLAIM)
            if check in evidence_checks:
                for pid in sorted({proposition_of(node) for node in claims}):
                    eid = f"evidence:{check}:{pid}"
                    if eid not in graph:
                        graph.add_node(eid, kind=EVIDENCE, check=check, proposition=pid,
                                       reading=_reading(conflict.certificate))
                    graph.add_edge(cid, eid, role=EVIDENCE)
    _join_phrasings(graph)
    return graph


def _reading(certificate: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar fields of a certificate: what the internal reader said."""
    return {k: v for k, v in certificate.items() if isinstance(v, (int, float, str, bool)) and k != "kind"}


def _join_phrasings(graph: nx.Graph) -> None:
    by_prop: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        if data["kind"] == CLAIM:
            by_prop.setdefault(data["proposition"], []).append(node)
    for nodes in by_prop.values():
        hub, *rest = sorted(nodes, key=lambda n: ("#" in n, n))  # the proposition node first
        graph.add_edges_from((hub, other, {"role": "phrasing"}) for other in rest)


def webs(graph: nx.Graph) -> list[dict[str, Any]]:
    """Connected components holding a conflict, largest total severity first."""
    found = []
    for component in nx.connected_components(graph):
        conflicts = sorted(n for n in component if graph.nodes[n]["kind"] == CONFLICT)
        if not conflicts:
            continue
        claims = sorted(n for n in component if graph.nodes[n]["kind"] == CLAIM)
        found.append({
            "severity": sum(graph.nodes[c]["severity"] for c in conflicts),
            "conflicts": conflicts,
            "claims": claims,
            "evidence": sorted(n for n in component if graph.nodes[n]["kind"] == EVIDENCE),
            "propositions": sorted({graph.nodes[n]["proposition"] for n in claims}),
            "checks": dict(Counter(graph.nodes[c]["check"] for c in conflicts)),
        })
    found.sort(key=lambda w: (-w["severity"], -len(w["conflicts"]), w["claims"][:1]))
    for rank, web in enumerate(found, start=1):
        web["id"] = f"web{rank}"
    return found


def to_json(graph: nx.Graph, found: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``graph`` section of results.json: nodes, edges, webs and counts."""
    web_of = {n: w["id"] for w in found for key in ("conflicts", "claims", "evidence") for n in w[key]}
    nodes = [{"id": n, **data, "web": web_of.get(n)} for n, data in sorted(graph.nodes(data=True))]
    edges = sorted([a, b, data["role"]] if a < b else [b, a, data["role"]] for a, b, data in graph.edges(data=True))
    kinds = Counter(data["kind"] for _, data in graph.nodes(data=True))
    return {
        "nodes": nodes,
        "edges": edges,
        "webs": [{"id": w["id"], **{k: v for k, v in w.items() if k != "id"}} for w in found],
        "counts": {"claims": kinds[CLAIM], "evidence": kinds[EVIDENCE], "conflicts": kinds[CONFLICT],
                   "webs": len(found)},
    }


def from_json(section: Mapping[str, Any]) -> nx.Graph:
    """Rebuild the graph from its results.json section (the report re-renders from it)."""
    graph = nx.Graph()
    for node in section.get("nodes", []):
        graph.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
    for a, b, role in section.get("edges", []):
        graph.add_edge(a, b, role=role)
    return graph
