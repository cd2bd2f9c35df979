"""Random relation structures with credences, for property tests and benchmarks.

Two front ends over the same shapes: :func:`random_component` draws from a numpy generator
(benchmarks: fast, many at once) and :func:`relation_sets` is a hypothesis strategy (tests:
shrinks to the smallest failing structure). Both produce :class:`~consistency.coherence.Constraint`
and :class:`~consistency.coherence.Claim` objects over atoms ``x0, x1, ...``.
"""

from __future__ import annotations

import numpy as np

from consistency import formula as fm
from consistency.coherence import (
    Claim,
    Component,
    Constraint,
    WorldPricer,
    enumerate_worlds,
    payoffs,
)

# relation shapes binding a new atom ``n`` to earlier atoms ``a`` (and ``b``)
SHAPES = {
    "implication": "{a} -> {n}",
    "converse": "{n} -> {a}",
    "negation": "{n} <-> !{a}",
    "paraphrase": "{n} <-> {a}",
    "exclusion": "!({n} & {a})",
    "and": "{n} <-> ({a} & {b})",
    "or": "{n} <-> ({a} | {b})",
}


def tree_relations(n_atoms: int, rng: np.random.Generator, extra: float = 0.2) -> list[Constraint]:
    """A connected, satisfiable random relation set: each atom after the first is tied to
    earlier ones by a random shape, plus about ``extra`` * n further implications between
    random atoms. A planted world (each new atom's value forced by its shape, or drawn when
    free) satisfies every relation, so the set always has a model."""
    names = [f"x{i}" for i in range(n_atoms)]
    value = [bool(rng.integers(2))]
    relations = []
    for i in range(1, n_atoms):
        shapes = list(SHAPES) if i >= 2 else [s for s in SHAPES if s not in ("and", "or")]
        shape = shapes[rng.integers(len(shapes))]
        a, b = (int(k) for k in rng.choice(i, size=2, replace=False)) if i >= 2 else (0, 0)
        free = bool(rng.integers(2))
        value.append({
            "implication": value[a] or free,
            "converse": value[a] and free,
            "negation": not value[a],
            "paraphrase": value[a],
            "exclusion": (not value[a]) and free,
            "and": value[a] and value[b],
            "or": value[a] or value[b],
        }[shape])
        text = SHAPES[shape].format(n=names[i], a=names[a], b=names[b])
        relations.append(Constraint(f"r{i}", fm.parse(text), shape))
    pairs = [tuple(int(k) for k in rng.choice(n_atoms, size=2, replace=False)) for _ in range(int(extra * n_atoms))] if n_atoms >= 3 else []
    for k, (a, b) in enumerate(p for p in pairs if not (value[p[0]] and not value[p[1]])):
        relations.append(Constraint(f"e{k}", fm.parse(f"{names[a]} -> {names[b]}"), "implication"))
    return relations


def coherent_credences(component: Component, worlds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The marginals of a random (sparse Dirichlet) distribution over the worlds."""
    weights = rng.dirichlet(np.full(len(worlds), 0.3))
    return payoffs(component, worlds).hit.astype(float) @ weights


def random_component(n_atoms: int, rng: np.random.Generator, noise: float = 0.0, prefix: str = "") -> Component:
    """A random connected component with one claim per atom.

    Credences are coherent (marginals of a random distribution over the worlds, or over
    8 random worlds when there are too many to enumerate), moved by uniform noise of size
    ``noise`` and clipped to [0.01, 0.99].
    """
    relations = tree_relations(n_atoms, rng)
    if prefix:
        relations = [_renamed(r, prefix) for r in relations]
    atoms = tuple(sorted({name for r in relations for name in fm.variables(r.tree)} | {f"{prefix}x0"}))
    claims = tuple(Claim(a, 0.5, a) for a in atoms)
    component = Component(atoms, tuple(relations), claims)
    worlds = enumerate_worlds(component) if n_atoms <= 16 else None
    if worlds is None:  # too many to enumerate: a mixture of a few worlds the MILP finds
        pricer = WorldPricer(component)
        worlds = np.array([pricer.best_world(rng.normal(size=len(claims)))[0] for _ in range(8)])
    credences = coherent_credences(component, worlds, rng) + rng.uniform(-noise, noise, len(atoms))
    credences = np.clip(credences, 0.01, 0.99)
    return Component(atoms, tuple(relations), tuple(Claim(a, float(p), a) for a, p in zip(atoms, credences)))


def _renamed(constraint: Constraint, prefix: str) -> Constraint:
    return Constraint(prefix + constraint.id, _prefix(constraint.tree, prefix), constraint.source)


def _prefix(tree: fm.Formula, prefix: str) -> fm.Formula:
    if isinstance(tree, fm.Var):
        return fm.Var(prefix + tree.name)
    if isinstance(tree, fm.Not):
        return fm.Not(_prefix(tree.arg, prefix))
    return fm.BinOp(tree.op, _prefix(tree.left, prefix), _prefix(tree.right, prefix))


# ===== hypothesis strategies ============================================================


def formulas(atoms: list[str]):
    """A hypothesis strategy for formulas over ``atoms`` (depth kept small)."""
    from hypothesis import strategies as st

    leaves = st.sampled_from(atoms).map(fm.Var)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(fm.Not),
            st.tuples(st.sampled_from(["&", "|", "->", "<->"]), inner, inner).map(lambda t: fm.BinOp(*t)),
        ),
        max_leaves=4,
    )


def relation_sets(max_atoms: int = 4, max_relations: int = 3, conditionals: bool = True):
    """A hypothesis strategy for a satisfiable component: atoms, relations and claims (with
    placeholder credences 0.5; draw credences separately) including up to two conditionals."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        n = draw(st.integers(1, max_atoms))
        atoms = [f"x{i}" for i in range(n)]
        trees = draw(st.lists(formulas(atoms), min_size=0, max_size=max_relations))
        relations = tuple(Constraint(f"r{k}", tree, "relation") for k, tree in enumerate(trees))
        claims = [Claim(a, 0.5, a) for a in atoms]
        if conditionals and n >= 2:
            for k in range(draw(st.integers(0, 2))):
                then, given = draw(st.permutations(atoms))[:2]
                claims.append(Claim(f"c{k}", 0.5, then, given))
        component = Component(tuple(atoms), relations, tuple(claims))
        worlds = _worlds_or_none(component)
        from hypothesis import assume

        assume(worlds is not None)
        return component

    return build()


def _worlds_or_none(component: Component) -> np.ndarray | None:
    from consistency.coherence import RelationsUnsatisfiable

    try:
        return enumerate_worlds(component)
    except RelationsUnsatisfiable:
        return None


def with_credences(component: Component, credences) -> Component:
    """The component with its claims' credences replaced (in claim order)."""
    claims = tuple(Claim(c.id, float(p), c.then, c.given) for c, p in zip(component.claims, credences))
    return Component(component.atoms, component.constraints, claims)


def as_suite(components: list[Component], name: str = "generated"):
    """A suite holding the components' atoms and relations, and the answers that state their
    claims' credences (plain claims only), so a check can run on generated structures."""
    from consistency.answers import Answers
    from consistency.suite import Proposition, Relation, Suite

    props = {a: Proposition(a, f"statement {a}") for comp in components for a in comp.atoms}
    relations = [Relation(c.id, fm.to_string(c.tree), c.source) for comp in components for c in comp.constraints]
    suite = Suite(name, props, relations)
    answers = Answers(source=name)
    for comp in components:
        for claim in comp.claims:
            if claim.given is None:
                answers.credences[suite.query(claim.then).prompt] = claim.credence
    return suite, answers
