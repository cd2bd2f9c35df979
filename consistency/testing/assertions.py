"""``assert_consistent``: run consistency checks on a model's answers to some claims and fail
with the contradictions in plain words; ``assert_within_budget``: judge every structure of a
pool on its own and fail when too large a share of them is inconsistent."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence, Union

import checks as registry
from checks.base import Check, CheckResult, RunContext, run_checks as run_each
from consistency.answers import Answers
from consistency.engine import elicit
from consistency.suite import Suite
from consistency.testing.explain import explain
from consistency.testing.models import ModelLike, resolve
from consistency.testing.pool import ClaimPool, Claims, checks_key, needed_queries
from consistency.testing.structures import KINDS, Structure, combine

ClaimsLike = Union[Claims, Structure, Iterable[Structure], Suite]

DEFAULT_CHECKS = ("logic", "cross-examination", "decomposition")
# The keyword limits, as (check, metric) pairs a user could also pass in ``limits``.
NAMED_LIMITS = {"max_r1": ("logic", "max_r1"), "max_flip_rate": ("cross-examination", "flip_rate")}


class ConsistencyError(AssertionError):
    """A failed consistency assertion; ``results`` holds every check's full result."""

    def __init__(self, message: str, results: dict[str, CheckResult]):
        super().__init__(message)
        self.results = results


class BudgetExceeded(ConsistencyError):
    """Too many inconsistent structures: ``share`` of those judged; ``inconsistent``: key -> reasons."""

    def __init__(self, message: str, results: dict[str, CheckResult], share: float, inconsistent: dict[str, list[str]]):
        super().__init__(message, results)
        self.share = share
        self.inconsistent = inconsistent


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
    results, _ = run_each(suite, answers, check_objects, RunContext(seed=seed, layers=answers.layers))
    return Outcome(claims, suite, answers, results)


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

    Claims drawn from a pool are judged without the structures in its baseline (``{}`` is
    returned when all of them are); while the pool records a baseline, the first call with
    these checks and limits judges every structure of the pool on its own and records those
    that fail, which are then accepted like the baseline's.
    """
    names = {c if isinstance(c, str) else c.name for c in checks}
    bounds = _limits(max_r1, max_flip_rate, limits, names)  # before asking: a typo costs nothing
    if isinstance(claims, Claims) and (claims.pool.recording or claims.pool.accepted):
        pool = claims.pool
        if pool.recording:
            outside = [i for i in range(len(pool)) if not pool.is_accepted(i)]
            _record(pool, sweep(model, pool, checks, bounds, outside, seed))
        new = [i for i in claims.indices if not pool.is_accepted(i)]
        if not new:
            return {}
        claims = Claims(pool, new)
    outcome = run_checks(model, claims, checks, seed)
    failures = [_section(name, reasons, outcome.results[name], outcome, show) for name, reasons in judge(outcome, bounds).items()]
    if failures:
        raise ConsistencyError("\n".join([_header(outcome), *failures]), outcome.results)
    return outcome.results


def assert_within_budget(
    model: ModelLike,
    pool: ClaimPool,
    checks: Sequence[str | Check] = DEFAULT_CHECKS,
    *,
    max_inconsistent_share: float,
    max_r1: float | None = 0.1,
    max_flip_rate: float | None = 0.0,
    limits: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None,
    seed: int = 0,
    show: int = 3,
) -> dict[str, list[str]]:
    """Judge every structure of ``pool`` (of ``kinds``; outside its baseline) on its own, as
    :func:`assert_consistent` would, and fail when the share found inconsistent exceeds
    ``max_inconsistent_share``; return the inconsistent ones (key -> reasons).

    Exhaustive rather than sampled: the pool's answers are in memory, so the measured share
    is exact and the same on every run. The error gives the share against the budget, the
    count per kind, and the ``show`` smallest inconsistent structures in plain words. While
    the pool records a baseline, what fails is recorded instead and ``{}`` returned.
    """
    if not 0 <= max_inconsistent_share <= 1:
        raise ValueError(f"max_inconsistent_share must be in [0, 1], got {max_inconsistent_share}")
    names = {c if isinstance(c, str) else c.name for c in checks}
    bounds = _limits(max_r1, max_flip_rate, limits, names)
    judged = [i for i in pool.indices(kinds) if not pool.is_accepted(i)]
    verdicts = sweep(model, pool, checks, bounds, judged, seed)
    failing = [i for i in judged if verdicts[i]]
    if pool.recording:  # writing a baseline: what fails now is accepted, so nothing is over budget
        _record(pool, verdicts)
        return {}
    inconsistent = {pool.structures[i].key: verdicts[i] for i in failing}
    share = len(failing) / len(judged) if judged else 0.0
    if share <= max_inconsistent_share:
        return inconsistent
    per_kind = Counter(pool.structures[i].kind for i in judged)
    bad_kind = Counter(pool.structures[i].kind for i in failing)
    lines = [
        f"inconsistent on {len(failing)} of {len(judged)} structures ({share:.1%}), over the budget of {max_inconsistent_share:.1%}",
        "  by kind: " + "; ".join(f"{k} {bad_kind[k]} of {per_kind[k]}" for k in sorted(bad_kind, key=KINDS.index)),
        f"the {min(show, len(failing))} smallest (simplest first):",
    ]
    results: dict[str, CheckResult] = {}
    for i in failing[:show]:  # the pool is sorted simplest first
        outcome = run_checks(model, Claims(pool, [i]), checks, seed)
        results = results or outcome.results
        lines += [_header(outcome), *(_section(n, r, outcome.results[n], outcome, 1) for n, r in judge(outcome, bounds).items())]
    raise BudgetExceeded("\n".join(lines), results, share, inconsistent)


def _record(pool: ClaimPool, verdicts: Mapping[int, list[str]]) -> None:
    """Accept every structure with a failing verdict into the pool's baseline, with why."""
    for index, reasons in verdicts.items():
        if reasons:
            pool.accepted.setdefault(pool.structures[index].key, "; ".join(reasons))


def judge(outcome: Outcome, bounds: Mapping[tuple[str, str], float]) -> dict[str, list[str]]:
    """The failing checks and why: a metric over its limit, or any conflict where none is set."""
    failing: dict[str, list[str]] = {}
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
            failing[name] = reasons
    return failing


def sweep(
    model: ModelLike,
    pool: ClaimPool,
    checks: Sequence[str | Check],
    bounds: Mapping[tuple[str, str], float],
    indices: Iterable[int],
    seed: int = 0,
) -> dict[int, list[str]]:
    """Each structure at ``indices`` judged on its own (index -> ``"check: reason"`` lines, empty
    when consistent); remembered per model, checks and limits, so a structure is judged once."""
    check_objects = [registry.get(c) if isinstance(c, str) else c for c in checks]
    resolved = resolve(model, pool.suite.answer_words)
    fingerprint = getattr(resolved, "fingerprint", None) or id(resolved)
    known = pool.sweeps.setdefault((fingerprint, checks_key(check_objects), tuple(sorted(bounds.items())), seed), {})
    out: dict[int, list[str]] = {}
    for index in indices:
        if index not in known:
            outcome = run_checks(resolved, Claims(pool, [index]), check_objects, seed)
            known[index] = [f"{name}: {'; '.join(reasons)}" for name, reasons in judge(outcome, bounds).items()]
        out[index] = known[index]
    return out


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
