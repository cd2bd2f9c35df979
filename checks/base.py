"""The check interface: what a check asks, and what it reports.

A check is a small object with a ``name``, a ``queries(suite)`` method that declares every
prompt it needs answered, and a ``run(suite, answers, context)`` method that turns answers
into a :class:`CheckResult`. Checks are pure functions of the answers, so the
liar-capability ladder can re-run them on simulated liars' answers.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, runtime_checkable

import numpy as np

from consistency.answers import Answers
from consistency.fitcache import FitCache
from consistency.schema import CheckResult, Conflict
from consistency.suite import Query, Suite

# What a check reports is part of the results.json schema (consistency/schema.py); re-exported
# here so a check author needs one import.
__all__ = ["Check", "CheckResult", "Conflict", "RunContext", "answered", "both", "run_checks"]


@dataclass
class RunContext:
    """What a check may need beyond the suite and answers."""

    seed: int = 0
    # site and layers the engine captured hidden states at (empty without hidden states)
    layers: tuple[int, ...] = ()
    # fits keyed on their training data, shared by every run of the checks in one audit (the
    # ladder's re-runs on simulated liars mostly see the training data the first run saw)
    fits: FitCache = field(default_factory=FitCache, repr=False, compare=False)
    # True when the caller reads only the claim scores, each conflict's claims and severity, and
    # ``details["layer_readings"]`` (the liar ladder's re-runs, consistency/ladder.py): a check
    # may then leave out its metrics, certificates' tables and other details. What it does
    # report must be exactly what a full run reports.
    scores_only: bool = False

    def rng(self, salt: str = "") -> np.random.Generator:
        # crc32, not hash(): str hashes are salted per process and would break reproducibility
        return np.random.default_rng([self.seed, zlib.crc32(salt.encode())])


@runtime_checkable
class Check(Protocol):
    """What every check is; the registry holds each registered class to it (checks/__init__.py).

    Options are the constructor's keyword parameters, each with a default, so that a check is
    constructible by name alone and ``--option CHECK.KEY=VALUE`` can be checked against them.
    """

    name: str
    # True when the check reads hidden states; it is skipped on answers without them.
    needs_hidden: bool
    # True when the check judges each claim by the answers and relations it is part of alone
    # (per proposition or per component), so the liar ladder may run it on just the part of the
    # suite a simulated lie touched; a check that fits anything on the whole suite says False.
    local: bool

    def queries(self, suite: Suite) -> Iterable[Query]: ...

    def run(self, suite: Suite, answers: Answers, context: RunContext) -> CheckResult: ...


def answered(answers: Answers, queries: Iterable[Query]) -> list[tuple[Query, float]]:
    """The queries that were answered, each with its belief in the statement."""
    out = []
    for query in queries:
        belief = answers.belief(query)
        if belief is not None:
            out.append((query, belief))
    return out


def both(x: float, y: float) -> float:
    """Severity of two readings that must not both exceed 0.5: 0 at the boundary, 1 when both are certain."""
    return max(0.0, 2.0 * min(x, y) - 1.0)


def run_checks(
    suite: Suite,
    answers: Answers,
    checks: Iterable[Check],
    context: RunContext,
    log: Callable[[str], None] = lambda line: None,
) -> tuple[dict[str, CheckResult], dict[str, float]]:
    """Every check's result on ``answers``, and the seconds each took. A check that reads
    hidden states is skipped (with the reason in its result, and logged) when there are none."""
    results: dict[str, CheckResult] = {}
    timings: dict[str, float] = {}
    for check in checks:
        start = time.perf_counter()
        if check.needs_hidden and not answers.has_hidden:
            result = CheckResult(check.name, skipped=f"needs hidden states, which {answers.source or 'this adapter'} does not provide")
            log(f"skipped {check.name}: {result.skipped}")
        else:
            result = check.run(suite, answers, context)
        results[check.name] = result
        timings[check.name] = round(time.perf_counter() - start, 4)
    return results, timings
