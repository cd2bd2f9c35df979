"""Built-in generators of related-claim structures with known logic and ground truth.

- :func:`compose` builds structures from atomic claims the user supplies (or fills in from a
  :class:`Template`) with connective templates: negation pairs, and/or tuples, implication
  chains (``a and b and c -> a and b -> a``), conditionals and decompositions, plus a
  paraphrase set for every atom that has paraphrases. Their logic holds by construction.
- :func:`number_world` needs no input: claims about small integers (parity, size,
  divisibility) whose truth and relations are arithmetic facts.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from consistency import formula as fm
from consistency.suite import Conditional, Decomposition, Proposition, Relation
from consistency.testing.structures import KINDS, Structure


@dataclass(frozen=True)
class Template:
    """Atomic claims from phrasings with slots, e.g. ``("{city} is in {country}", "{country} contains {city}")``.

    Every combination of ``slots`` values fills the phrasings (the first is the canonical
    text, the rest become paraphrases); ``truth`` gets the slot values as keyword arguments.
    """

    phrasings: Sequence[str]
    slots: Mapping[str, Sequence[str]]
    truth: Callable[..., bool] | None = None
    prefix: str = "t"  # proposition ids are ``<prefix><number>``

    def propositions(self) -> list[Proposition]:
        if not self.phrasings:
            raise ValueError("a template needs at least one phrasing")
        names = list(self.slots)
        out = []
        for number, values in enumerate(itertools.product(*(self.slots[n] for n in names))):
            filled = dict(zip(names, values))
            try:
                texts = [phrasing.format(**filled) for phrasing in self.phrasings]
            except KeyError as exc:
                raise ValueError(f"template phrasing uses slot {exc.args[0]!r}, which has no values") from None
            truth = bool(self.truth(**filled)) if self.truth else None
            out.append(Proposition(f"{self.prefix}{number}", texts[0], tuple(texts[1:]), truth))
        return out


@dataclass(frozen=True)
class Connectives:
    """How compound claims are worded; ``{a}``/``{b}`` are the component statements."""

    negation: str = "it is not the case that {a}"
    conjunction: str = "{a}, and {b}"
    disjunction: str = "{a}, or {b}"


def _truth(op: Callable[..., bool], *parts: Proposition) -> bool | None:
    values = [p.truth for p in parts]
    return None if None in values else op(*values)


@dataclass
class _Composer:
    words: Connectives
    made: dict[str, Proposition] = field(default_factory=dict)

    def negate(self, a: Proposition) -> Proposition:
        return self._make(f"not.{a.id}", self.words.negation.format(a=a.text), _truth(lambda x: not x, a))

    def both(self, a: Proposition, b: Proposition) -> Proposition:
        text = self.words.conjunction.format(a=a.text, b=b.text)
        return self._make(f"{a.id}.and.{b.id}", text, _truth(lambda x, y: x and y, a, b))

    def either(self, a: Proposition, b: Proposition) -> Proposition:
        text = self.words.disjunction.format(a=a.text, b=b.text)
        return self._make(f"{a.id}.or.{b.id}", text, _truth(lambda x, y: x or y, a, b))

    def _make(self, ident: str, text: str, truth: bool | None) -> Proposition:
        return self.made.setdefault(ident, Proposition(ident, text, truth=truth))


def compose(
    atoms: Iterable[Proposition],
    connectives: Connectives = Connectives(),
    kinds: Sequence[str] = KINDS,
    per_kind: int = 20,
    seed: int = 0,
) -> list[Structure]:
    """Structures over ``atoms``: every atom's negation pair and paraphrase set, and up to
    ``per_kind`` seeded picks of atom pairs (triples for chains) for the other kinds."""
    atoms = list(atoms)
    if len({a.id for a in atoms}) != len(atoms):
        raise ValueError("atomic claims need distinct ids")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown structure kinds {sorted(unknown)}; expected some of {', '.join(KINDS)}")
    rng = random.Random(seed)
    c = _Composer(connectives)
    n = len(atoms)
    # Ordered pairs by number (k -> atom k // (n-1) and one of the n-1 others), so that picking
    # a few of a million atoms' pairs never lists them all.
    picks = rng.sample(range(n * (n - 1)), min(per_kind, n * (n - 1))) if n > 1 else []
    pairs = [(atoms[k // (n - 1)], atoms[(k // (n - 1) + 1 + k % (n - 1)) % n]) for k in picks]
    triples = [(a, b, rng.choice([x for x in atoms if x not in (a, b)])) for a, b in pairs] if len(atoms) > 2 else []
    out: list[Structure] = []
    if "paraphrase" in kinds:
        out += [Structure("paraphrase", (a,)) for a in atoms if a.variants]
    if "negation" in kinds:
        for a in atoms:
            negation = c.negate(a)
            out.append(Structure("negation", (a, negation),
                                 (Relation(f"r.{negation.id}", f"{negation.id} <-> !{a.id}", "negation"),)))
    for a, b in pairs:
        both, either = c.both(a, b), c.either(a, b)
        conj = Relation(f"r.{both.id}", f"{both.id} <-> {a.id} & {b.id}", "conjunction")
        if "and" in kinds:
            out.append(Structure("and", (a, b, both), (conj,)))
        if "or" in kinds:
            rel = Relation(f"r.{either.id}", f"{either.id} <-> {a.id} | {b.id}", "disjunction")
            out.append(Structure("or", (a, b, either), (rel,)))
        if "conditional" in kinds:
            # P(a and b) = P(b | a) P(a): the conjunction pins the conditional credence down.
            cond = Conditional(f"c.{b.id}.if.{a.id}", a.id, b.id)
            out.append(Structure("conditional", (a, b, both), (conj,), (cond,)))
        if "decomposition" in kinds:
            dec = Decomposition(f"d.{both.id}", both.id, (a.id, b.id), f"{both.id} <-> {a.id} & {b.id}")
            out.append(Structure("decomposition", (both, a, b), decompositions=(dec,)))
    if "implication" in kinds:
        for a, b, third in triples[:per_kind]:
            ab = c.both(a, b)
            abc = c.both(ab, third)
            rels = (
                Relation(f"r.{abc.id}.imp", f"{abc.id} -> {ab.id}", "implication"),
                Relation(f"r.{ab.id}.imp", f"{ab.id} -> {a.id}", "implication"),
            )
            out.append(Structure("implication", (a, ab, abc), rels))
    return out


def number_world(numbers: Iterable[int] = range(1, 31)) -> list[Structure]:
    """Eight structures per integer ``n``, all arithmetic facts:

    paraphrase (``n`` is even, three ways), negation (odd = not even), and (even and greater
    than 10), or (divisible by 2 or by 3), implication (> 20 -> > 10 -> > 5), exclusivity
    (exactly one remainder when divided by 3), conditional (divisible by 4 given even) and
    decomposition (divisible by 6 = even and divisible by 3).
    """
    out: list[Structure] = []
    for n in numbers:
        def prop(key: str, text: str, truth: bool, *variants: str) -> Proposition:
            return Proposition(f"n{n}.{key}", text.format(n=n), tuple(v.format(n=n) for v in variants), truth)  # noqa: B023

        even = prop("even", "{n} is an even number", n % 2 == 0, "the number {n} is even", "{n} is divisible by two")
        odd = prop("odd", "{n} is an odd number", n % 2 == 1, "the number {n} is odd")
        gt = {k: prop(f"gt{k}", f"{{n}} is greater than {k}", n > k, f"{{n}} is larger than {k}") for k in (5, 10, 20)}
        div3 = prop("div3", "{n} is divisible by 3", n % 3 == 0, "{n} is a multiple of 3")
        div4 = prop("div4", "{n} is divisible by 4", n % 4 == 0, "{n} is a multiple of 4")
        div6 = prop("div6", "{n} is divisible by 6", n % 6 == 0, "{n} is a multiple of 6")
        even_big = prop("even_gt10", "{n} is an even number greater than 10", n % 2 == 0 and n > 10)
        div2or3 = prop("div2or3", "{n} is divisible by 2 or by 3", n % 2 == 0 or n % 3 == 0)
        rest = [prop(f"mod3_{r}", f"{{n}} leaves a remainder of {r} when divided by 3", n % 3 == r) for r in (1, 2)]
        i = lambda p: p.id  # noqa: E731
        out += [
            Structure("paraphrase", (even,)),
            Structure("negation", (even, odd), (Relation(f"n{n}.r.odd", f"{i(odd)} <-> !{i(even)}", "negation"),)),
            Structure("and", (even, gt[10], even_big),
                      (Relation(f"n{n}.r.even_gt10", f"{i(even_big)} <-> {i(even)} & {i(gt[10])}", "conjunction"),)),
            Structure("or", (even, div3, div2or3),
                      (Relation(f"n{n}.r.div2or3", f"{i(div2or3)} <-> {i(even)} | {i(div3)}", "disjunction"),)),
            Structure("implication", (gt[20], gt[10], gt[5]), (
                Relation(f"n{n}.r.gt20", f"{i(gt[20])} -> {i(gt[10])}", "implication"),
                Relation(f"n{n}.r.gt10", f"{i(gt[10])} -> {i(gt[5])}", "implication"),
            )),
            Structure("exclusivity", (div3, *rest), (
                Relation(f"n{n}.r.mod3", fm.exactly_one(i(div3), *map(i, rest)), "exclusivity"),
            )),
            Structure("conditional", (even, div4), (Relation(f"n{n}.r.div4", f"{i(div4)} -> {i(even)}", "implication"),),
                      (Conditional(f"n{n}.c.div4", i(even), i(div4)),)),
            Structure("decomposition", (div6, even, div3), decompositions=(
                Decomposition(f"n{n}.d.div6", i(div6), (i(even), i(div3)), f"{i(div6)} <-> {i(even)} & {i(div3)}"),
            )),
        ]
    return out
