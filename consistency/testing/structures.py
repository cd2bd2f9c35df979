"""Related-claim structures: a few propositions bound by relations whose logic is known.

A :class:`Structure` is the unit a property test draws and a failing test reports: one
negation pair, one paraphrase set, one and/or tuple, one implication chain, one conditional
or one decomposition. Structures that share an atomic claim share its proposition (same id),
so a set of structures combines into one :class:`Suite`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from consistency import formula as fm
from consistency.suite import Conditional, Decomposition, Proposition, Relation, Suite

# Simplest first: pools order their structures by size, then by this order. "exclusivity" is
# exactly one of several (one home city); "relation" is any other constraint a suite holds.
KINDS = ("paraphrase", "negation", "and", "or", "implication", "exclusivity", "conditional", "decomposition", "relation")
LOGIC_CHARS = 200  # a structure's logic, in its one-line description; failures spell it out in full


@dataclass(frozen=True)
class Structure:
    """Propositions and the constraints that relate them (relations, conditionals, decompositions)."""

    kind: str
    propositions: tuple[Proposition, ...]
    relations: tuple[Relation, ...] = ()
    conditionals: tuple[Conditional, ...] = ()
    decompositions: tuple[Decomposition, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown structure kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        known = {p.id for p in self.propositions}
        mentioned = {name for r in self.relations for name in fm.variables(r.tree)}
        mentioned |= {name for c in self.conditionals for name in (c.given, c.then)}
        mentioned |= {name for d in self.decompositions for name in (d.composite, *d.parts)}
        if mentioned - known:
            raise ValueError(f"{self.kind} structure mentions unknown propositions {sorted(mentioned - known)}")

    @property
    def size(self) -> int:
        """How much a reader has to take in: propositions, their paraphrases and constraints."""
        phrasings = sum(len(p.phrasings) for p in self.propositions)
        return phrasings + len(self.relations) + len(self.conditionals) + len(self.decompositions)

    @property
    def key(self) -> str:
        """A stable name for baselines: the kind and the ids of its constraints (of its
        proposition for a paraphrase set), e.g. ``negation:n4.r.odd``."""
        ids = [r.id for r in self.relations] + [c.id for c in self.conditionals] + [d.id for d in self.decompositions]
        return f"{self.kind}:{'+'.join(ids or [p.id for p in self.propositions])}"

    def constraints(self) -> list[str]:
        """The structure's logic, one plain line per constraint."""
        lines = [r.formula for r in self.relations]
        lines += [f"P({c.then} | {c.given}) asked as a conditional" for c in self.conditionals]
        lines += [f"{d.formula} (composite {d.composite} asked apart from its parts)" for d in self.decompositions]
        return lines

    def describe(self) -> str:
        """One line naming the kind, each proposition with its text, and the constraints."""
        claims = "; ".join(f"{p.id} = {p.text!r}" for p in self.propositions)
        logic = "; ".join(self.constraints())
        if len(logic) > LOGIC_CHARS:  # "exactly one of twelve cities" spelt out is 4,000 characters
            logic = logic[: LOGIC_CHARS - 3] + "..."
        return f"{self.kind}: {claims}" + (f"  [{logic}]" if logic else "")

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"<{self.describe()}>"


def combine(structures: Iterable[Structure], like: Suite | None = None, name: str = "property-test") -> Suite:
    """One suite holding every structure; framings and answer words are taken from ``like``."""
    props: dict[str, Proposition] = {}
    relations: dict[str, Relation] = {}
    conditionals: dict[str, Conditional] = {}
    decompositions: dict[str, Decomposition] = {}
    for structure in structures:
        for p in structure.propositions:
            if props.setdefault(p.id, p) != p:
                raise ValueError(f"proposition id {p.id!r} is used for two different propositions")
        tables: tuple[tuple[dict[str, Any], tuple[Any, ...]], ...] = (
            (relations, structure.relations),
            (conditionals, structure.conditionals),
            (decompositions, structure.decompositions),
        )
        for table, records in tables:
            for record in records:
                if table.setdefault(record.id, record) != record:
                    raise ValueError(f"id {record.id!r} is used for two different records")
    suite = Suite(name, props, list(relations.values()), list(conditionals.values()), list(decompositions.values()))
    if like is not None:
        suite.framings = like.framings
        suite.condition_template = like.condition_template
        suite.answer_words = dict(like.answer_words)
    return suite


_SOURCE_KINDS = {
    "negation": "negation",
    "conjunction": "and",
    "and": "and",
    "disjunction": "or",
    "or": "or",
    "implication": "implication",
    "transitivity": "implication",
    "exclusivity": "exclusivity",
    "exactly-one": "exclusivity",
    "decomposition": "decomposition",
}


def _kind_of(relation: Relation) -> str:
    """A relation's structure kind: from its source, else from the shape of its formula."""
    if relation.source in _SOURCE_KINDS:
        return _SOURCE_KINDS[relation.source]
    tree = relation.tree
    if not isinstance(tree, fm.BinOp):
        return "relation"
    if tree.op == "->":
        return "implication"
    if tree.op == "<->" and isinstance(tree.right, fm.Not):
        return "negation"
    if tree.op == "<->" and isinstance(tree.right, fm.BinOp) and tree.right.op in "&|":
        return {"&": "and", "|": "or"}[tree.right.op]
    return "relation"


def split_suite(suite: Suite) -> list[Structure]:
    """Cut a suite into structures: one per relation, conditional and decomposition, and a
    paraphrase set per proposition that has paraphrases."""
    props = suite.propositions
    pick = lambda ids: tuple(props[i] for i in dict.fromkeys(ids))  # noqa: E731 (ordered, unique)
    out = [Structure("paraphrase", (p,)) for p in props.values() if p.variants]
    for r in suite.relations:
        out.append(Structure(_kind_of(r), pick(sorted(fm.variables(r.tree))), relations=(r,)))
    for c in suite.conditionals:
        out.append(Structure("conditional", pick((c.given, c.then)), conditionals=(c,)))
    for d in suite.decompositions:
        out.append(Structure("decomposition", pick((d.composite, *d.parts)), decompositions=(d,)))
    return out
