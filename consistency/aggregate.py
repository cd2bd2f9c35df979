"""The aggregator: the stages after the checks have run.

They turn the checks' findings into the sections of results.json that answer the user's
question: where the lies are (``graph`` and ``retraction_set``, from :func:`contradictions`),
how capable a liar must be to pass every check (``bar``, from the ladder stage,
:func:`consistency.ladder.run_ladder`) and the ``verdict`` (:func:`aggregate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence, TypedDict

import networkx as nx

from checks.base import Check, CheckResult
from consistency import graph as cg
from consistency.answers import Answers
from consistency.ladder import Redraws, bar_of, bar_spread
from consistency.retraction import retraction_set
from consistency.schema import Bar, Graph, RetractionSet, Verdict
from consistency.suite import Suite
from consistency.verdict import build_verdict


class Sections(TypedDict):
    """The sections of :class:`~consistency.schema.Results` the aggregator fills."""

    graph: Graph
    retraction_set: RetractionSet
    bar: Bar
    verdict: Verdict


@dataclass(frozen=True)
class Contradictions:
    """Where the lies are: the contradiction graph, its webs and the retraction set."""

    graph: nx.Graph
    webs: list[dict[str, Any]]
    retraction: dict[str, Any]

    @property
    def implicated(self) -> set[str]:
        """The propositions in some web: the ladder neither targets them nor counts them honest."""
        return {pid for web in self.webs for pid in web["propositions"]}


def contradictions(
    suite: Suite, answers: Answers, checks: Sequence[Check], results: Mapping[str, CheckResult], min_severity: float
) -> Contradictions:
    """The contradiction graph of the checks' conflicts of at least ``min_severity`` (weaker ones,
    the noise-level incoherence of honest answers, stay in the checks' results only)."""
    evidence = [c.name for c in checks if c.needs_hidden]
    graph = cg.build_graph(suite, answers, results, evidence, min_severity)
    found = cg.webs(graph)
    return Contradictions(graph, found, retraction_set(graph, found, results, suite.propositions))


def aggregate(
    suite: Suite,
    answers: Answers,
    checks: Sequence[Check],
    results: Mapping[str, CheckResult],
    found: Contradictions,
    bar: dict[str, Any],
    simulated: Mapping[str, Mapping[str, Mapping[str, float]]],
    min_severity: float,
    reference: Mapping[str, CheckResult] | None = None,
    reference_name: str = "",
    lie_scores: dict[str, float] | None = None,
    redraws: Redraws | None = None,
) -> Sections:
    """The typed ``graph``, ``retraction_set`` and ``bar`` sections of :class:`Results` and the
    ``verdict`` section, from the contradictions ``found`` and the ladder's ``bar`` and
    ``simulated`` lie scores (:func:`consistency.ladder.run_ladder`); ``lie_scores``, when given,
    is filled with each answered proposition's lie score (the audit puts them into ``claims``).
    ``redraws`` are the ladder's (``run_ladder(..., redraws=)``): the bar's spread over the
    checks the model passed is read from them.

    ``reference`` holds the answer-level checks' results on a reference's answers to the same
    questions (``--reference`` / ``--reference-template``): the verdict's null for those checks.
    """
    verdict, scores = build_verdict(
        suite, answers, checks, results, min_severity=min_severity,
        reference=reference, reference_name=reference_name, simulated=simulated,
    )
    if lie_scores is not None:
        lie_scores.update(scores)
    over_passed(bar, verdict, redraws)
    return Sections(graph=cg.section(found.graph, found.webs), retraction_set=RetractionSet.model_validate(found.retraction),
                    bar=Bar.model_validate(bar), verdict=Verdict.model_validate(verdict))


def over_passed(bar: dict[str, Any], verdict: Mapping[str, Any], redraws: Redraws | None = None) -> None:
    """Read the bar over the checks the model passed (in place).

    A check that catches the model is reported as catching it, not as a rung of the ladder the
    model is measured against: the bar is the least capable simulated liar that would pass every
    check the model passed. The bar over every check stays in ``all_checks``. Its spread is
    read over the same checks from the ladder's ``redraws``; without them a spread read over
    other checks is dropped.
    """
    if not bar.get("levels"):
        return
    names = [n for n in bar.get("checks", []) if n not in verdict["catching"]]
    bar["all_checks"] = {k: bar.get(k) for k in ("level", "level_name", "coordination")}
    bar["caught_model"] = [n for n in bar.get("checks", []) if n in verdict["catching"]]
    bar["passed_checks"] = names
    bar.update(bar_of(bar, names))
    if redraws is not None:
        bar["spread"] = bar_spread(redraws, names, bar["level"])
    elif names != bar.get("checks"):
        bar.pop("spread", None)
