"""``assert_consistent``: run consistency checks on a model's answers to some claims and fail
with the contradictions in plain words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence, Union

import checks as registry
from checks.base import Check, CheckResult, RunContext
from consistency.answers import Answers
from consistency.engine import elicit
from consistency.suite import Suite
from consistency.testing.explain import explain
from consistency.testing.models import ModelLike, resolve
from consistency.testing.pool import Claims, needed_queries
from consistency.testing.structures import Structure, combine

ClaimsLike = Union[Claims, Structure, Iterable[Structure], Suite]

DEFAULT_CHECKS = ("logic", "cross-examination", "decomposition")
# The keyword limits, as (check, metric) pairs a user could also pass in ``limits``.
NAMED_LIMITS = {"max_r1": ("logic", "max_r1"), "max_flip_rate": ("cross-examination", "flip_rate")}


class ConsistencyError(AssertionError):
    """A failed consistency assertion; ``results`` holds every check's full result."""

    def __init__(self, message: str, results: dict[str, CheckResult]):
        super().__init__(message)
        self.results = results


@dataclass
class Outcome:
    """What the checks found: the claims as a suite, the answers read, each check's result."""

    claims: ClaimsLike
    suite: Suite
    answers: Answers
    results: dict[str, CheckResult]


def run_checks(
    model: ModelLike, claims: ClaimsLike, checks: Sequence[str | Check] = DEFAULT_CHECKS, seed: int = 0
) -> Outcome:
    """Ask ``model`` about ``claims`` (from the pool's answers when the claims were drawn from
    a pool) and run ``checks`` (names or check objects) on the answers."""
    if not isinstance(claims, (Claims, Structure, Suite)):
        claims = list(claims)  # read twice: for the suite and for the message
    suite = _suite_of(claims)
    check_objects = [registry.get(c) if isinstance(c, str) else c for c in checks]
    answers = _answers(model, claims, suite, check_objects)
    context = RunContext(seed=seed, layers=answers.layers)
    return Outcome(claims, suite, answers, {c.name: c.run(suite, answers, context) for c in check_objects})


def assert_consistent(
    model: ModelLike,
    claims: ClaimsLike,
    checks: Sequence[str | Check] = DEFAULT_CHECKS,
    *,
    max_r1: float | None = 0.1,
    max_flip_rate: float | None = 0.0,
    limits: Mapping[str, float] | None = None,
    seed: int = 0,
    show: int = 3,
) -> dict[str, CheckResult]:
    """Check that ``model`` answers ``claims`` consistently; return every check's result.

    ``model`` is an adapter, :class:`Answers`, a :class:`ModelRef` or a checkpoint directory.
    A check with a limit on one of its metrics fails when that metric exceeds it; a check
    without one fails on any conflict. ``max_r1`` limits the L1 distance to coherence of the
    worst connected web of claims (``logic.max_r1``; None: no incoherence at all),
    ``max_flip_rate`` the share of propositions whose answer flips with the phrasing
    (``cross-examination.flip_rate``), and ``limits={"check.metric": value}`` any metric.
    The keyword limits apply to whichever of their checks run. The error names the claims,
    the failing checks and up to ``show`` conflicts per check, certificates in plain words.
    """
    names = {c if isinstance(c, str) else c.name for c in checks}
    bounds = _limits(max_r1, max_flip_rate, limits, names)  # before asking: a typo costs nothing
    outcome = run_checks(model, claims, checks, seed)
    failures: list[str] = []
    for name, result in outcome.results.items():
        if result.skipped:
            continue
        mine = {metric: bound for (check, metric), bound in bounds.items() if check == name}
        if mine:
            values = {metric: metric_value(result, metric) for metric in mine}
            reasons = [f"{m} = {values[m]:.3f} > {bound:g}" for m, bound in mine.items() if values[m] > bound]
        else:
            reasons = [f"{len(result.conflicts)} conflict(s)"] if result.conflicts else []
        if reasons:
            failures.append(_section(name, reasons, result, outcome, show))
    if failures:
        raise ConsistencyError("\n".join([_header(outcome), *failures]), outcome.results)
    return outcome.results


def _suite_of(claims: ClaimsLike) -> Suite:
    if isinstance(claims, Claims):
        return claims.suite
    if isinstance(claims, Suite):
        return claims
    structures = [claims] if isinstance(claims, Structure) else list(claims)
    if not structures or not all(isinstance(s, Structure) for s in structures):
        raise TypeError("claims must be Claims, a Structure, a list of Structures, or a Suite")
    return combine(structures)


def _answers(model: ModelLike, claims: ClaimsLike, suite: Suite, checks: list[Check]) -> Answers:
    resolved = resolve(model, suite.answer_words)
    if isinstance(resolved, Answers):
        return resolved
    if isinstance(claims, Claims):  # the whole pool, asked once; this example reads from it
        return claims.pool.answers(resolved, checks)
    queries, hidden_for = needed_queries(suite, checks)
    return elicit(resolved, queries, hidden_for if resolved.supports_hidden else [])


def _limits(
    max_r1: float | None, max_flip_rate: float | None, limits: Mapping[str, float] | None, enabled: set[str]
) -> dict[tuple[str, str], float]:
    bounds: dict[tuple[str, str], float] = {}
    for keyword, value in (("max_r1", max_r1), ("max_flip_rate", max_flip_rate)):
        if value is not None and NAMED_LIMITS[keyword][0] in enabled:  # defaults: where they apply
            bounds[NAMED_LIMITS[keyword]] = float(value)
    for key, value in (limits or {}).items():
        check, dot, metric = key.partition(".")
        if not dot or not metric:
            raise ValueError(f"limit {key!r} must be named '<check>.<metric>', e.g. 'logic.r1'")
        if check not in enabled:  # a typo here would silently test nothing
            raise ValueError(f"limit {key!r} is on a check that is not run; checks run: {', '.join(sorted(enabled))}")
        bounds[(check, metric)] = float(value)
    return bounds


# Metrics read off a result where the check reports only a total: the worst connected web
# of claims, so that a limit means the same for one drawn structure as for ten.
_DERIVED: dict[tuple[str, str], Callable[[CheckResult], float]] = {
    ("logic", "max_r1"): lambda r: max((row["r1"] for row in r.details.get("worst_components", [])), default=0.0),
}


def metric_value(result: CheckResult, metric: str) -> float:
    """A metric of a check's result (0 where nothing was measured, NaN in the result)."""
    value = result.metrics.get(metric)
    if value is None and (result.check, metric) in _DERIVED:
        value = _DERIVED[(result.check, metric)](result)
    if value is None:
        raise ValueError(f"check {result.check!r} reports no metric {metric!r}; it reports {', '.join(result.metrics)}")
    return 0.0 if math.isnan(value) else float(value)


def _header(outcome: Outcome, limit: int = 10) -> str:
    claims = outcome.claims
    if isinstance(claims, Suite):
        return f"inconsistent answers to suite {claims.name!r} ({len(claims.propositions)} propositions)"
    if isinstance(claims, Claims):
        lines = [f"  #{i} {s.describe()}" for i, s in zip(claims.indices, claims.structures)]
    else:
        lines = [f"  {s.describe()}" for s in ([claims] if isinstance(claims, Structure) else claims)]
    more = [f"  ... and {len(lines) - limit} more"] if len(lines) > limit else []
    return f"inconsistent answers to {len(lines)} structure(s):\n" + "\n".join(lines[:limit] + more)


def _section(name: str, reasons: list[str], result: CheckResult, outcome: Outcome, show: int) -> str:
    conflicts = sorted(result.conflicts, key=lambda c: -c.severity)
    lines = [f"{name} failed: {'; '.join(reasons)}"]
    for conflict in conflicts[:show]:
        first, *rest = explain(conflict, outcome.suite, outcome.answers)
        lines += [f"  - {first}", *(f"    {line}" for line in rest)]
    if len(conflicts) > show:
        lines.append(f"  ... and {len(conflicts) - show} more conflict(s)")
    return "\n".join(lines)
