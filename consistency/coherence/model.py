"""The model: claims (stated credences), relations between atoms, and their connected components."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

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
    """A hard relation between atoms (a proposition id is an atom)."""

    id: str
    tree: fm.Formula
    source: str = "relation"

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
    graph = nx.Graph()
    linked: set[str] = set()
    for constraint in constraints:
        names = sorted(fm.variables(constraint.tree))
        graph.add_nodes_from(names)
        graph.add_edges_from(zip(names, names[1:]))
        linked.update(names)
    for claim in claims:
        graph.add_nodes_from(claim.atoms)
        if claim.given is not None:
            graph.add_edge(claim.then, claim.given)
            linked.update(claim.atoms)
    by_atom: dict[str, int] = {}
    groups = [sorted(group) for group in nx.connected_components(graph)]
    groups.sort(key=lambda atoms: atoms[0])
    for index, atoms in enumerate(groups):
        by_atom.update(dict.fromkeys(atoms, index))
    members: list[tuple[list[Constraint], list[Claim]]] = [([], []) for _ in groups]
    for constraint in constraints:
        members[by_atom[next(iter(fm.variables(constraint.tree)))]][0].append(constraint)
    for claim in claims:
        members[by_atom[claim.then]][1].append(claim)
    return [
        Component(tuple(atoms), tuple(cons), tuple(cls))
        for atoms, (cons, cls) in zip(groups, members)
        if cls and (cons or set(atoms) & linked)
    ]
