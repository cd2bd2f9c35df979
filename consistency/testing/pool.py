"""A pool of candidate structures, asked once per model, drawn from by property tests.

Eliciting per hypothesis example would send a handful of prompts to the model a few
hundred times; a pool sends the union of every structure's prompts in one batched pass
(per model and per set of checks) and each example then reads its answers from memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from checks.base import Check
from consistency.adapters.base import Adapter
from consistency.answers import Answers
from consistency.engine import elicit
from consistency.suite import DEFAULT_ANSWER_WORDS, DEFAULT_CONDITION_TEMPLATE, DEFAULT_FRAMINGS, Framing, Proposition, Query, Suite
from consistency.testing import generators
from consistency.testing.structures import KINDS, Structure, combine, split_suite


class ClaimPool:
    """An ordered set of structures (simplest first) and the answers to them, per model."""

    def __init__(
        self,
        structures: Iterable[Structure],
        name: str = "pool",
        framings: tuple[Framing, ...] = DEFAULT_FRAMINGS,
        condition_template: str = DEFAULT_CONDITION_TEMPLATE,
        answer_words: dict[str, list[str]] | None = None,
    ):
        structures = list(structures)
        # A stable sort keeps the generators' order among equally simple structures.
        self.structures: tuple[Structure, ...] = tuple(sorted(structures, key=lambda s: (s.size, KINDS.index(s.kind))))
        if not self.structures:
            raise ValueError(f"claim pool {name!r} is empty")
        self._style = Suite(name, {}, framings=framings, condition_template=condition_template,
                            answer_words=dict(answer_words or DEFAULT_ANSWER_WORDS))
        self.suite = combine(self.structures, like=self._style, name=name)  # also validates shared ids
        self.by_key = {s.key: i for i, s in enumerate(self.structures)}
        if len(self.by_key) != len(self.structures):
            raise ValueError(f"claim pool {name!r} holds the same structure twice")
        # The baseline: known inconsistencies someone reviewed and accepted (key -> why). They
        # are never drawn and never judged; while ``recording``, every structure a sweep finds
        # inconsistent on its own joins them (``--consistency-write-baseline``).
        self.accepted: dict[str, str] = {}
        self.recording = False
        self.sweeps: dict[tuple, dict[int, list[str]]] = {}  # (model, checks, limits) -> failing index -> reasons
        self._answers: dict[str, Answers] = {}  # model fingerprint -> answers to the pool so far
        self._complete: set[tuple[str, str]] = set()  # (fingerprint, checks) fully answered
        # Every proposition with the structures that mention it (simplest first): the
        # strategies draw a proposition, then one of its structures. Propositions keep the
        # order they were generated in, which keeps the claims about one subject together
        # (n4 is even, n4 is odd, ...): when hypothesis shrinks the proposition it draws, the
        # ones that still fail then form a run, and its binary search ends at the run's start.
        self.containing: dict[str, list[int]] = {p.id: [] for s in structures for p in s.propositions}
        for index, structure in enumerate(self.structures):
            for prop in structure.propositions:
                self.containing[prop.id].append(index)

    # ----- building -------------------------------------------------------------------
    @classmethod
    def from_suite(cls, suite: Suite) -> "ClaimPool":
        """Every relation, conditional, decomposition and paraphrase set of ``suite``, asked its way."""
        return cls(split_suite(suite), suite.name, suite.framings, suite.condition_template, suite.answer_words)

    @classmethod
    def load(cls, spec: str, base: Path = Path(".")) -> "ClaimPool":
        """``numbers`` (the built-in arithmetic world), ``builtin:<suite>``, or a JSONL or
        ``statement,label`` CSV suite file (relative to ``base``)."""
        if spec == "numbers":
            return cls.numbers()
        from consistency.audit import load_suite  # the CLI's reading of a suite argument

        return cls.from_suite(load_suite(spec if spec.startswith("builtin:") else str(base / spec)))

    @classmethod
    def numbers(cls, numbers: Iterable[int] = range(1, 31)) -> "ClaimPool":
        """The built-in arithmetic world (see :func:`generators.number_world`)."""
        return cls(generators.number_world(numbers), "numbers")

    @classmethod
    def compose(cls, atoms: Iterable, name: str = "composed", **options) -> "ClaimPool":
        """Structures composed from atomic claims (propositions or :class:`generators.Template` s);
        ``options`` go to :func:`generators.compose` (connectives, kinds, per_kind, seed)."""
        props: list[Proposition] = []
        for atom in atoms:
            props += atom.propositions() if isinstance(atom, generators.Template) else [atom]
        return cls(generators.compose(props, **options), name)

    # ----- using ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.structures)

    def __repr__(self) -> str:
        return f"ClaimPool({self.suite.name!r}, {len(self.structures)} structures)"

    def indices(self, kinds: Sequence[str] | None = None) -> list[int]:
        """Positions of the structures of the given kinds (all when None)."""
        if kinds is not None and set(kinds) - set(KINDS):
            raise ValueError(f"unknown structure kinds {sorted(set(kinds) - set(KINDS))}; expected some of {', '.join(KINDS)}")
        return [i for i, s in enumerate(self.structures) if kinds is None or s.kind in kinds]

    def accept(self, keys: Iterable[str]) -> None:
        """Add structures, by key, to the baseline; a key the pool does not hold is an error."""
        keys = list(keys)
        unknown = [k for k in keys if k not in self.by_key]
        if unknown:
            raise ValueError(f"{len(unknown)} baseline structure(s) are not in claim pool {self.suite.name!r}, e.g. {unknown[0]!r}")
        for key in keys:
            self.accepted.setdefault(key, "")

    def is_accepted(self, index: int) -> bool:
        return self.structures[index].key in self.accepted

    def suite_of(self, structures: Iterable[Structure]) -> Suite:
        """A suite of some of the pool's structures, asked the pool's way."""
        return combine(structures, like=self._style, name=self.suite.name)

    def answers(self, model: Adapter, checks: Sequence[Check]) -> Answers:
        """Answers to every prompt the checks need over the whole pool, elicited in one pass
        the first time and only for what is new afterwards."""
        answers = self._answers.setdefault(model.fingerprint, Answers(layers=tuple(model.layers), source=model.fingerprint))
        # Listing the pool's queries costs more than a check on a small example: do it once.
        key = (model.fingerprint, checks_key(checks))
        if key in self._complete:
            return answers
        queries, hidden_for = needed_queries(self.suite, checks)
        if not model.supports_hidden:
            hidden_for = []  # checks that read hidden states report themselves skipped
        missing = [q for q in queries if q.prompt not in answers.credences]
        hidden_table = answers.hidden.get("statement_end", {})
        missing_hidden = [q for q in hidden_for if q.prompt not in hidden_table]
        if missing or missing_hidden:
            merge(answers, elicit(model, missing, missing_hidden))
        self._complete.add(key)
        return answers


def checks_key(checks: Sequence[Check]) -> str:
    """The checks and their options, as a cache key."""
    return repr([(type(c).__qualname__, sorted(getattr(c, "__dict__", {}).items())) for c in checks])


def needed_queries(suite: Suite, checks: Sequence[Check]) -> tuple[list[Query], list[Query]]:
    """Every query the checks ask of ``suite``, and those whose hidden states they read."""
    queries: list[Query] = []
    hidden_for: list[Query] = []
    for check in checks:
        asked = list(check.queries(suite))
        queries += asked
        if check.needs_hidden:
            hidden_for += asked
    return queries, hidden_for


def merge(into: Answers, new: Answers) -> None:
    """Add ``new``'s credences and hidden states to ``into`` (in place)."""
    into.credences.update(new.credences)
    into.per_query.update(new.per_query)
    for site, table in new.hidden.items():
        held = into.hidden.get(site)
        if isinstance(held, dict):
            held.update(table)
        else:  # none yet, or a read-only table read from a cache: copied into a dict once
            into.hidden[site] = {**(held or {}), **table}
    if new.layers:
        into.layers = new.layers


class Claims:
    """Some of a pool's structures: what the :func:`strategies.claims` strategy draws."""

    __slots__ = ("pool", "indices")

    def __init__(self, pool: ClaimPool, indices: Sequence[int]):
        self.pool = pool
        self.indices = tuple(dict.fromkeys(indices))  # in drawing order, repeats dropped

    @property
    def structures(self) -> list[Structure]:
        return [self.pool.structures[i] for i in self.indices]

    @property
    def suite(self) -> Suite:
        return self.pool.suite_of(self.structures)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Claims) and other.pool is self.pool and other.indices == self.indices

    def __hash__(self) -> int:
        return hash((id(self.pool), self.indices))

    def __repr__(self) -> str:
        return "Claims(" + "; ".join(f"#{i} {self.pool.structures[i].describe()}" for i in self.indices) + ")"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # hypothesis prints examples with this
        printer.text(repr(self))
