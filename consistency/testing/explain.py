"""Conflicts in plain words: what the model said, and why those answers cannot all hold.

Each built-in certificate kind gets a short title and one line per answer (and per bet of
a Dutch book); any other kind falls back to its summary and the answers to its claims.
"""

from __future__ import annotations

from typing import Any, Callable

from checks.base import Conflict
from consistency.answers import Answers
from consistency.schema import ClaimRef
from consistency.suite import Query, Suite


def says(belief: float) -> str:
    return f"{'true' if belief > 0.5 else 'false'} (credence {belief:.2f})"


def query_for(suite: Suite, key: str) -> Query | None:
    """The query a conflict's claim names: a proposition id, a conditional id, or a phrasing
    key ``<id>#v<variant>:<framing>``; None when the suite does not know it."""
    try:
        ref = ClaimRef.parse(key)
        conditional = next((c for c in suite.conditionals if c.id == ref.claim), None)
        if conditional is not None:
            return suite.conditional_query(conditional, ref.framing)
        if ref.claim in suite.propositions:
            return suite.query(ref.claim, ref.variant or 0, ref.framing)
    except (IndexError, KeyError, ValueError):
        return None
    return None


def answer_line(suite: Suite, answers: Answers, key: str) -> str | None:
    """``"<statement>" -> true (credence 0.91)``: one claim as asked, and the model's answer."""
    query = query_for(suite, key)
    if query is None:
        return None
    if query.given is not None:
        then = next(c.then for c in suite.conditionals if c.id == query.claim)
        statement = f'"{suite.propositions[then].text}", supposing "{suite.propositions[query.given].text}"'
    else:
        statement = f'"{suite.propositions[query.claim].phrasings[query.variant]}"'
    framing = f" [{query.framing}]" if ClaimRef.parse(key).is_phrasing else ""  # a phrasing key names its framing
    belief = answers.belief(query)
    return f"{statement}{framing} -> " + ("not answered" if belief is None else says(belief))


def _phrasings(cert: dict[str, Any]) -> list[str]:
    rows = [f'"{r["statement"]}" [{r["framing"]}] -> {says(r["belief"])}' for r in cert["phrasings"]]
    return ["the same statement, asked in isolated contexts, gets both answers:", *rows]


def _unsat_core(cert: dict[str, Any]) -> list[str]:
    rows = [f'{a["statement"]} -> {says(a["credence"])}' for a in cert["answers"]]
    rules = [f'{r["in_words"]}   [{r.get("short_formula", r["formula"])}]' for r in cert["relations"]]
    return ["these answers cannot all be true:", *rows, *(["given:", *rules] if rules else [])]


def _dutch_book(cert: dict[str, Any]) -> list[str]:
    lines = [
        f"bets at the model's own prices lose at least {cert['guaranteed_loss']:.3f} whatever is true "
        f"(its credences are {cert['r1']:.3f} from coherent, L1):"
    ]
    for bet in cert["bets"]:
        if bet["stake"] == 0:
            continue
        side = "buy" if bet["stake"] > 0 else "sell"
        coherent = "" if bet.get("repaired") is None else f" (coherent: {bet['repaired']:.2f})"
        lines.append(f"{side} {abs(bet['stake']):.2f} of the bet on {bet['statement']} at {bet['credence']:.2f}{coherent}")
    return lines


def _decomposition(cert: dict[str, Any]) -> list[str]:
    return [cert["summary"]]


_RENDER: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "phrasings": _phrasings,
    "unsat-core": _unsat_core,
    "dutch-book": _dutch_book,
    "decomposition": _decomposition,
}


def explain(conflict: Conflict, suite: Suite, answers: Answers) -> list[str]:
    """A conflict as lines of plain text: a title, then one line per answer or bet."""
    cert = conflict.certificate
    kind = cert.get("kind", "conflict")
    render = _RENDER.get(kind)
    if render is not None:
        try:
            title, *rows = render(cert)
            return [f"{kind}: {title}", *rows]
        except (KeyError, TypeError):  # a certificate of a newer shape: say what it says
            pass
    rows = [line for key in conflict.claims if (line := answer_line(suite, answers, key))]
    return [f"{kind}: {cert.get('summary', '(no summary)')}", *rows]
