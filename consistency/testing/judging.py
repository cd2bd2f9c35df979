"""Hypothesis strategies for the critique and directives checks.

Each draws a small sub-suite: a few audited propositions of a suite (with the explanations
given of them), or a few directive cases (with their directives). Pass the drawn suite to
:func:`assert_consistent` with ``checks=["critique"]`` or ``checks=["directives"]``::

    SUITE = builtin_suite("directives")

    @given(directive_cases(SUITE))
    def test_acts_as_it_reads(consistency_model, drawn):
        assert_consistent(consistency_model, drawn, checks=["directives"])

Hypothesis shrinks a failing draw to a single proposition or case.
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from consistency.suite import Suite


def judged_claims(suite: Suite, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[Suite]:
    """Sub-suites of ``suite`` holding ``min_size`` to ``max_size`` audited propositions, the
    explanations given of them and those explanations' claims (for the critique check)."""
    audited = sorted(p.id for p in suite.split("test"))
    if not audited:
        raise ValueError(f"suite {suite.name!r} has no audited (test) propositions to judge")
    return st.lists(st.sampled_from(audited), min_size=min_size, max_size=max_size, unique=True).map(
        lambda ids: _judged(suite, ids))


def directive_cases(suite: Suite | None = None, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[Suite]:
    """Sub-suites holding ``min_size`` to ``max_size`` cases of ``suite`` (default
    ``builtin:directives``) and their directives (for the directives check)."""
    if suite is None:
        from consistency.generators import builtin_suite

        suite = builtin_suite("directives")
    if not suite.cases:
        raise ValueError(f"suite {suite.name!r} has no directive cases")
    cases = suite.cases
    return st.lists(st.integers(0, len(cases) - 1), min_size=min_size, max_size=max_size, unique=True).map(
        lambda picked: _with_cases(suite, sorted(picked)))


def _judged(suite: Suite, ids: list[str]) -> Suite:
    explanations = [e for e in suite.explanations if e.proposition in ids]
    keep = set(ids).union(*(e.claims for e in explanations))
    # Claims of explanations are asked, not judged: the check judges the audited split only,
    # so a claim from the trusted split stays unjudged and an audited one is judged too.
    return dataclasses.replace(
        suite, name=f"{suite.name}[judged]",
        propositions={pid: p for pid, p in suite.propositions.items() if pid in keep},
        relations=[], conditionals=[], decompositions=[], explanations=explanations,
        directives={}, cases=[])


def _with_cases(suite: Suite, picked: list[int]) -> Suite:
    cases = [suite.cases[i] for i in picked]
    used = {c.directive for c in cases}
    return dataclasses.replace(
        suite, name=f"{suite.name}[cases]", propositions={}, relations=[], conditionals=[], decompositions=[],
        explanations=[], directives={k: d for k, d in suite.directives.items() if k in used}, cases=cases)
