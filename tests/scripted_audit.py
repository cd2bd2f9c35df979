"""Run one check on a scripted model: elicit what the check asks, then run it; and suite-file helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from checks.base import CheckResult, RunContext
from consistency.adapters.scripted import ScriptedAdapter
from consistency.aggregate import Sections, aggregate, contradictions
from consistency.answers import Answers
from consistency.config import LadderSettings
from consistency.engine import elicit
from consistency.ladder import Redraws, run_ladder
from consistency.suite import Proposition, Suite, SuiteError, load_jsonl


def audit(check, suite: Suite, hidden: bool = True, seed: int = 0, **adapter) -> tuple[CheckResult, Answers]:
    """``adapter`` options go to :class:`ScriptedAdapter` (e.g. ``lies={"p1": "consistent"}``)."""
    model = ScriptedAdapter(suite, **adapter)
    queries = list(check.queries(suite))
    answers = elicit(model, queries, hidden_for=queries if hidden else ())
    return check.run(suite, answers, RunContext(seed=seed, layers=answers.layers)), answers


def after_checks(suite: Suite, answers: Answers, checks, results, context: RunContext, ladder: LadderSettings,
                 min_severity: float = 0.1, lie_scores: dict[str, float] | None = None) -> Sections:
    """The stages ``run_audit`` runs after the checks: the contradictions, the ladder, the verdict."""
    found = contradictions(suite, answers, checks, results, min_severity)
    simulated: dict[str, dict[str, dict[str, float]]] = {}
    redraws = Redraws()
    bar = run_ladder(suite, answers, checks, results, context, ladder, found.implicated, simulated, redraws)
    return aggregate(suite, answers, checks, results, found, bar, simulated, min_severity, lie_scores=lie_scores,
                     redraws=redraws)


def synthetic_suite(
    n_train: int, n_test: int, seed: int = 0, weak: dict[str, float] | None = None, paraphrase: bool = False
) -> Suite:
    """``p0..``: the first ``n_train`` trusted, the rest audited, truth drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    props = {}
    for i in range(n_train + n_test):
        pid = f"p{i}"
        props[pid] = Proposition(
            pid,
            f"statement {i} holds",
            variants=(f"it is the case that statement {i} holds",) if paraphrase else (),
            truth=bool(rng.integers(0, 2)),
            weak=None if weak is None else weak.get(pid),
            split="train" if i < n_train else "test",
        )
    return Suite("synthetic", props)


def issues_of_appended(path: Path, records: list[dict]) -> list[tuple[int, str]]:
    """Append ``records`` to the suite file at ``path`` and load it: each issue found, as
    (line counted from the first appended record, 1-based; field)."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [json.dumps(r) for r in records]) + "\n")
    with pytest.raises(SuiteError) as caught:
        load_jsonl(path)
    return [(issue.line - len(lines), issue.field) for issue in caught.value.issues]
