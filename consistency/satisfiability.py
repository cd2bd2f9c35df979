"""Are the stated answers satisfiable under the relations? Minimal cores and cheapest flips.

A stated answer is the literal its credence points to (``X`` when P(X) > 0.5, ``!X`` when
below; a credence of exactly 0.5 states nothing). A conditional P(T | G) > 0.5 states
``G -> T`` (below 0.5: ``G -> !T``): the Boolean limit of the called-off bet.

- Satisfiability and minimal unsatisfiable cores (MUSes, sets of answers no proper subset
  of which is contradictory) and, for each core, a minimal set of relations it needs.
- Confidence-weighted MaxSAT: the cheapest set of answers to flip, each weighted by its
  |log-odds|, so that the rest fits the relations.

Two oracles answer the same questions. Where the component's worlds are enumerated (see
:mod:`consistency.coherence`), every answer comes from the world table: an answer set is
satisfiable iff some world agrees with all of it, the MaxSAT optimum is the cheapest world,
and the MUSes are the minimal hitting sets of the worlds' violation sets (a set of answers
is contradictory iff it hits every maximal satisfiable subset's complement). Elsewhere z3
decides, with the MARCO algorithm enumerating the MUSes and z3's MaxSAT engine the flips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from consistency import formula as fm
from consistency.coherence import TABLE_ATOMS, Claim, Component, evaluate_columns, truth_table
from consistency.coherence.worlds import SHRINK_ROWS, table_models
from consistency.coherence.clause import clause_literals

CREDENCE_FLOOR = 1e-6  # log-odds weights are taken at credences clipped to [floor, 1 - floor]
HITTING_SET_LIMIT = 20_000  # partial hitting sets kept by Berge's algorithm before z3 takes over


@dataclass(frozen=True)
class Literal:
    """One stated answer: the claim, the truth value it states, and its |log-odds| weight."""

    claim: Claim
    value: bool
    weight: float

    def formula(self) -> fm.Formula:
        then: fm.Formula = fm.Var(self.claim.then)
        stated = then if self.value else fm.Not(then)
        return stated if self.claim.given is None else fm.BinOp("->", fm.Var(self.claim.given), stated)


def stated_literals(component: Component) -> list[Literal]:
    out = []
    for claim in component.claims:
        if claim.credence == 0.5:
            continue
        p = min(max(claim.credence, CREDENCE_FLOOR), 1 - CREDENCE_FLOOR)
        out.append(Literal(claim, claim.credence > 0.5, abs(math.log(p / (1 - p)))))
    return out


@dataclass(frozen=True)
class Core:
    """A minimal unsatisfiable set of answers (indices into the literals) and the relations it needs."""

    literals: tuple[int, ...]
    relations: tuple[str, ...]


@dataclass
class BooleanResult:
    literals: list[Literal]
    satisfiable: bool
    cores: list[Core]
    cores_complete: bool  # False when the cap stopped the enumeration
    flips: tuple[int, ...]  # the MaxSAT optimum: literal indices to flip
    flip_cost: float


# ===== oracles ==========================================================================

Oracle = Callable[[Sequence[int], Sequence[int]], bool]  # (literal indices, relation indices) -> sat?


def _table_oracle(component: Component, literals: list[Literal], cores: Sequence[Sequence[int]]) -> Oracle:
    """Satisfiability over the truth table (all 2^n assignments, relations not yet applied),
    asked about the literal sets ``cores``, each many times (deletion over relations).

    Each core's rows (those that agree with it) are kept with every relation's truth on
    them. A core's literals pin most of its atoms, so when the cores are few (usually one to
    three) and the table is large their rows are found literal by literal
    (:func:`table_models`) and only they are evaluated; otherwise every relation and literal
    is evaluated on the whole table once.
    """
    atoms, relations = component.atoms, [c.tree for c in component.constraints]
    # cost in whole-table evaluations: a literal about halves the rows a core leaves (a small
    # table is cheaper built whole)
    few = sum(1 + len(relations) / 2 ** len(core) for core in cores) < len(relations) + len(literals)
    if few and 2 ** len(atoms) > SHRINK_ROWS:
        def truths(key: tuple[int, ...]) -> np.ndarray:
            rows = table_models(atoms, (literals[i].formula() for i in key))
            return _relation_truths(relations, dict(zip(atoms, rows.T)), len(rows))
    else:
        table = truth_table(len(atoms))
        columns = dict(zip(atoms, table.T))
        relation_ok = _relation_truths(relations, columns, len(table))
        literal_ok = np.stack([evaluate_columns(lit.formula(), columns) for lit in literals], axis=1)

        def truths(key: tuple[int, ...]) -> np.ndarray:
            return relation_ok[literal_ok[:, list(key)].all(axis=1)]

    agreeing: dict[tuple[int, ...], np.ndarray] = {}

    def sat(lits: Sequence[int], rels: Sequence[int]) -> bool:
        key = tuple(lits)
        if key not in agreeing:
            agreeing[key] = truths(key)
        return bool(agreeing[key][:, list(rels)].all(axis=1).any())

    return sat


def _relation_truths(relations: list[fm.Formula], columns: dict[str, np.ndarray], n_rows: int) -> np.ndarray:
    """(rows, relations) bool: each relation's truth on the rows of ``columns``."""
    if not relations:
        return np.ones((n_rows, 0), dtype=bool)
    return np.stack([evaluate_columns(tree, columns) for tree in relations], axis=1)


class _Z3Oracle:
    def __init__(self, component: Component, literals: list[Literal]):
        import z3

        self.z3 = z3
        atoms = {name: z3.Bool(name) for name in component.atoms}
        self.solver = z3.SimpleSolver()
        self.lits = [z3.Bool(f"__lit{i}") for i in range(len(literals))]
        self.rels = [z3.Bool(f"__rel{k}") for k in range(len(component.constraints))]
        for guard, constraint in zip(self.rels, component.constraints):
            self.solver.add(z3.Implies(guard, fm.to_z3(constraint.tree, atoms)))
        self.literal_formulas = [fm.to_z3(literal.formula(), atoms) for literal in literals]
        for guard, formula in zip(self.lits, self.literal_formulas):
            self.solver.add(z3.Implies(guard, formula))
        self.atoms = atoms
        self._lit_asts = [guard.as_ast() for guard in self.lits]
        self._rel_asts = [guard.as_ast() for guard in self.rels]

    def __call__(self, lits: Sequence[int], rels: Sequence[int]) -> bool:
        return self.check(lits, rels) == self.z3.sat

    def check(self, lits: Sequence[int], rels: Sequence[int]):
        # z3's Solver.check casts every assumption through its sort (~20 us each): MARCO on a
        # 500-answer component asks ~200 checks of ~500 assumptions. The guards are Bool
        # constants already, so their pointers go to z3's C API as they are.
        z3 = self.z3
        chosen = [self._lit_asts[i] for i in lits] + [self._rel_asts[k] for k in rels]
        assumptions = (z3.Ast * len(chosen))(*chosen)
        return z3.CheckSatResult(z3.Z3_solver_check_assumptions(self.solver.ctx.ref(), self.solver.solver, len(chosen), assumptions))

    def core(self, lits: Sequence[int], rels: Sequence[int]) -> tuple[list[int], list[int]]:
        """The literals and relations in z3's (not necessarily minimal) core of an unsat check."""
        self.check(lits, rels)
        # the core holds the guard constants themselves: compare ids (printing each guard to
        # compare names cost ~0.1 ms a guard, seconds at 100k claims)
        ids = {c.get_id() for c in self.solver.unsat_core()}
        return [i for i in lits if self.lits[i].get_id() in ids], [k for k in rels if self.rels[k].get_id() in ids]

    def satisfied(self, n_literals: int) -> list[int]:
        """After a sat check: every literal the model makes true."""
        model = self.solver.model()
        return [i for i in range(n_literals) if self.z3.is_true(model.eval(self.literal_formulas[i], model_completion=True))]


# ===== MUS enumeration ==================================================================


def _popcount(x: int) -> int:
    return bin(x).count("1")


def _minimal(sets: set[int]) -> list[int]:
    """Drop every set that contains another (sets as bitmasks)."""
    kept: list[int] = []
    for s in sorted(sets, key=lambda s: (_popcount(s), s)):
        if not any(k & s == k for k in kept):
            kept.append(s)
    return kept


def minimal_hitting_sets(sets: Sequence[int], limit: int = HITTING_SET_LIMIT) -> list[int] | None:
    """All minimal hitting sets of bitmask ``sets`` (Berge's algorithm); None past ``limit``."""
    hitting = [0]
    for s in _minimal(set(sets)):
        grown = set()
        bits = [1 << b for b in range(s.bit_length()) if s >> b & 1]
        for h in hitting:
            if h & s:
                grown.add(h)
            else:
                grown.update(h | bit for bit in bits)
        hitting = _minimal(grown)
        if len(hitting) > limit:
            return None
    return hitting


def _bits(mask: int) -> tuple[int, ...]:
    return tuple(b for b in range(mask.bit_length()) if mask >> b & 1)


def _marco(oracle: _Z3Oracle, n_literals: int, relations: Sequence[int], cap: int) -> tuple[list[tuple[int, ...]], bool]:
    """MUS enumeration with MARCO: a map solver proposes unexplored answer subsets; a
    satisfiable seed grows to a maximal satisfiable set (blocking its subsets), an
    unsatisfiable one shrinks to a MUS (blocking its supersets).

    Stops (incomplete) at ``cap`` MUSes, or after ``cap`` satisfiable seeds in a row: the
    search must block every maximal satisfiable set before it can say it has every MUS, and a
    component can have far more of those than MUSes (900 answers against one 900-term
    disjunction: one MUS, 900 maximal satisfiable sets, each grown at the cost of 900 model
    evaluations)."""
    z3 = oracle.z3
    selectors = [z3.Bool(f"__map{i}") for i in range(n_literals)]
    explore = z3.SimpleSolver()
    found: list[tuple[int, ...]] = []
    fruitless = 0  # satisfiable seeds since the last MUS
    while explore.check() == z3.sat:
        if len(found) >= cap or fruitless >= cap:
            return found, False
        model = explore.model()
        seed = [i for i in range(n_literals) if not z3.is_false(model.eval(selectors[i]))]
        if oracle(seed, relations):
            # the model already satisfies more than the seed: start growing from all of it
            grown = sorted(set(seed) | set(oracle.satisfied(n_literals)))
            for i in range(n_literals):
                if i not in grown and oracle(grown + [i], relations):
                    grown.append(i)
            explore.add(z3.Or([selectors[i] for i in range(n_literals) if i not in grown] or [z3.BoolVal(False)]))
            fruitless += 1
        else:
            fruitless = 0
            core, _ = oracle.core(seed, relations)
            for i in list(core):
                trial = [j for j in core if j != i]
                if not oracle(trial, relations):
                    core = trial
            found.append(tuple(sorted(core)))
            explore.add(z3.Or([z3.Not(selectors[i]) for i in core]))
    return found, True


def _minimal_relations(oracle: Oracle, core: Sequence[int], n_relations: int) -> tuple[int, ...]:
    """Deletion-based: a smallest-by-inclusion set of relations that keeps ``core`` unsatisfiable.

    With z3, deletion starts from z3's own core (a handful of relations, not all of a big
    component's hundreds)."""
    keep = list(range(n_relations))
    if isinstance(oracle, _Z3Oracle):
        _, keep = oracle.core(core, keep)
    for k in list(keep):
        trial = [r for r in keep if r != k]
        if not oracle(core, trial):
            keep = trial
    return tuple(keep)


# ===== the analysis =====================================================================


def analyse(component: Component, worlds: np.ndarray | None, max_cores: int = 20) -> BooleanResult:
    """Satisfiability, up to ``max_cores`` MUSes (each with its relations), and the MaxSAT flips.

    ``worlds`` are the component's enumerated models (None when there were too many).
    """
    literals = stated_literals(component)
    if not literals:
        return BooleanResult([], True, [], True, (), 0.0)
    weights = np.array([lit.weight for lit in literals])
    all_relations = list(range(len(component.constraints)))
    clause = clause_literals(component) if worlds is None else None
    if clause is not None:
        return _clause_analysis(component, clause, literals, weights)
    if worlds is not None:
        agree = _agreement(component, literals, worlds)
        violated = [_mask(row) for row in ~agree]
        cost = (~agree).astype(float) @ weights
        best = int(np.lexsort(((~agree).sum(axis=1), cost))[0])  # cheapest, then fewest flips
        flips = tuple(int(i) for i in np.flatnonzero(~agree[best]))
        if 0 in violated:
            return BooleanResult(literals, True, [], True, (), 0.0)
        hitting = minimal_hitting_sets(violated)
        if hitting is not None:
            cores = [_bits(h) for h in hitting[:max_cores]]
            complete = len(hitting) <= max_cores
            oracle: Oracle = _table_oracle(component, literals, cores) if len(component.atoms) <= TABLE_ATOMS else _Z3Oracle(component, literals)
            return BooleanResult(
                literals, False, [Core(c, _relation_ids(component, _minimal_relations(oracle, c, len(all_relations)))) for c in cores],
                complete, flips, float(cost[best]),
            )
        z3_oracle = _Z3Oracle(component, literals)
        found, complete = _marco(z3_oracle, len(literals), all_relations, max_cores)
        return BooleanResult(literals, False, _cores(component, z3_oracle, found), complete, flips, float(cost[best]))
    z3_oracle = _Z3Oracle(component, literals)
    if z3_oracle(range(len(literals)), all_relations):
        return BooleanResult(literals, True, [], True, (), 0.0)
    flips, flip_cost = _z3_maxsat(component, literals)
    found, complete = _marco(z3_oracle, len(literals), all_relations, max_cores)
    return BooleanResult(literals, False, _cores(component, z3_oracle, found), complete, flips, flip_cost)


def _clause_analysis(component: Component, clause: list[tuple[str, bool]], literals: list[Literal], weights: np.ndarray) -> BooleanResult:
    """The Boolean analysis of a component that is one clause over its claims' atoms (see
    :func:`~consistency.coherence.clause.clause_literals`), without a solver.

    The answers contradict the clause exactly when every claim is stated and each states its
    atom against the clause's literal; then the one MUS is every answer with the clause (drop
    any answer and its literal is free to hold), and the cheapest repair flips the one answer
    of least weight (the first, among equals). Any other answers are satisfiable. MARCO had to
    shrink the 900-answer MUS of a 900-term disjunction by 900 z3 checks of 900 assumptions
    each (25 s) and could not say it had found every MUS.
    """
    positive = [is_positive for _, is_positive in clause]  # in claim order, as the literals are
    against = len(literals) == len(clause) and all(lit.value != p for lit, p in zip(literals, positive))
    if not against:
        return BooleanResult(literals, True, [], True, (), 0.0)
    cheapest = int(np.argmin(weights))
    core = Core(tuple(range(len(literals))), (component.constraints[0].id,))
    return BooleanResult(literals, False, [core], True, (cheapest,), float(weights[cheapest]))


def _cores(component: Component, oracle: _Z3Oracle, found: list[tuple[int, ...]]) -> list[Core]:
    n = len(component.constraints)
    return [Core(core, _relation_ids(component, _minimal_relations(oracle, core, n))) for core in found]


def _relation_ids(component: Component, indices: Sequence[int]) -> tuple[str, ...]:
    return tuple(component.constraints[k].id for k in indices)


def _agreement(component: Component, literals: list[Literal], worlds: np.ndarray) -> np.ndarray:
    """(worlds, literals) bool: does the world agree with the stated answer?"""
    columns = dict(zip(component.atoms, worlds.T))
    return np.stack([evaluate_columns(lit.formula(), columns) for lit in literals], axis=1)


def _mask(row: np.ndarray) -> int:
    return int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little")


def _z3_maxsat(component: Component, literals: list[Literal]) -> tuple[tuple[int, ...], float]:
    import z3

    atoms = {name: z3.Bool(name) for name in component.atoms}
    optimizer = z3.Optimize()
    for constraint in component.constraints:
        optimizer.add(fm.to_z3(constraint.tree, atoms))
    expressions = [fm.to_z3(lit.formula(), atoms) for lit in literals]
    for expression, lit in zip(expressions, literals):
        optimizer.add_soft(expression, f"{lit.weight:.12f}")
    optimizer.check()
    model = optimizer.model()
    flips = tuple(i for i, e in enumerate(expressions) if not z3.is_true(model.eval(e, model_completion=True)))
    return flips, float(sum(literals[i].weight for i in flips))
