"""The minimum retraction set and per-claim suspicion.

Retracting a stated claim resolves every conflict it takes part in. The minimum retraction
set is the cheapest set of claims that meets every conflict: a weighted hitting set. The
cost of retracting a claim is the probability the model put on its own answer
(``max(b, 1 - b)``, in [0.5, 1]), so among equally small sets the least confident answers
go first. It is solved exactly with z3 per independent group of conflicts; a group that
runs past the time limit falls back to a greedy cover and the result says so.

Suspicion of a proposition is the strongest single piece of evidence against it: its share
of the severity of each conflict it was retracted to resolve (combined as a noisy-or), or
a check's own score for it, whichever is larger.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import networkx as nx
import z3

from checks.base import CheckResult
from consistency.graph import CLAIM, CONFLICT

WEIGHT_SCALE = 1000  # z3 optimises integer weights; three decimals of confidence are plenty


def retraction_weight(belief: float | None) -> float:
    """The cost of retracting an answer: the probability the model put on it."""
    return 1.0 if belief is None else max(belief, 1.0 - belief)


def minimum_hitting_set(
    sets: list[frozenset[str]], weights: Mapping[str, float], timeout_ms: int = 10_000
) -> tuple[set[str], bool]:
    """The cheapest set of elements meeting every set in ``sets``; and whether it is optimal.

    Singletons are forced first and the rest split into independent groups, so z3 only sees
    the part where there is a real choice.
    """
    chosen = {next(iter(s)) for s in sets if len(s) == 1}
    rest = [s for s in sets if s and not (s & chosen)]
    exact = True
    overlap = nx.Graph()
    for index, members in enumerate(rest):
        overlap.add_node(("set", index))
        overlap.add_edges_from((("set", index), ("item", m)) for m in members)
    for group in nx.connected_components(overlap):
        group_sets = [rest[i] for kind, i in group if kind == "set"]
        picked, optimal = _solve_group(group_sets, weights, timeout_ms)
        chosen |= picked
        exact &= optimal
    return chosen, exact


def _solve_group(sets: list[frozenset[str]], weights: Mapping[str, float], timeout_ms: int) -> tuple[set[str], bool]:
    items = sorted(set().union(*sets))
    atoms = {item: z3.Bool(f"r{i}") for i, item in enumerate(items)}
    opt = z3.Optimize()
    opt.set("timeout", timeout_ms)
    for members in sets:
        opt.add(z3.Or([atoms[m] for m in sorted(members)]))
    for item in items:
        opt.add_soft(z3.Not(atoms[item]), max(1, round(weights.get(item, 1.0) * WEIGHT_SCALE)))
    outcome = opt.check()
    if outcome != z3.unsat:
        # on a timeout z3 may still hold its best model so far: valid, but maybe not optimal
        try:
            model = opt.model()
        except z3.Z3Exception:
            return _greedy(sets, weights), False
        picked = {item for item in items if z3.is_true(model.eval(atoms[item], model_completion=True))}
        if all(members & picked for members in sets):
            return picked, outcome == z3.sat
    return _greedy(sets, weights), False


def _greedy(sets: list[frozenset[str]], weights: Mapping[str, float]) -> set[str]:
    """Classic ratio greedy: repeatedly take the item hitting most open sets per unit cost."""
    open_sets, picked = list(sets), set()
    while open_sets:
        counts: dict[str, int] = {}
        for members in open_sets:
            for m in members:
                counts[m] = counts.get(m, 0) + 1
        best = max(sorted(counts), key=lambda m: counts[m] / weights.get(m, 1.0))
        picked.add(best)
        open_sets = [s for s in open_sets if best not in s]
    return picked


def retraction_set(
    graph: nx.Graph,
    found_webs: list[dict[str, Any]],
    results: Mapping[str, CheckResult],
    propositions: Iterable[str],
    timeout_ms: int = 10_000,
) -> dict[str, Any]:
    """The ``retraction_set`` section of results.json.

    ``propositions`` are every proposition id of the suite: each gets a suspicion score.
    """
    weights = {n: retraction_weight(d["belief"]) for n, d in graph.nodes(data=True) if d["kind"] == CLAIM}
    web_of = {c: w["id"] for w in found_webs for c in w["conflicts"]}
    conflict_sets = {
        n: frozenset(m for m in graph.neighbors(n) if graph.nodes[m]["kind"] == CLAIM)
        for n, d in graph.nodes(data=True)
        if d["kind"] == CONFLICT
    }
    unresolvable = sorted(c for c, members in conflict_sets.items() if not members)
    chosen, exact = minimum_hitting_set([s for s in conflict_sets.values() if s], weights, timeout_ms)

    members = []
    for node in sorted(chosen):
        resolved = [c for c, s in conflict_sets.items() if node in s]
        members.append({
            "claim": node,
            "proposition": graph.nodes[node]["proposition"],
            "belief": graph.nodes[node]["belief"],
            "weight": weights[node],
            "web": web_of.get(resolved[0]) if resolved else None,
            "conflicts": sorted(resolved),
            "severity": sum(graph.nodes[c]["severity"] for c in resolved),
        })
    members.sort(key=lambda m: (-m["severity"], m["claim"]))

    suspicion = _suspicion(graph, conflict_sets, chosen, results, propositions)
    retracted_props = {m["proposition"] for m in members}
    ranking = sorted((p for p, s in suspicion.items() if s > 0 or p in retracted_props),
                     key=lambda p: (p not in retracted_props, -suspicion[p], p))
    return {
        "claims": members,
        "cost": sum(m["weight"] for m in members),
        "size": len(members),
        "exact": exact,
        "unresolvable": unresolvable,
        "suspicion": suspicion,
        "ranking": ranking,
    }


def _suspicion(
    graph: nx.Graph,
    conflict_sets: Mapping[str, frozenset[str]],
    chosen: set[str],
    results: Mapping[str, CheckResult],
    propositions: Iterable[str],
) -> dict[str, float]:
    clean = {p: 1.0 for p in propositions}  # probability that no blamed conflict is this claim's lie
    for conflict, members in conflict_sets.items():
        blamed = members & chosen
        if not blamed:
            continue
        share = graph.nodes[conflict]["severity"] / len(blamed)
        for node in blamed:
            pid = graph.nodes[node]["proposition"]
            clean[pid] = clean.get(pid, 1.0) * (1.0 - min(1.0, share))
    scores = {p: 1.0 - c for p, c in clean.items()}
    for result in results.values():
        if result.skipped:
            continue
        for pid, score in result.claim_scores.items():
            if pid in scores and score is not None and score == score:  # undefined (NaN) scores carry no evidence
                scores[pid] = max(scores[pid], float(min(1.0, max(0.0, score))))
    return {p: round(s, 6) for p, s in sorted(scores.items())}
