"""What the model said (and, where the adapter can read them, what its hidden states held).

``Answers`` is a plain in-memory value: checks read it, and the liar-capability ladder
builds modified copies of it (flipped credences, moved hidden states) to re-run checks on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from consistency.suite import Query

# Where hidden states are read: the prompt's last token, and the last token of the statement
# (before any persona or answer cue, where truth probes read best).
SITES = ("last", "statement_end")


@dataclass
class Answers:
    """Credences P(yes) per prompt or per query, and hidden states per site, prompt and layer.

    A model is asked each distinct prompt once, so its answers are keyed by prompt text
    (``credences``). Recorded answers are keyed by query (``per_query``, by :attr:`Query.key`):
    two propositions with the same text may have been answered differently, and keeping both
    is what lets cross-examination report it. A query's entry in ``per_query`` wins.
    """

    credences: dict[str, float] = field(default_factory=dict)
    layers: tuple[int, ...] = ()
    # site -> prompt -> array of shape (len(layers), hidden_size)
    hidden: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    source: str = ""  # a description of where the answers came from
    # Query.key (e.g. "p1#v0:is-true") -> raw P(yes)
    per_query: dict[str, float] = field(default_factory=dict)

    @property
    def has_hidden(self) -> bool:
        return any(self.hidden.get(site) for site in SITES)

    def p_yes(self, query: Query) -> float | None:
        """The raw P(yes) to the query, or None when it was not answered."""
        p = self.per_query.get(query.key)
        return self.credences.get(query.prompt) if p is None else p

    def belief(self, query: Query) -> float | None:
        """The credence that the statement is true (P(yes) inverted for a negated framing)."""
        p = self.p_yes(query)
        if p is None:
            return None
        return 1.0 - p if query.negated else p

    def hidden_matrix(self, queries: list[Query], layer: int, site: str = "statement_end") -> np.ndarray:
        """Hidden states of ``queries`` at one captured layer, shape (len(queries), hidden_size)."""
        index = self.layers.index(layer)
        table = self.hidden[site]
        return np.stack([table[q.prompt][index] for q in queries]).astype(np.float32)

    def has_hidden_for(self, queries: list[Query], site: str = "statement_end") -> bool:
        table = self.hidden.get(site, {})
        return bool(queries) and all(q.prompt in table for q in queries)

    def with_beliefs(self, beliefs: dict[Query, float]) -> "Answers":
        """A copy in which each given query's belief (not raw P(yes)) is replaced."""
        credences, per_query = dict(self.credences), dict(self.per_query)
        for query, belief in beliefs.items():
            p_yes = 1.0 - belief if query.negated else belief
            if query.key in per_query:
                per_query[query.key] = p_yes
            else:
                credences[query.prompt] = p_yes
        return Answers(credences, self.layers, self.hidden, self.source, per_query)

    def with_hidden(self, site: str, replacements: dict[str, np.ndarray]) -> "Answers":
        """A copy with some prompts' hidden states (at one site) replaced."""
        hidden = {s: dict(table) for s, table in self.hidden.items()}
        hidden.setdefault(site, {}).update(replacements)
        return Answers(dict(self.credences), self.layers, hidden, self.source, dict(self.per_query))
