"""Recorded answers: audit any model (an API model, a human panel) from a JSONL file.

Each line is ``{"proposition": "p1", "credence": 0.83}`` (optionally ``"variant": k`` for
the k-th phrasing, 0 = canonical text) or ``{"conditional": "c1", "credence": 0.6}``.
A credence is the model's probability that the statement is true. Every line is kept for
its own proposition and variant, even where two propositions share a text. Recorded answers
carry no hidden states, so checks that need them are skipped.
"""

from __future__ import annotations

from pathlib import Path

from consistency.answers import Answers
from consistency.errors import UserError
from consistency.suite import Query, Suite, SuiteIssue, as_credence, parse_json_line, read_text


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
        error = lambda field, message: issues.append(SuiteIssue(source, number, field, message))  # noqa: E731, B023
        record, problem = parse_json_line(raw)
        if problem is not None:
            error("json", problem)
            continue
        if not isinstance(record, dict):
            error("json", "each line must be a JSON object")
            continue
        try:
            credence = as_credence(record.get("credence"))
        except ValueError as problem:
            error("credence", str(problem))
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
        query: Query | None
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
        elif "judge" in record or "explanation" in record or "case" in record:
            query = _judging_query(suite, record, error)
            if query is None:
                continue
        else:
            error("proposition", "each line needs a 'proposition', 'conditional', 'judge', 'explanation' or 'case' id")
            continue
        if query.key in seen:
            error(query.key, f"answered twice (first on line {seen[query.key]})")
            continue
        seen[query.key] = number
        # Keyed by query, not prompt text: two propositions with the same text keep their own
        # answers (cross-examination reports it when they differ).
        is_belief = "proposition" in record or "conditional" in record
        answers.per_query[query.key] = 1.0 - credence if query.negated and is_belief else float(credence)
    if issues:
        raise AnswersFileError(issues)
    return answers


def _judging_query(suite: Suite, record: dict, error) -> Query | None:
    """The critique or directives query a line answers; its credence is the raw P(yes)
    (the answer judged correct, the claim's support, the action following / endorsed)."""
    from checks.critique import judge_query, support_query
    from checks.directives import Directives

    if "judge" in record:
        if record["judge"] not in suite.propositions:
            error("judge", f"unknown proposition id {record['judge']!r}")
            return None
        if not isinstance(record.get("answer"), bool):
            error("answer", f"must be true (the answer yes was judged) or false, got {record.get('answer')!r}")
            return None
        return judge_query(suite, record["judge"], record["answer"])
    if "explanation" in record:
        explanation = next((e for e in suite.explanations if e.id == record["explanation"]), None)
        if explanation is None:
            error("explanation", f"unknown explanation id {record['explanation']!r}")
            return None
        if record.get("claim") not in explanation.claims:
            error("claim", f"must be one of {list(explanation.claims)}, got {record.get('claim')!r}")
            return None
        return support_query(suite, explanation.proposition, record["claim"])
    case = next((c for c in suite.cases if c.id == record["case"]), None)
    if case is None:
        error("case", f"unknown case id {record['case']!r}")
        return None
    directives = Directives()
    for field, count in (("interpretation", len(suite.directives[case.directive].phrasings)),
                         ("behaviour", len(directives.behaviour_templates))):
        if field in record:
            index = record[field]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
                error(field, f"must be an integer in [0, {count - 1}] for {case.id!r}, got {index!r}")
                return None
            if field == "interpretation":
                return directives.interpretation_query(suite, case, index)
            return directives.behaviour_query(case, index)
    error("case", "a case line needs 'interpretation' (a paraphrase number) or 'behaviour' (a question number)")
    return None
