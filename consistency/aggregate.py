"""The aggregator: the one entry point the audit calls after the checks have run.

It turns the checks' findings into the three sections of results.json that answer the
user's question: where the lies are (``graph``), which claims are the likeliest lies
(``retraction_set``) and how capable a liar must be to pass every check (``bar``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from checks.base import Check, CheckResult, RunContext
from consistency import graph as cg
from consistency.answers import Answers
from consistency.ladder import run_ladder
from consistency.retraction import retraction_set
from consistency.schema import Bar, Graph, RetractionSet
from consistency.suite import Suite

# A conflict weaker than this (credences a few hundredths from coherent) is the noise of
# honest answers, not evidence of a lie.
MIN_SEVERITY = 0.1


def aggregate(
    suite: Suite,
    answers: Answers,
    checks: Sequence[Check],
    results: Mapping[str, CheckResult],
    context: RunContext,
) -> dict[str, Graph | RetractionSet | Bar]:
    """The typed ``graph``, ``retraction_set`` and ``bar`` sections of :class:`Results`.

    Options read from ``context.options``: ``min_severity`` (conflicts below it, the
    noise-level incoherence of honest answers, stay in the checks' results but are left out of
    the graph and the retraction set; default 0.1), ``ladder_targets`` (default 200), ``ladder_fpr`` (default
    0.01), ``ladder_alpha`` (default 0.01) and ``ladder`` (False skips the bar).
    """
    options = context.options
    evidence = [c.name for c in checks if c.needs_hidden]
    graph = cg.build_graph(suite, answers, results, evidence, float(options.get("min_severity", MIN_SEVERITY)))
    found = cg.webs(graph)
    retraction = retraction_set(graph, found, results, suite.propositions)
    if options.get("ladder", True):
        bar = run_ladder(
            suite, answers, checks, results, context,
            targets=int(options.get("ladder_targets", 200)),
            fpr=float(options.get("ladder_fpr", 0.01)),
            alpha=float(options.get("ladder_alpha", 0.01)),
            implicated={pid for web in found for pid in web["propositions"]},
        )
    else:
        bar = {"notes": ["the ladder was switched off"]}
    return {"graph": cg.section(graph, found), "retraction_set": RetractionSet.model_validate(retraction),
            "bar": Bar.model_validate(bar)}
