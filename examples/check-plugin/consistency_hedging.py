"""An example third-party check: how often the model hedges instead of answering.

A hedge (a credence near 0.5) is not a contradiction, so this check reports no conflicts;
it scores each audited claim by how undecided its answer is.
"""

from __future__ import annotations

from typing import Iterable

from checks.base import CheckResult, RunContext, answered
from consistency.answers import Answers
from consistency.suite import Query, Suite


class Hedging:
    name = "hedging"
    needs_hidden = False  # reads stated answers only
    local = True  # judges each claim by its own answer

    def __init__(self, margin: float = 0.1):
        self.margin = margin  # an option: `--option hedging.margin=0.2`

    def queries(self, suite: Suite) -> Iterable[Query]:
        return [suite.query(p.id) for p in suite.split("test")]

    def run(self, suite: Suite, answers: Answers, context: RunContext) -> CheckResult:
        beliefs = {query.claim: belief for query, belief in answered(answers, self.queries(suite))}
        undecided = {pid: 1.0 - abs(2.0 * belief - 1.0) for pid, belief in beliefs.items()}
        hedges = sum(abs(belief - 0.5) <= self.margin for belief in beliefs.values())
        return CheckResult(
            check=self.name,
            metrics={"hedge_rate": hedges / len(beliefs) if beliefs else float("nan"), "answered": len(beliefs)},
            claim_scores=undecided,
        )
