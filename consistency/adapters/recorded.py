"""Recorded answers: audit any model (an API model, a human panel) from a JSONL file.

Each line is ``{"proposition": "p1", "credence": 0.83}`` (optionally ``"variant": k`` for
the k-th phrasing, 0 = canonical text) or ``{"conditional": "c1", "credence": 0.6}``.
A credence is the model's probability that the statement is true. Every line is kept for
its own proposition and variant, even where two propositions share a text. Recorded answers
carry no hidden states, so checks that need them are skipped.
"""

from __future__ import annotations

import math
from pathlib import Path

from consistency.answers import Answers
from consistency.errors import UserError
from consistency.suite import Suite, SuiteIssue, parse_json_line, read_text


class AnswersFileError(UserError):
    """A malformed answers file; ``issues`` lists every problem with its line."""

    def __init__(self, issues: list[SuiteIssue]):
        self.issues = issues
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"invalid answers file: {issues[0]}{more}")


def load_recorded_answers(path: str | Path, suite: Suite) -> Answers:
    """Read recorded credences and place each at the query it answers (the suite's primary framing)."""
    path = Path(path)
    source = str(path)
    issues: list[SuiteIssue] = []
    answers = Answers(source=f"answers:{path.name}")
    conditionals = {c.id: c for c in suite.conditionals}
    lines = read_text(path, source, AnswersFileError).splitlines()
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        error = lambda field, message: issues.append(SuiteIssue(source, number, field, message))  # noqa: E731
        record, problem = parse_json_line(raw)
        if problem is not None:
            error("json", problem)
            continue
        if not isinstance(record, dict):
            error("json", "each line must be a JSON object")
            continue
        credence = record.get("credence")
        if isinstance(credence, bool) or not isinstance(credence, (int, float)) or (isinstance(credence, float) and not math.isfinite(credence)):
            error("credence", f"must be a number in [0, 1], got {credence!r}")
            continue
        if not 0.0 <= credence <= 1.0:
            error("credence", f"credence {credence} is outside [0, 1]")
            continue
        if "proposition" in record and "conditional" in record:
            error("conditional", "a line answers a 'proposition' or a 'conditional', not both")
            continue
        claim = record.get("proposition", record.get("conditional"))
        field = "proposition" if "proposition" in record else "conditional"
        if claim is not None and not isinstance(claim, str):
            error(field, f"must be an id string, got {claim!r}"[:200])
            continue
        if claim in suite.left_out:
            continue  # a claim that --limit left out of the audit
        if "proposition" in record:
            prop = suite.propositions.get(record["proposition"])
            if prop is None:
                error("proposition", f"unknown proposition id {record['proposition']!r}")
                continue
            variant = record.get("variant", 0)
            if isinstance(variant, bool) or not isinstance(variant, int) or not 0 <= variant < len(prop.phrasings):
                error("variant", f"must be an integer in [0, {len(prop.phrasings) - 1}] for {prop.id!r}, got {variant!r}")
                continue
            query = suite.query(prop.id, variant)
        elif "conditional" in record:
            conditional = conditionals.get(record["conditional"])
            if conditional is None:
                error("conditional", f"unknown conditional id {record['conditional']!r}")
                continue
            query = suite.conditional_query(conditional)
        else:
            error("proposition", "each line needs a 'proposition' or a 'conditional' id")
            continue
        if query.key in seen:
            error(query.key, f"answered twice (first on line {seen[query.key]})")
            continue
        seen[query.key] = number
        # Keyed by query, not prompt text: two propositions with the same text keep their own
        # answers (cross-examination reports it when they differ).
        answers.per_query[query.key] = 1.0 - credence if query.negated else float(credence)
    if issues:
        raise AnswersFileError(issues)
    return answers
