"""Logic: are the model's answers consistent with the suite's relations, Boolean and probabilistic?

Per connected component of the relation graph: the stated answers as literals (z3 or the
world table decides satisfiability; minimal unsatisfiable cores are conflicts; MaxSAT gives
the cheapest answers to flip) and the credences as probabilities (distance to coherence R1
and R_inf, the repaired credences, the Dutch book). The solvers live in
:mod:`consistency.coherence` and :mod:`consistency.satisfiability`; this module asks, wires
and words. Definitions: checks/docs/logic.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable, Sequence, TypeGuard

import numpy as np

from checks import register
from checks.base import CheckResult, Conflict, RunContext
from consistency.fitcache import FitCache
from consistency import formula as fm
from consistency.answers import Answers
from consistency.coherence import (
    EXACT_WORLDS,
    MAX_WORLDS,
    Claim,
    Component,
    Constraint,
    RelationsUnsatisfiable,
    Repair,
    enumerate_worlds,
    repair_components,
    split_components,
    world_losses,
)
from consistency.satisfiability import BooleanResult, Core, analyse
from consistency.suite import Query, Suite

INCOHERENT = 1e-9  # R1 above this is incoherence (HiGHS's own tolerance; exact paths are exact)
WORLD_ROWS = 32  # loss-per-world tables list every world up to this many
DETAIL_COMPONENTS = 200  # components described in details, worst first


@register("logic")
class LogicCheck:
    name = "logic"
    needs_hidden = False
    local = True

    def __init__(self, max_cores: int = 20, max_worlds: int = MAX_WORLDS, exact_worlds: int = EXACT_WORLDS):
        self.max_cores = max_cores
        self.max_worlds = max_worlds
        self.exact_worlds = exact_worlds

    # ----- asking -------------------------------------------------------------------
    @staticmethod
    def involved(suite: Suite) -> list[str]:
        """Propositions a relation or a conditional mentions, in suite order."""
        named = set().union(*(r.atoms for r in suite.relations))
        named |= {name for c in suite.conditionals for name in (c.given, c.then)}
        return [pid for pid in suite.propositions if pid in named]

    def queries(self, suite: Suite) -> Iterable[Query]:
        for pid in self.involved(suite):
            yield suite.query(pid)
        for conditional in suite.conditionals:
            yield suite.conditional_query(conditional)

    # ----- running ------------------------------------------------------------------
    def run(self, suite: Suite, answers: Answers, context: RunContext) -> CheckResult:
        result = CheckResult(self.name)
        claims, missing = read_claims(suite, answers, self.involved(suite))
        constraints = [Constraint(r.id, r.tree, r.source, r.atoms) for r in suite.relations]
        assessed = assess(split_components(constraints, claims), self.max_worlds, self.exact_worlds, self.max_cores,
                          context.fits)
        broken = [a for a in assessed if isinstance(a, RelationsUnsatisfiable)]
        kept = [a for a in assessed if not isinstance(a, RelationsUnsatisfiable)]
        repairs = [a.repair for a in kept]
        booleans = [a.boolean for a in kept]

        # a scores-only run (the ladder's re-runs) words no certificate: its conflicts are read
        # for their claims and severity alone
        describe = None if context.scores_only else _Describer(suite)
        rows = []
        for index, assessment in enumerate(kept):
            component, repair, boolean = assessment.component, assessment.repair, assessment.boolean
            for claim, d in zip(component.claims, repair.deviation):
                result.claim_scores[claim.id] = float(min(1.0, abs(d)))
            for i in boolean.flips:
                lit = boolean.literals[i]
                confidence = abs(2 * lit.claim.credence - 1)
                result.claim_scores[lit.claim.id] = max(result.claim_scores[lit.claim.id] or 0.0, confidence)
            for core in boolean.cores:
                result.conflicts.append(self._core_conflict(core, boolean, describe))
            if repair.r1 > INCOHERENT:
                result.conflicts.append(self._dutch_book(component, assessment.worlds, repair, describe))
            if describe is not None and (repair.r1 > INCOHERENT or not boolean.satisfiable):
                rows.append(_component_row(index, component, repair, boolean))
        if context.scores_only:  # no metrics, views or details either
            return result

        r1s = [r.r1 for r in repairs]
        views = relation_views(suite, {c.id: c.credence for c in claims})
        result.metrics = {
            "r1": float(sum(r1s)),
            "r_inf": float(max(r.r_inf for r in repairs)) if repairs else 0.0,
            "incoherent_components": float(sum(r > INCOHERENT for r in r1s)),
            "unsat_components": float(sum(not b.satisfiable for b in booleans)),
            "maxsat_flips": float(sum(len(b.flips) for b in booleans)),
            "maxsat_cost": float(sum(b.flip_cost for b in booleans)),
            "components": float(len(kept)),
            "claims_missing": float(missing),
            **{f"view_{kind}_mean": float(np.mean(values)) for kind, values in sorted(views.items())},
        }
        rows.sort(key=lambda row: -row["r1"])
        result.details = {
            "claims": len(claims),
            "claims_missing": missing,
            "components": len(kept),
            "methods": dict(Counter(r.method for r in repairs)),
            "column_generation_rounds": [r.iterations for r in repairs if r.method == "column-generation"],
            "relations_unsatisfiable": [list(a.relation_ids) for a in broken],
            "blame": {c.id: float(abs(d)) for a in kept for c, d in zip(a.component.claims, a.repair.deviation)},
            "worst_components": rows[:DETAIL_COMPONENTS],
            "views": {kind: {"mean": float(np.mean(v)), "max": float(np.max(v)), "n": len(v)} for kind, v in sorted(views.items())},
        }
        if broken:
            result.details["warning"] = f"{len(broken)} component(s) have relations that no world satisfies; they were skipped"
        if not kept:
            result.skipped = "no answered claim is linked to another by a relation or conditional" if not broken else "every component's relations contradict each other"
        return result

    # ----- certificates -----------------------------------------------------------------
    def _core_conflict(self, core: Core, boolean: BooleanResult, describe: "_Describer | None") -> Conflict:
        """An unsatisfiable core as a conflict; without ``describe`` (a scores-only run) its claims
        and severity alone."""
        literals = [boolean.literals[i] for i in core.literals]
        severity = min(abs(2 * lit.claim.credence - 1) for lit in literals)
        if describe is None:
            return Conflict(self.name, [lit.claim.id for lit in literals], float(severity), {"kind": "unsat-core"})
        answers = [
            {
                "claim": lit.claim.id,
                "statement": describe.claim(lit.claim),
                "credence": lit.claim.credence,
                "says": "true" if lit.value else "false",
            }
            for lit in literals
        ]
        relations = [describe.relation(rid) for rid in core.relations]
        said = "; ".join(f"{a['statement']} is {a['says']} ({a['credence']:.2f})" for a in answers)
        rules = "; ".join(r["in_words"] for r in relations) or "no relation (the answers contradict each other directly)"
        return Conflict(
            self.name,
            [lit.claim.id for lit in literals],
            float(severity),
            {
                "kind": "unsat-core",
                "summary": f"The model says: {said}. These cannot all hold given: {rules}.",
                "answers": answers,
                "relations": relations,
            },
        )

    def _dutch_book(self, component: Component, worlds: np.ndarray | None, repair: Repair,
                    describe: "_Describer | None") -> Conflict:
        """An incoherent component's Dutch book as a conflict; without ``describe`` (a scores-only
        run) the claims it blames and its severity alone."""
        involved = blamed_claims(component, repair)
        if describe is None:
            return Conflict(self.name, involved, float(min(1.0, repair.r1)), {"kind": "dutch-book"})
        repaired = repair.repaired(component)
        table = [
            {
                "claim": claim.id,
                "statement": describe.claim(claim),
                "credence": claim.credence,
                "stake": float(stake),
                "repaired": q,
                **({"stake_exact": str(repair.exact.stakes[j])} if repair.exact else {}),
            }
            for j, (claim, stake, q) in enumerate(zip(component.claims, repair.stakes, repaired))
        ]
        certificate: dict[str, Any] = {
            "kind": "dutch-book",
            "blamed": involved,
            "summary": (
                f"Buying each bet below at the model's own credence (a negative stake sells it) loses at least "
                f"{repair.guaranteed_loss:.4f} whatever is true; the nearest coherent credences are "
                f"{repair.r1:.4f} away in total (L1)."
            ),
            "bets": table,
            "guaranteed_loss": repair.guaranteed_loss,
            "r1": repair.r1,
            "r_inf": repair.r_inf,
            "method": repair.method,
        }
        if repair.exact:
            certificate["exact"] = {"r1": str(repair.exact.r1), "guaranteed_loss": str(repair.exact.guaranteed_loss)}
        if worlds is not None and len(worlds) <= WORLD_ROWS:
            losses = world_losses(component, repair.stakes, worlds)
            certificate["loss_per_world"] = [
                {"true": [a for a, v in zip(component.atoms, world) if v], "loss": float(loss)}
                for world, loss in zip(worlds, losses)
            ]
        return Conflict(self.name, involved, float(min(1.0, repair.r1)), certificate)


def blamed_claims(component: Component, repair: Repair) -> list[str]:
    """The claims a Dutch book blames: those the L1 repair moves by at least half its largest
    move (at least one claim).

    The book's bets span the whole component (an exclusivity over 28 claims stakes on all 28),
    but the nearest coherent credences change only a few of them by much: those are the answers
    that would have to change. Ties at the largest move are all kept, so a book whose repair is
    spread evenly (no claim stands out) still names every claim it moves.
    """
    moves = np.abs(np.asarray(repair.deviation, dtype=float))
    if not len(moves):
        return []
    largest = float(moves.max())
    if largest <= INCOHERENT:  # no repair to speak of: blame the largest stakes
        stakes = np.abs(np.asarray(repair.stakes, dtype=float))
        return [c.id for c, s in zip(component.claims, stakes) if s > 0 and s >= stakes.max() - 1e-12]
    return [c.id for c, m in zip(component.claims, moves) if m >= 0.5 * largest]


@dataclass
class Assessment:
    """One component's probabilistic repair and Boolean analysis."""

    component: Component
    worlds: np.ndarray | None  # its enumerated worlds (None: too many, column generation)
    repair: Repair
    boolean: BooleanResult


def assess(components: Sequence[Component], max_worlds: int, exact_worlds: int, max_cores: int,
           fits: FitCache | None = None) -> list[Assessment | RelationsUnsatisfiable]:
    """Repair and Boolean analysis of every component, in input order.

    Components are independent: to use several cores, split them and call this per part.
    ``fits`` remembers each component's worlds (a function of its relations) and Boolean
    analysis (of its relations and answers) for the audit: the ladder's re-runs meet the same
    components again and again. The repairs are solved many components to one LP, whose
    optimum among equals depends on the company a component keeps, so they are not kept.
    """
    fits = fits if fits is not None else FitCache(enabled=False)  # an empty cache is falsy
    out: list[Assessment | RelationsUnsatisfiable | None] = [None] * len(components)
    kept, worlds = [], []
    relations_of = []
    for i, component in enumerate(components):
        # formula trees by token: hashing them node by node was a tenth of the ladder's re-runs
        relations = tuple((c.id, fits.token(c.tree), c.source) for c in component.constraints)
        relations_of.append(relations)
        enumerated = fits.memo(("logic-worlds", component.atoms, relations, max_worlds), None,
                               partial(_worlds_or_error, component, max_worlds))
        if isinstance(enumerated, RelationsUnsatisfiable):
            out[i] = enumerated
        else:
            worlds.append(enumerated)
            kept.append(i)
    repairs = repair_components([components[i] for i in kept], exact_worlds=exact_worlds, worlds=worlds)
    for i, repair, enumerated in zip(kept, repairs, worlds):
        assert isinstance(repair, Repair)
        component = components[i]
        boolean = fits.memo(("logic-boolean", component.atoms, relations_of[i], component.claims, max_cores), None,
                            partial(analyse, component, enumerated, max_cores))
        out[i] = Assessment(component, enumerated, repair, boolean)
    return out  # type: ignore[return-value]


def _worlds_or_error(component: Component, max_worlds: int) -> np.ndarray | None | RelationsUnsatisfiable:
    """The component's worlds (None: too many), or the error saying it has none."""
    try:
        return enumerate_worlds(component, max_worlds)
    except RelationsUnsatisfiable as exc:
        return exc


def read_claims(suite: Suite, answers: Answers, propositions: list[str]) -> tuple[list[Claim], int]:
    """Each proposition's and each conditional's stated credence; unanswered ones are counted."""
    claims, missing = [], 0
    for pid in propositions:
        belief = answers.belief(suite.query(pid))
        if belief is None:
            missing += 1
        else:
            claims.append(Claim(pid, float(belief), pid))
    for conditional in suite.conditionals:
        belief = answers.belief(suite.conditional_query(conditional))
        if belief is None:
            missing += 1
        else:
            claims.append(Claim(conditional.id, float(belief), conditional.then, conditional.given))
    return claims, missing


def _component_row(index: int, component: Component, repair: Repair, boolean: BooleanResult) -> dict[str, Any]:
    return {
        "component": index,
        "claims": [c.id for c in component.claims],
        "relations": [c.id for c in component.constraints],
        "worlds": repair.n_worlds,
        "r1": repair.r1,
        "r_inf": repair.r_inf,
        "method": repair.method,
        "satisfiable": boolean.satisfiable,
        "cores": len(boolean.cores),
        "cores_complete": boolean.cores_complete,
        "maxsat_flips": [boolean.literals[i].claim.id for i in boolean.flips],
        "maxsat_cost": boolean.flip_cost,
    }


class _Describer:
    """Claims and relations in plain words, with the suite's statement texts."""

    def __init__(self, suite: Suite):
        self.texts = {pid: p.text for pid, p in suite.propositions.items()}
        self.relations = {r.id: r for r in suite.relations}

    def claim(self, claim: Claim) -> str:
        then = f'"{self.texts[claim.then]}"'
        return then if claim.given is None else f'{then}, supposing "{self.texts[claim.given]}"'

    def relation(self, relation_id: str) -> dict[str, str]:
        relation = self.relations[relation_id]
        return {
            "id": relation.id,
            "source": relation.source,
            "formula": relation.formula,
            "short_formula": fm.to_short_string(relation.tree),
            "in_words": self.words(relation.tree),
        }

    def words(self, tree: fm.Formula, top: bool = True) -> str:
        exclusive = fm.exactly_one_of(tree)
        if exclusive:
            return "exactly one of " + ", ".join(f'"{self.texts.get(i, i)}"' for i in exclusive)
        if isinstance(tree, fm.Var):
            return f'"{self.texts.get(tree.name, tree.name)}"'
        if isinstance(tree, fm.Not):
            return f"not {self.words(tree.arg, False)}"
        left, right = self.words(tree.left, False), self.words(tree.right, False)
        text = {
            "&": f"{left} and {right}",
            "|": f"{left} or {right}",
            "->": f"if {left} then {right}",
            "<->": f"{left} if and only if {right}",
        }[tree.op]
        return text if top else f"({text})"


# ===== secondary: per-relation violation views (consistency-forecasting style) ============


def relation_views(suite: Suite, credences: dict[str, float]) -> dict[str, list[float]]:
    """Violation of each recognisable relation by the credences, grouped by kind.

    Secondary, pairwise metrics (Paleka et al.'s basic checks): negation |P(a) + P(b) - 1|,
    paraphrase |P(a) - P(b)|, and max(P(a) + P(b) - 1 - P(c), P(c) - min(P(a), P(b)), 0),
    or max(max(P(a), P(b)) - P(c), P(c) - P(a) - P(b), 0), implication max(0, P(a) - P(b)),
    conditional |P(g) P(t | g) - P(g & t)| where a relation names ``g & t``.
    """
    views: dict[str, list[float]] = {}
    conjunctions: dict[frozenset[str], str] = {}
    for relation in suite.relations:
        found = _view(relation.tree, credences)
        if found:
            views.setdefault(found[0], []).append(found[1])
        tree = relation.tree
        if isinstance(tree, fm.BinOp) and tree.op == "<->" and isinstance(tree.left, fm.Var):
            parts = tree.right
            if (
                isinstance(parts, fm.BinOp) and parts.op == "&"
                and isinstance(parts.left, fm.Var) and isinstance(parts.right, fm.Var)
            ):
                conjunctions[frozenset((parts.left.name, parts.right.name))] = tree.left.name
    for conditional in suite.conditionals:
        both = conjunctions.get(frozenset((conditional.given, conditional.then)))
        if both is None:
            continue
        names = (conditional.given, conditional.id, both)
        if all(n in credences for n in names):
            g, c, gt = (credences[n] for n in names)
            views.setdefault("conditional", []).append(abs(g * c - gt))
    return views


def _view(tree: fm.Formula, p: dict[str, float]) -> tuple[str, float] | None:
    def var(t: fm.Formula) -> TypeGuard[fm.Var]:
        return isinstance(t, fm.Var) and t.name in p

    if isinstance(tree, fm.BinOp) and tree.op == "->" and var(tree.left) and var(tree.right):
        return "implication", max(0.0, p[tree.left.name] - p[tree.right.name])
    if isinstance(tree, fm.Not) and isinstance(tree.arg, fm.BinOp) and tree.arg.op == "<->" and var(tree.arg.left) and var(tree.arg.right):
        return "negation", abs(p[tree.arg.left.name] + p[tree.arg.right.name] - 1)
    if not (isinstance(tree, fm.BinOp) and tree.op == "<->" and var(tree.left)):
        return None
    a, right = p[tree.left.name], tree.right
    if var(right):
        return "paraphrase", abs(a - p[right.name])
    if isinstance(right, fm.Not) and var(right.arg):
        return "negation", abs(a + p[right.arg.name] - 1)
    if isinstance(right, fm.BinOp) and right.op in "&|" and var(right.left) and var(right.right):
        x, y = p[right.left.name], p[right.right.name]
        if right.op == "&":
            return "and", max(x + y - 1 - a, a - min(x, y), 0.0)
        return "or", max(max(x, y) - a, a - x - y, 0.0)
    return None
