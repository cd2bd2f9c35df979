"""Run one check on a scripted model: elicit what the check asks, then run it."""

from __future__ import annotations

from checks.base import CheckResult, RunContext
from consistency.adapters.scripted import ScriptedAdapter
from consistency.answers import Answers
from consistency.engine import elicit
from consistency.suite import Suite


def audit(check, suite: Suite, hidden: bool = True, seed: int = 0, **adapter) -> tuple[CheckResult, Answers]:
    """``adapter`` options go to :class:`ScriptedAdapter` (e.g. ``lies={"p1": "consistent"}``)."""
    model = ScriptedAdapter(suite, **adapter)
    queries = list(check.queries(suite))
    answers = elicit(model, queries, hidden_for=queries if hidden else ())
    return check.run(suite, answers, RunContext(seed=seed, layers=answers.layers)), answers
