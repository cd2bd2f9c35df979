"""Decomposition: the composite answer against the recomposition of its parts' answers.

Each decomposition's composite is asked whole, and each part in its own isolated prompt
(factored decomposition: the model never sees its other answers). The parts are the easier
sub-tasks, so the recomposition (the formula applied to the parts' stated answers) is the
reference answer; a composite that disagrees with it is a conflict. The probabilistic gap is
the R1 distance to coherence of {composite, parts} under the formula. Definitions:
checks/docs/decomposition.md.
"""

from __future__ import annotations

from typing import Any, Iterable

from checks import register
from checks.base import CheckResult, Conflict, RunContext
from consistency import formula as fm
from consistency.answers import Answers
from consistency.coherence import Claim, Component, Constraint, RelationsUnsatisfiable, Repair, repair_components
from consistency.suite import Decomposition, Query, Suite

INCOHERENT = 1e-9


def recomposition_formula(decomposition: Decomposition) -> fm.Formula:
    """The constraint binding composite and parts: the formula itself when it names the
    composite (``c <-> (a & b)``), else ``composite <-> formula`` (``a & b``)."""
    tree = decomposition.tree
    if decomposition.composite in fm.variables(tree):
        return tree
    return fm.BinOp("<->", fm.Var(decomposition.composite), tree)


def recompose(decomposition: Decomposition, parts: dict[str, bool]) -> bool | None:
    """The composite's truth value the formula forces given the parts' values, or None
    when the formula leaves it open or no value fits."""
    tree = recomposition_formula(decomposition)
    fits = [value for value in (True, False) if fm.evaluate(tree, {**parts, decomposition.composite: value})]
    return fits[0] if len(fits) == 1 else None


@register("decomposition")
class DecompositionCheck:
    name = "decomposition"
    needs_hidden = False
    local = True

    def queries(self, suite: Suite) -> Iterable[Query]:
        seen: set[str] = set()
        for decomposition in suite.decompositions:
            for pid in (decomposition.composite, *decomposition.parts):
                if pid not in seen:
                    seen.add(pid)
                    yield suite.query(pid)

    def run(self, suite: Suite, answers: Answers, context: RunContext) -> CheckResult:
        result = CheckResult(self.name)
        examined: list[tuple[Decomposition, dict[str, float]]] = []
        missing = 0
        for decomposition in suite.decompositions:
            asked = {pid: answers.belief(suite.query(pid)) for pid in (decomposition.composite, *decomposition.parts)}
            said = {pid: b for pid, b in asked.items() if b is not None}
            if len(said) < len(asked):
                missing += 1
                continue
            examined.append((decomposition, said))
        components = [_component(d, beliefs) for d, beliefs in examined]
        repairs = repair_components(components)

        rows: list[dict[str, Any]] = []
        decided = disagreements = 0
        unsatisfiable: list[str] = []
        for (decomposition, beliefs), component, repair in zip(examined, components, repairs):
            if isinstance(repair, RelationsUnsatisfiable):
                unsatisfiable.append(decomposition.id)
                continue
            assert isinstance(repair, Repair)
            row = self._assess(suite, decomposition, beliefs, component, repair)
            rows.append(row)
            for claim, d in zip(component.claims, repair.deviation):
                result.claim_scores[claim.id] = max(result.claim_scores.get(claim.id) or 0.0, float(min(1.0, abs(d))))
            if row["recomposed"] is None or row["composite_says"] is None:
                continue
            decided += 1
            if row["recomposed"] != row["composite_says"]:
                disagreements += 1
                conflict = self._conflict(decomposition, row)
                result.conflicts.append(conflict)
                result.claim_scores[decomposition.composite] = max(result.claim_scores[decomposition.composite] or 0.0, conflict.severity)

        r1s = [row["r1"] for row in rows]
        result.metrics = {
            "disagreement_rate": disagreements / decided if decided else float("nan"),
            "r1": float(sum(r1s)),
            "r1_mean": float(sum(r1s) / len(r1s)) if r1s else float("nan"),
            "incoherent_decompositions": float(sum(r > INCOHERENT for r in r1s)),
            "decompositions_examined": float(len(rows)),
            "decompositions_missing": float(missing),
        }
        result.details = {"decompositions": rows, "missing": missing, "formula_unsatisfiable": unsatisfiable}
        if not rows:
            result.skipped = "no decomposition had its composite and every part answered" if suite.decompositions else "the suite has no decompositions"
        return result

    def _assess(self, suite: Suite, decomposition: Decomposition, beliefs: dict[str, float], component: Component, repair: Repair) -> dict[str, Any]:
        said = {pid: (None if p == 0.5 else p > 0.5) for pid, p in beliefs.items()}
        parts = {pid: said[pid] for pid in decomposition.parts}
        recomposed = None if None in parts.values() else recompose(decomposition, parts)  # type: ignore[arg-type]
        repaired = dict(zip((c.id for c in component.claims), repair.repaired(component)))
        return {
            "id": decomposition.id,
            "formula": fm.to_string(recomposition_formula(decomposition)),
            "composite": decomposition.composite,
            "composite_text": suite.propositions[decomposition.composite].text,
            "composite_credence": beliefs[decomposition.composite],
            "composite_says": said[decomposition.composite],
            "parts": [
                {"claim": pid, "statement": suite.propositions[pid].text, "credence": beliefs[pid], "says": said[pid]}
                for pid in decomposition.parts
            ],
            "recomposed": recomposed,  # the reference answer
            "r1": repair.r1,
            "repaired": repaired,
            "stakes": dict(zip((c.id for c in component.claims), map(float, repair.stakes))),
        }

    def _conflict(self, decomposition: Decomposition, row: dict[str, Any]) -> Conflict:
        word = lambda value: "true" if value else "false"  # noqa: E731
        confidences = [abs(2 * row["composite_credence"] - 1)] + [abs(2 * p["credence"] - 1) for p in row["parts"]]
        parts = "; ".join(f'"{p["statement"]}" is {word(p["says"])} ({p["credence"]:.2f})' for p in row["parts"])
        return Conflict(
            self.name,
            [decomposition.composite, *decomposition.parts],
            float(min(confidences)),
            {
                "kind": "decomposition",
                "summary": (
                    f'Asked whole, the model says "{row["composite_text"]}" is {word(row["composite_says"])} '
                    f'({row["composite_credence"]:.2f}); asked part by part ({parts}), {row["formula"]} makes it '
                    f'{word(row["recomposed"])}.'
                ),
                "formula": row["formula"],
                "composite": {"claim": decomposition.composite, "credence": row["composite_credence"], "says": word(row["composite_says"])},
                "parts": row["parts"],
                "recomposed": word(row["recomposed"]),
                "r1": row["r1"],
            },
        )


def _component(decomposition: Decomposition, beliefs: dict[str, float]) -> Component:
    tree = recomposition_formula(decomposition)
    claims = tuple(Claim(pid, float(p), pid) for pid, p in beliefs.items())
    return Component(tuple(sorted(fm.variables(tree) | set(beliefs))), (Constraint(decomposition.id, tree, "decomposition"),), claims)
