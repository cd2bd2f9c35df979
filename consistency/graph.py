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
from consistency.schema import ClaimRef, Graph, proposition_of
from consistency.suite import Suite

CLAIM, EVIDENCE, CONFLICT = "claim", "evidence", "conflict"


def claim_node_id(key: str, suite: Suite) -> str:
    """Canonical node id: the primary phrasing's key is the proposition itself."""
    return str(ClaimRef.parse(key).canonical(suite.primary_framing.name))


def _claim_attributes(node: str, suite: Suite, answers: Answers) -> dict[str, Any]:
    ref = ClaimRef.parse(node)
    pid = ref.claim
    attrs: dict[str, Any] = {"kind": CLAIM, "proposition": pid, "variant": None, "framing": None,
                             "text": "", "belief": None, "truth": None, "split": None}
    prop = suite.propositions.get(pid)
    conditional = next((c for c in suite.conditionals if c.id == pid), None)
    if prop is not None:
        variant = ref.variant or 0
        framing = ref.framing or suite.primary_framing.name
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
        hub, *rest = sorted(nodes, key=lambda n: (ClaimRef.parse(n).is_phrasing, n))  # the proposition node first
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


def section(graph: nx.Graph, found: list[dict[str, Any]]) -> Graph:
    """The ``graph`` section of results.json: nodes, edges, webs and counts."""
    web_of = {n: w["id"] for w in found for key in ("conflicts", "claims", "evidence") for n in w[key]}
    kinds = Counter(data["kind"] for _, data in graph.nodes(data=True))
    return Graph.model_validate({
        "nodes": [{"id": n, **data, "web": web_of.get(n)} for n, data in sorted(graph.nodes(data=True))],
        "edges": sorted((a, b, data["role"]) if a < b else (b, a, data["role"]) for a, b, data in graph.edges(data=True)),
        "webs": found,
        "counts": {"claims": kinds[CLAIM], "evidence": kinds[EVIDENCE], "conflicts": kinds[CONFLICT], "webs": len(found)},
    })


def from_section(section: Graph) -> nx.Graph:
    """Rebuild the networkx graph from its results.json section (the report re-renders from it)."""
    graph = nx.Graph()
    for node in section.nodes:
        graph.add_node(node.id, **node.model_dump(exclude={"id"}))
    for a, b, role in section.edges:
        graph.add_edge(a, b, role=role)
    return graph
