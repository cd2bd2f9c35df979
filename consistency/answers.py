"""What the model said (and, where the adapter can read them, what its hidden states held).

``Answers`` is a plain in-memory value: checks read it, and the liar-capability ladder
builds modified copies of it (flipped credences, moved hidden states) to re-run checks on.
Hidden-state tables are mappings, not necessarily dicts: the engine's read their rows from
the answer cache's shards on demand, and a modified copy overlays its changes on them, so
neither holds every prompt's states in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
    hidden: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    source: str = ""  # a description of where the answers came from
    # Query.key (e.g. "p1#v0:is-true") -> raw P(yes)
    per_query: dict[str, float] = field(default_factory=dict)

    @property
    def has_hidden(self) -> bool:
        return any(self.hidden.get(site) for site in SITES)

    def p_yes(self, query: Query) -> float | None:
        """The raw P(yes) to the query, or None when it was not answered."""
        p = self.per_query.get(query.key) if self.per_query else None  # a model's answers have none
        return self.credences.get(query.prompt) if p is None else p

    def belief(self, query: Query) -> float | None:
        """The credence that the statement is true (P(yes) inverted for a negated framing)."""
        p = self.p_yes(query)
        if p is None:
            return None
        return 1.0 - p if query.negated else p

    def hidden_matrix(self, queries: list[Query], layer: int, site: str = "statement_end") -> np.ndarray:
        """Hidden states of ``queries`` at one captured layer, shape (len(queries), hidden_size)."""
        return layer_matrix(self.hidden[site], [q.prompt for q in queries], self.layers.index(layer))

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
        hidden = dict(self.hidden)
        hidden[site] = Overlay(self.hidden.get(site, {}), dict(replacements))
        return Answers(dict(self.credences), self.layers, hidden, self.source, dict(self.per_query))


def layer_matrix(table: Mapping[str, np.ndarray], prompts: Sequence[str], index: int) -> np.ndarray:
    """The states of ``prompts`` at the captured layer at ``index``, (len(prompts), hidden_size) float32.

    A table that can read one layer of many rows at once (a cache's or an overlay on one)
    does, so the other layers are never loaded.
    """
    layer_rows = getattr(table, "layer_rows", None)
    if layer_rows is not None:
        return layer_rows(prompts, index)
    return np.stack([table[p][index] for p in prompts]).astype(np.float32)


class Overlay(Mapping[str, np.ndarray]):
    """A hidden-state table with some prompts' states replaced; the base is never copied."""

    def __init__(self, base: Mapping[str, np.ndarray], changes: dict[str, np.ndarray]):
        self.base, self.changes = base, changes

    def __getitem__(self, prompt: str) -> np.ndarray:
        return self.changes[prompt] if prompt in self.changes else self.base[prompt]

    def __contains__(self, prompt: object) -> bool:
        return prompt in self.changes or prompt in self.base

    def __iter__(self) -> Iterator[str]:
        yield from self.base
        yield from (p for p in self.changes if p not in self.base)

    def __len__(self) -> int:
        return len(self.base) + sum(p not in self.base for p in self.changes)

    def layer_rows(self, prompts: Sequence[str], index: int) -> np.ndarray:
        changed = [i for i, p in enumerate(prompts) if p in self.changes]
        if not changed:
            return layer_matrix(self.base, prompts, index)
        width = self.changes[prompts[changed[0]]].shape[-1]
        out = np.empty((len(prompts), width), dtype=np.float32)
        kept = [i for i, p in enumerate(prompts) if p not in self.changes]
        if kept:
            out[kept] = layer_matrix(self.base, [prompts[i] for i in kept], index)
        for i in changed:
            out[i] = self.changes[prompts[i]][index]
        return out


class LayerFeatures(Mapping[int, np.ndarray]):
    """Feature rows per layer, read only when a layer is asked for.

    With ``keep_last`` the last layer read is kept (for a reader that asks for a layer again,
    to hash it and then to fit), no other; without it nothing is kept. Either way a sweep over
    the layers holds one layer's rows at a time instead of every layer's.
    """

    def __init__(self, layers: Sequence[int], read: Callable[[int], np.ndarray], keep_last: bool = True):
        self._layers, self._read, self._keep_last = tuple(layers), read, keep_last
        self._last: tuple[int, np.ndarray] | None = None

    def __getitem__(self, layer: int) -> np.ndarray:
        if layer not in self._layers:
            raise KeyError(layer)
        if not self._keep_last:
            return self._read(layer)
        if self._last is None or self._last[0] != layer:
            self._last = None  # let the previous layer's rows go before reading the next
            self._last = (layer, self._read(layer))
        return self._last[1]

    def __iter__(self) -> Iterator[int]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)
