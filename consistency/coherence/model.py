"""The model: claims (stated credences), relations between atoms, and their connected components."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from consistency import formula as fm


class RelationsUnsatisfiable(ValueError):
    """The relations of a component admit no world at all (the suite contradicts itself)."""

    def __init__(self, relation_ids: Sequence[str]):
        super().__init__(f"relations {', '.join(relation_ids)} cannot all hold in any world")
        self.relation_ids = tuple(relation_ids)


# ===== the model: claims, relations, components =========================================


@dataclass(frozen=True)
class Claim:
    """A stated credence: ``P(then) = credence``, or ``P(then | given) = credence``."""

    id: str
    credence: float
    then: str
    given: str | None = None

    @property
    def atoms(self) -> tuple[str, ...]:
        return (self.then,) if self.given is None else (self.then, self.given)


@dataclass(frozen=True)
class Constraint:
    """A hard relation between atoms (a proposition id is an atom).

    ``atoms`` are the tree's variables, read from it unless given (a suite's relation has
    them already: walking every tree again was a tenth of each of the ladder's logic re-runs).
    """

    id: str
    tree: fm.Formula
    source: str = "relation"
    atoms: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.atoms:
            object.__setattr__(self, "atoms", frozenset(fm.variables(self.tree)))

    @property
    def text(self) -> str:
        return fm.to_string(self.tree)


@dataclass(frozen=True)
class Component:
    """A connected set of atoms with the relations and claims that mention them."""

    atoms: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    claims: tuple[Claim, ...]


def split_components(constraints: Iterable[Constraint], claims: Iterable[Claim]) -> list[Component]:
    """Connected components of the graph linking atoms that share a relation or a conditional.

    Only components with at least one claim *and* something linking it to other atoms or
    constraining it are returned: a lone claim with no relation is coherent at any credence.
    """
    constraints, claims = list(constraints), list(claims)
    index: dict[str, int] = {}  # atom -> node, in order of first mention
    heads, tails = [], []
    linked: set[str] = set()

    def chain(names: Sequence[str]) -> None:
        nodes = [index.setdefault(name, len(index)) for name in names]
        heads.extend(nodes[:-1])
        tails.extend(nodes[1:])

    variables = [sorted(constraint.atoms) for constraint in constraints]
    for names in variables:
        chain(names)
        linked.update(names)
    for claim in claims:
        chain(claim.atoms if claim.given is not None else (claim.then,))
        if claim.given is not None:
            linked.update(claim.atoms)
    # scipy's connected components: networkx's graph of Python objects cost ~17 us per atom
    edges = sp.coo_matrix((np.ones(len(heads)), (heads, tails)), shape=(len(index), len(index)))
    count, labels = connected_components(edges, directed=False)
    groups: list[list[str]] = [[] for _ in range(count)]
    for name, label in zip(index, labels.tolist()):
        groups[label].append(name)
    groups = sorted(sorted(group) for group in groups)  # atoms are disjoint: ordered by the first
    by_atom: dict[str, int] = {}
    for number, atoms in enumerate(groups):
        by_atom.update(dict.fromkeys(atoms, number))
    members: list[tuple[list[Constraint], list[Claim]]] = [([], []) for _ in groups]
    for constraint, names in zip(constraints, variables):
        members[by_atom[names[0]]][0].append(constraint)
    for claim in claims:
        members[by_atom[claim.then]][1].append(claim)
    return [
        Component(tuple(atoms), tuple(cons), tuple(cls))
        for atoms, (cons, cls) in zip(groups, members)
        if cls and (cons or set(atoms) & linked)
    ]
