"""The coherence LP, its certificates, the Boolean analysis and the solver paths agreeing."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consistency import formula as fm
from consistency.coherence import (
    Claim,
    Component,
    Constraint,
    LPSolution,
    RelationsUnsatisfiable,
    WorldPricer,
    column_generation,
    enumerate_worlds,
    evaluate_columns,
    exact_simplex,
    payoffs,
    repair_components,
    solve_blocks,
    split_components,
    world_losses,
)
from consistency.coherence.exact import _ExactLP, _integer_inverse
from consistency.satisfiability import analyse, minimal_hitting_sets
from tests.relations_gen import random_component, relation_sets, with_credences
from tests.z3_oracle import exact_entry, solve_z3

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def component(relations: dict[str, str], credences: dict[str, float], conditionals=()) -> Component:
    constraints = [Constraint(rid, fm.parse(text)) for rid, text in relations.items()]
    claims = [Claim(pid, p, pid) for pid, p in credences.items()]
    claims += [Claim(cid, p, then, given) for cid, given, then, p in conditionals]
    (only,) = split_components(constraints, claims)
    return only


def repair(comp: Component, **options):
    (result,) = repair_components([comp], **options)
    return result


def worked_example() -> Component:
    return component({"and": "ab <-> (a & b)", "or": "aob <-> (a | b)"}, {"a": 0.6, "b": 0.6, "ab": 0.7, "aob": 0.5})


# ----- the worked example (checks/docs/logic.md) ---------------------------------------------


def test_worked_example_exact_r1_repair_and_dutch_book():
    comp = worked_example()
    result = repair(comp)
    assert result.method == "simplex"
    # exactly 0.7 - 0.5 in the floats the model gave (0.2 up to the floats' own rounding)
    assert result.exact.r1 == Fraction(0.7) - Fraction(0.5)
    assert result.r1 == pytest.approx(0.2, abs=1e-15)
    assert result.repaired(comp) == pytest.approx([0.6, 0.6, 0.6, 0.6])
    # buy a & b, sell a | b, and buy one of a, b while selling the other: the optimal book is
    # not unique: its mirror image (a and b swapped) is optimal too, and either may come back
    stakes = [float(s) for s in result.exact.stakes]
    assert stakes in ([1, -1, 1, -1], [-1, 1, 1, -1])
    worlds = enumerate_worlds(comp)
    losses = world_losses(comp, np.array(stakes), worlds)
    assert losses.min() == pytest.approx(0.2, abs=1e-15)
    assert (losses >= 0.2 - 1e-15).all()


def test_worked_example_r_inf_spreads_the_repair():
    assert repair(worked_example()).r_inf == pytest.approx(0.1, abs=1e-12)


def test_conditional_enters_as_a_called_off_bet():
    # P(a) = .5, P(a & b) = .4 force P(b | a) = .8; the model says .5: R1 = min over the three
    comp = component({"ab": "ab <-> (a & b)"}, {"a": 0.5, "ab": 0.4}, [("c", "a", "b", 0.5)])
    result = repair(comp)
    z3_cert, _ = solve_z3(payoffs(comp, enumerate_worlds(comp)))
    assert result.exact.r1 == z3_cert.r1
    assert result.r1 > 0.1
    repaired = dict(zip((c.id for c in comp.claims), result.repaired(comp)))
    assert repaired["c"] == pytest.approx(repaired["ab"] / repaired["a"])


def test_coherent_conditional_costs_nothing():
    comp = component({"ab": "ab <-> (a & b)"}, {"a": 0.5, "ab": 0.4}, [("c", "a", "b", 0.8)])
    assert repair(comp).r1 == pytest.approx(0.0, abs=1e-9)


def test_relations_without_a_model_are_reported_not_solved():
    comp = component({"r1": "a -> b", "r2": "a", "r3": "!b"}, {"a": 0.5, "b": 0.5})
    with pytest.raises(RelationsUnsatisfiable, match="r1, r2, r3"):
        enumerate_worlds(comp)
    assert isinstance(repair(comp), RelationsUnsatisfiable)


def test_components_split_on_shared_atoms_only():
    constraints = [Constraint("r1", fm.parse("a -> b")), Constraint("r2", fm.parse("c -> d"))]
    claims = [Claim(x, 0.5, x) for x in "abcde"] + [Claim("k", 0.5, "e", "a")]
    comps = split_components(constraints, claims)
    assert [c.atoms for c in comps] == [("a", "b", "e"), ("c", "d")]
    assert [c.id for c in comps[0].claims] == ["a", "b", "e", "k"]


def test_table_z3_and_pruned_table_enumerate_the_same_worlds():
    from consistency.coherence.worlds import _enumerate_z3, _propagated_worlds

    rng = np.random.default_rng(3)
    for _ in range(10):
        comp = random_component(int(rng.integers(2, 9)), rng)
        table = {tuple(w) for w in enumerate_worlds(comp)}
        assert {tuple(w) for w in _enumerate_z3(comp, 10_000)} == table
        assert {tuple(w) for w in _propagated_worlds(comp)} == table


def test_the_filtered_truth_table_keeps_the_full_tables_rows_in_order():
    from consistency.coherence.worlds import table_models, truth_table

    rng = np.random.default_rng(5)
    for n in (3, 12, 13, 14, 16):  # whole up to 2^12 rows, filtered relation by relation above
        comp = random_component(n, rng)
        table = truth_table(len(comp.atoms))
        columns = dict(zip(comp.atoms, table.T))
        keep = np.all([evaluate_columns(c.tree, columns) for c in comp.constraints], axis=0)
        models = table_models(comp.atoms, [c.tree for c in comp.constraints])
        assert models.dtype == bool and np.array_equal(models, table[keep])


def test_pruned_table_matches_z3_past_the_truth_table():
    from consistency.coherence.worlds import _enumerate_z3, _propagated_worlds

    rng = np.random.default_rng(11)
    for _ in range(6):  # 17-40 atoms, 20-900 worlds
        comp = random_component(int(rng.integers(17, 41)), rng)
        z3_worlds = _enumerate_z3(comp, 4096)
        pruned = _propagated_worlds(comp)
        assert pruned.shape == z3_worlds.shape
        assert {tuple(w) for w in pruned} == {tuple(w) for w in z3_worlds}
        assert _propagated_worlds(comp, limit=len(z3_worlds) - 1) is None  # gives up past its limit
    # relations without a model leave no row
    unsat = component({f"r{i}": f"x{i:02d} -> x{i + 1:02d}" for i in range(19)} | {"a": "x00", "b": "!x19"}, {"x00": 0.5})
    assert len(_propagated_worlds(unsat)) == 0
    with pytest.raises(RelationsUnsatisfiable):
        enumerate_worlds(unsat)


def test_integer_inverse_is_exact_on_both_paths():
    # small entries take the float-inverse-then-check path, large ones fraction-free Gauss-Jordan
    rng = np.random.default_rng(0)
    for scale in (1, 3, 10**12):
        for _ in range(20):
            n = int(rng.integers(1, 8))
            matrix = rng.integers(-scale, scale + 1, size=(n, n))
            solved = _integer_inverse(matrix if scale < 10**6 else matrix.astype(object))
            if round(np.linalg.det(matrix.astype(float))) == 0 and scale < 10**6:
                assert solved is None
                continue
            assert solved is not None
            inverse, d = solved
            assert d != 0
            product = [[sum(int(matrix[i, k]) * int(inverse[k, j]) for k in range(n)) for j in range(n)] for i in range(n)]
            assert product == [[d * (i == j) for j in range(n)] for i in range(n)]


def test_the_basis_inverse_from_its_world_block_is_the_whole_basis_inverse():
    import dataclasses

    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(40):
        comp = random_component(int(rng.integers(2, 7)), rng, noise=0.3)
        # conditionals give rows scaled by their price's denominator (2^52-sized)
        conditionals = tuple(Claim(f"c{k}", float(rng.uniform()), comp.atoms[k], comp.atoms[k + 1]) for k in range(min(2, len(comp.atoms) - 1)))
        comp = dataclasses.replace(comp, claims=comp.claims + conditionals)
        lp = _ExactLP(payoffs(comp, enumerate_worlds(comp)))
        (highs,) = solve_blocks([lp.pay])
        bases = [lp.warm_basis(highs)]
        for _ in range(4):  # a few worlds, the rest gap columns; often singular
            k = int(rng.integers(1, min(lp.n_worlds, lp.m + 1) + 1))
            bases.append([int(c) for c in rng.choice(lp.n_worlds, size=k, replace=False)]
                         + [lp.n_worlds + int(c) for c in rng.choice(2 * lp.m, size=lp.m + 1 - k, replace=False)])
        for basis in bases:
            whole, blocked = _integer_inverse(lp.integer[:, basis].astype(object)), lp.basis_inverse(basis)
            assert (whole is None) == (blocked is None)
            if whole is not None and blocked is not None:
                assert blocked[1] > 0
                assert [Fraction(int(v), whole[1]) for v in whole[0].ravel()] == [Fraction(int(v), blocked[1]) for v in blocked[0].ravel()]
                checked += 1
    assert checked > 40


def test_column_generation_matches_enumeration_on_a_long_chain():
    # a 40-atom implication chain: 41 worlds, more atoms than the truth table takes
    rng = np.random.default_rng(1)
    n = 40
    relations = {f"r{i}": f"x{i:02d} -> x{i + 1:02d}" for i in range(n - 1)}
    comp = component(relations, {f"x{i:02d}": float(p) for i, p in enumerate(rng.uniform(0.05, 0.95, n))})
    enumerated = repair(comp)
    assert enumerated.n_worlds == n + 1
    generated = repair(comp, max_worlds=10)
    assert generated.method == "column-generation"
    assert generated.r1 == pytest.approx(enumerated.r1, abs=1e-7)
    assert generated.r_inf == pytest.approx(enumerated.r_inf, abs=1e-7)
    assert generated.guaranteed_loss == pytest.approx(generated.r1, abs=1e-7)


def loose_component(rng: np.random.Generator, n: int = 14) -> Component:
    """Ten random relations over ``n`` atoms (tens to hundreds of worlds) with random credences on every
    atom and three conditionals: incoherent, and far from any few worlds."""
    atoms = tuple(f"x{i:02d}" for i in range(n))
    shapes = ["{a} -> {b}", "{c} <-> ({a} | {b})", "!({a} & {b})", "{c} <-> ({a} & {b})"]
    relations = []
    for k in range(10):
        a, b, c = (atoms[i] for i in rng.choice(n, 3, replace=False))
        relations.append(Constraint(f"r{k}", fm.parse(shapes[rng.integers(len(shapes))].format(a=a, b=b, c=c))))
    claims = [Claim(a, float(p), a) for a, p in zip(atoms, rng.uniform(0.02, 0.98, n))]
    for k in range(3):
        then, given = (atoms[i] for i in rng.choice(n, 2, replace=False))
        claims.append(Claim(f"c{k}", float(rng.uniform(0.05, 0.95)), then, given))
    return Component(atoms, tuple(relations), tuple(claims))


def test_column_generation_equals_the_enumerated_lp_on_mid_size_components():
    # enumerable components (so the exact rational R1 is known), solved by column generation
    # from a single world: the same optimum within 1e-9, proved by the stakes
    rng = np.random.default_rng(7)
    for _ in range(4):
        comp = loose_component(rng)
        worlds = enumerate_worlds(comp)
        exact = repair(comp)
        assert exact.method == "simplex" and exact.exact is not None and len(worlds) >= 30
        sol, generated, loss, rounds = column_generation(comp, initial=worlds[:1])
        assert rounds >= 3  # it had to generate
        assert abs(sol.objective - float(exact.exact.r1)) <= 1e-9
        assert sol.objective - 1e-9 <= loss <= sol.objective + 1e-12
        # the proving stakes are a Dutch book over every world, not only the generated ones
        assert np.abs(sol.duals).max() <= 1 + 1e-9
        assert world_losses(comp, sol.duals, worlds).min() >= loss - 1e-9
        worst, _, _, _ = column_generation(comp, "linf", initial=generated)
        assert worst.objective == pytest.approx(exact.r_inf, abs=1e-9)


def test_worlds_are_enumerated_once_per_relation_set(monkeypatch):
    import consistency.coherence.worlds as coherence

    # "at most one of 20": past the truth table's 16 atoms, 21 worlds
    atoms = [f"x{i:02d}" for i in range(20)]
    relations = {f"r{i}_{j}": f"!({a} & {b})" for i, a in enumerate(atoms) for j, b in enumerate(atoms) if i < j}
    monkeypatch.setattr(coherence, "_WORLD_CACHE", type(coherence._WORLD_CACHE)())
    calls = []
    for name in ("_propagated_worlds", "_enumerate_z3"):
        real = getattr(coherence, name)
        monkeypatch.setattr(coherence, name, lambda *a, real=real, name=name, **k: calls.append(name) or real(*a, **k))
    first = component(relations, {a: 0.2 for a in atoms})
    second = component(relations, {a: 0.03 * (i + 1) for i, a in enumerate(atoms)})  # new credences
    worlds = enumerate_worlds(first)
    assert len(worlds) == 21 and calls == ["_propagated_worlds"]
    again = repair(second)
    assert calls == ["_propagated_worlds"]  # same relations: no second enumeration
    assert enumerate_worlds(second) is worlds and not worlds.flags.writeable
    coherence._WORLD_CACHE.clear()
    fresh = repair(second)
    assert len(calls) == 2
    assert again.r1 == fresh.r1 and again.exact.r1 == fresh.exact.r1
    assert np.array_equal(again.worlds, fresh.worlds) and np.array_equal(again.stakes, fresh.stakes)
    # other relations are another key; a table too wide to prune goes to z3, also cached
    enumerate_worlds(component(dict(list(relations.items())[1:]), {a: 0.2 for a in atoms}))
    assert len(calls) == 3
    monkeypatch.setattr(coherence, "FRONTIER_ROWS", 4)
    coherence._WORLD_CACHE.clear()
    assert np.array_equal(enumerate_worlds(first), worlds)
    assert calls[-2:] == ["_propagated_worlds", "_enumerate_z3"]
    enumerate_worlds(second)
    assert len(calls) == 5


def test_marco_stops_when_satisfiable_seeds_stop_yielding_cores():
    """300 'no' answers against a 300-term disjunction: one MUS (all of them) and 300 maximal
    satisfiable sets; MARCO returns the MUS and says it may not have them all. (The logic check
    answers this shape in closed form; a conditional on the side keeps it on z3's path here.)"""
    atoms = [f"p{i:03d}" for i in range(300)]
    comp = component({"r": " | ".join(atoms)}, {a: 0.01 for a in atoms}, [("c", "p000", "p001", 0.5)])
    start = time.perf_counter()
    boolean = analyse(comp, None)
    assert time.perf_counter() - start < 60  # growing every maximal set: 900 answers took 134 s
    assert [len(core.literals) for core in boolean.cores] == [300] and not boolean.cores_complete
    assert len(boolean.flips) == 1


def _z3_analysis(comp: Component, max_cores: int = 20):
    """The Boolean analysis on z3's path (MUSes by MARCO, flips by z3's MaxSAT), whatever the shape."""
    import consistency.satisfiability as sat

    real = sat.clause_literals
    sat.clause_literals = lambda component: None
    try:
        return analyse(comp, None, max_cores)
    finally:
        sat.clause_literals = real


@pytest.mark.parametrize("seed", range(8))
def test_a_clause_components_boolean_analysis_in_closed_form_matches_z3(seed):
    """One clause over 20-40 atoms (past the truth table), each answer against its literal or
    not, some unstated (credence 0.5): satisfiability, the MUS, its relation and the MaxSAT
    cost agree with MARCO and z3's MaxSAT; the closed form also knows it has every MUS."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 41))
    comp = _clause_component(n, rng, 0.01, 0.3)  # every answer says its literal is false...
    credences = np.array([c.credence for c in comp.claims])
    mode = seed % 4
    changed = int(rng.integers(n))
    if mode == 1:  # ...but one says it holds
        credences[changed] = 1 - credences[changed]
    elif mode == 2:  # ...but one states nothing
        credences[changed] = 0.5
    comp = with_credences(comp, credences)
    closed, solved = analyse(comp, None), _z3_analysis(comp)
    assert closed.satisfiable == solved.satisfiable == (mode in (1, 2))
    assert [(c.literals, c.relations) for c in closed.cores] == [(c.literals, c.relations) for c in solved.cores]
    assert closed.flips == solved.flips and closed.flip_cost == pytest.approx(solved.flip_cost, abs=1e-9)
    assert closed.cores_complete


def test_a_900_answer_disjunction_all_no_is_analysed_in_closed_form():
    """900 'no' answers (0.01) against a 900-term disjunction: the one MUS is all 900 with the
    relation, and the cheapest repair flips one answer. MARCO's deletion shrink took 25 s for
    this (900 z3 checks of 900 assumptions); the closed form takes milliseconds (the bound
    leaves room for a loaded machine)."""
    atoms = [f"p{i}" for i in range(900)]
    comp = component({"r": " | ".join(atoms)}, {a: 0.01 for a in atoms})
    start = time.perf_counter()
    boolean = analyse(comp, None)
    assert time.perf_counter() - start < 2.0
    assert not boolean.satisfiable and boolean.cores_complete
    assert [(core.literals, core.relations) for core in boolean.cores] == [(tuple(range(900)), ("r",))]
    assert boolean.flips == (0,) and boolean.flip_cost == pytest.approx(np.log(99))


def test_unsat_cores_flips_and_both_oracles_agree():
    comp = component(
        {"and": "ab <-> (a & b)", "or": "aob <-> (a | b)"}, {"a": 0.9, "b": 0.2, "ab": 0.7, "aob": 0.4}
    )
    table = analyse(comp, enumerate_worlds(comp))
    by_z3 = analyse(comp, None)
    names = lambda result, core: sorted(result.literals[i].claim.id for i in core.literals)  # noqa: E731
    assert sorted(names(table, c) for c in table.cores) == [["a", "aob"], ["ab", "aob"], ["ab", "b"]]
    assert sorted(names(by_z3, c) for c in by_z3.cores) == sorted(names(table, c) for c in table.cores)
    assert {c.relations for c in table.cores} == {("and",), ("or",), ("and", "or")}
    assert table.flip_cost == pytest.approx(by_z3.flip_cost)
    assert sorted(table.literals[i].claim.id for i in table.flips) == ["ab", "aob"]


def test_the_table_oracle_answers_as_z3_whether_it_filters_per_core_or_tabulates_all():
    import dataclasses

    from consistency.satisfiability import _table_oracle, _Z3Oracle, stated_literals

    rng = np.random.default_rng(9)
    for n in (4, 13):
        comp = random_component(n, rng)
        comp = dataclasses.replace(comp, claims=tuple(dataclasses.replace(c, credence=float(rng.choice([0.1, 0.9]))) for c in comp.claims))
        literals = stated_literals(comp)
        few = _table_oracle(comp, literals, [])  # no cores: each literal set's rows found literal by literal
        many = _table_oracle(comp, literals, [()] * 1000)  # many cores: the whole table once
        z3_oracle = _Z3Oracle(comp, literals)
        answers = set()
        for _ in range(30):
            lits = sorted(int(i) for i in rng.choice(len(literals), size=int(rng.integers(1, 4)), replace=False))
            rels = [k for k in range(len(comp.constraints)) if rng.random() < 0.7]
            answers.add(z3_oracle(lits, rels))
            assert few(lits, rels) == many(lits, rels) == z3_oracle(lits, rels)
        assert answers == {True, False}


def test_minimal_hitting_sets():
    assert sorted(minimal_hitting_sets([0b011, 0b110])) == [0b010, 0b101]
    assert minimal_hitting_sets([0b1, 0b10, 0b100, 0b1000], limit=0) is None


# ----- properties ---------------------------------------------------------------------------

credence_lists = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=8, max_size=8)


@FAST
@given(relation_sets(), st.data())
def test_marginals_of_any_distribution_are_coherent(comp, data):
    worlds = enumerate_worlds(comp)
    weights = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(worlds), max_size=len(worlds))))
    weights = weights / weights.sum() if weights.sum() > 0 else np.eye(len(worlds))[0]
    pay = payoffs(comp, worlds)
    marginals = pay.hit @ weights
    # a conditional's coherent credence is P(then & given) / P(given) (any value if P(given) = 0)
    given_mass = pay.given @ weights
    credences = [
        float(np.clip(m, 0, 1)) if c.given is None else (float(np.clip(m / g, 0, 1)) if g > 1e-12 else 0.5)
        for c, m, g in zip(comp.claims, marginals, given_mass)
    ]
    result = repair(with_credences(comp, credences))
    assert result.r1 <= 1e-7


@FAST
@given(relation_sets(), st.integers(0, 2**20))
def test_one_world_says_nothing_contradictory(comp, seed):
    worlds = enumerate_worlds(comp)
    world = worlds[seed % len(worlds)]
    index = dict(zip(comp.atoms, world))
    credences = [0.9 if index[c.then] or (c.given and not index[c.given]) else 0.1 for c in comp.claims]
    stated = with_credences(comp, credences)
    boolean = analyse(stated, worlds)
    assert boolean.satisfiable and not boolean.cores and not boolean.flips


@FAST
@given(relation_sets(), credence_lists, st.integers(0, 2**20))
def test_repair_is_coherent_nearest_and_proved_by_the_dutch_book(comp, credences, seed):
    comp = with_credences(comp, credences)
    worlds = enumerate_worlds(comp)
    result = repair(comp)
    pay = payoffs(comp, worlds)
    # q* is coherent: the reported distribution over real worlds reproduces it
    assert result.probabilities.min() >= 0 and result.probabilities.sum() == pytest.approx(1.0)
    support_pay = payoffs(comp, result.worlds)
    assert support_pay.matrix @ result.probabilities - support_pay.target == pytest.approx(result.deviation, abs=2e-9)
    assert np.abs(result.deviation).sum() == pytest.approx(result.r1, abs=1e-9)
    # no other coherent point tried is closer: every world and random mixtures of them
    rng = np.random.default_rng(seed)
    trials = np.vstack([np.eye(len(worlds)), rng.dirichlet(np.ones(len(worlds)), size=50)])
    distances = np.abs(trials @ pay.matrix.T - pay.target).sum(axis=1)
    assert distances.min() >= result.r1 - 1e-9
    # the Dutch book: stakes in [-1, 1] that lose at least R1 in every world
    assert np.abs(result.stakes).max(initial=0) <= 1 + 1e-12
    assert world_losses(comp, result.stakes, worlds).min() >= result.r1 - 1e-9
    if result.exact is not None:  # and exactly, in rationals
        stakes = result.exact.stakes
        for w in range(len(worlds)):
            loss = sum(s * (Fraction(pay.target[j]) - exact_entry(pay, j, w)) for j, s in enumerate(stakes))
            assert loss >= result.exact.r1


@FAST
@given(relation_sets(), credence_lists)
def test_maxsat_flips_make_the_answers_satisfiable(comp, credences):
    comp = with_credences(comp, credences)
    boolean = analyse(comp, enumerate_worlds(comp))
    atoms = {a: z3.Bool(a) for a in comp.atoms}
    solver = z3.Solver()
    solver.add(*[fm.to_z3(c.tree, atoms) for c in comp.constraints])
    for i, lit in enumerate(boolean.literals):
        kept = fm.to_z3(lit.formula(), atoms)
        solver.add(z3.Not(kept) if i in boolean.flips else kept)
    assert solver.check() == z3.sat
    assert boolean.flip_cost == pytest.approx(analyse(comp, None).flip_cost, abs=1e-6)


@FAST
@given(relation_sets(), credence_lists)
def test_cores_are_minimal_unsatisfiable_and_match_marco(comp, credences):
    comp = with_credences(comp, credences)
    boolean = analyse(comp, enumerate_worlds(comp), max_cores=1000)
    atoms = {a: z3.Bool(a) for a in comp.atoms}
    relations = [fm.to_z3(c.tree, atoms) for c in comp.constraints]
    literal = [fm.to_z3(lit.formula(), atoms) for lit in boolean.literals]

    def sat(indices) -> bool:
        solver = z3.Solver()
        solver.add(*relations, *[literal[i] for i in indices])
        return solver.check() == z3.sat

    assert boolean.satisfiable == sat(range(len(literal)))
    for core in boolean.cores:
        assert not sat(core.literals)
        assert all(sat([i for i in core.literals if i != j]) for j in core.literals)
    marco = analyse(comp, None, max_cores=1000)
    assert {c.literals for c in marco.cores} == {c.literals for c in boolean.cores}


@settings(FAST, max_examples=25)
@given(relation_sets(max_atoms=3, max_relations=2), credence_lists)
def test_z3_highs_and_exact_simplex_agree(comp, credences):
    comp = with_credences(comp, credences)
    worlds = enumerate_worlds(comp)
    pay = payoffs(comp, worlds)
    (highs,) = solve_blocks([pay])
    z3_cert, _ = solve_z3(pay)
    _, exact = exact_simplex(pay, highs)
    assert exact.r1 == z3_cert.r1  # the same rational number
    assert highs.objective == pytest.approx(float(z3_cert.r1), abs=1e-6)  # HiGHS tolerances
    generated, _, _, _ = column_generation(comp)
    assert generated.objective == pytest.approx(float(z3_cert.r1), abs=1e-7)


def test_exact_simplex_from_a_cold_start_still_reaches_the_optimum():
    # a useless warm start (all mass on one world, nothing moved) forces the always-feasible
    # start and real pivots; the result must still be z3's rational optimum
    rng = np.random.default_rng(5)
    for _ in range(15):
        comp = random_component(int(rng.integers(2, 7)), rng, noise=0.3)
        pay = payoffs(comp, enumerate_worlds(comp))
        m, w = pay.hit.shape
        cold = LPSolution(0.0, np.eye(w)[0], np.zeros(m), np.zeros(m), 0.0)
        _, exact = exact_simplex(pay, cold)
        assert exact.r1 == solve_z3(pay)[0].r1 and exact.r1 >= 0


def test_exact_simplex_from_highs_basis_and_fallbacks_match_z3():
    # credences on a 0.01 grid make HiGHS's vertex a hair infeasible in exact arithmetic
    # (0.01 + 0.99 != 1 in binary floats): the twin swap and dual simplex paths run; the
    # Gram-Schmidt warm start (no basis from HiGHS) must reach the same rational optimum
    import dataclasses

    rng = np.random.default_rng(7)
    repaired = 0
    for _ in range(40):
        comp = random_component(int(rng.integers(2, 8)), rng, noise=0.2)
        comp = dataclasses.replace(comp, claims=tuple(dataclasses.replace(c, credence=round(c.credence, 2)) for c in comp.claims))
        pay = payoffs(comp, enumerate_worlds(comp))
        (highs,) = solve_blocks([pay])
        if highs.objective <= 1e-9:
            continue
        lp = _ExactLP(pay)
        start = lp.basics(lp.warm_basis(highs))
        repaired += start is not None and any(v < 0 for v in start[1][0])
        reference = solve_z3(pay)[0].r1
        for solution in (highs, dataclasses.replace(highs, basis=None)):
            _, exact = exact_simplex(pay, solution)
            assert exact.r1 == reference == exact.guaranteed_loss
            assert sum(abs(d) for d in exact.deviation) == exact.r1
    assert repaired  # the repair paths ran


def test_exact_simplex_with_a_price_past_int64():
    # 1e-9 is n / 2^82: its row's scale leaves int64, so the exact LP falls back to Python ints
    comp = component({"r0": "!x2"}, {"x0": 0.0, "x2": 0.3}, [("c0", "x2", "x0", 1e-9)])
    result = repair(comp)
    assert result.method == "simplex"
    assert result.exact.r1 == solve_z3(payoffs(comp, enumerate_worlds(comp)))[0].r1 == Fraction(0.3)


def test_exact_simplex_with_a_subnormal_price():
    # 5e-324 is 2^-1074: its row's scale is 2^1074, so a basis on the way prices that row
    # past the float range; the float screen must not overflow or skip a column
    credences = {"x0": 0.0, "x1": 0.0, "x2": 0.0, "x3": 2.72036559013683e-58}
    claims = tuple(Claim(a, p, a) for a, p in credences.items()) + (Claim("c0", 5e-324, "x1", "x3"),)
    comp = Component(tuple(credences), (Constraint("r0", fm.parse("x0")),), claims)  # as hypothesis drew it
    result = repair(comp)
    assert result.method == "simplex"
    assert result.exact.r1 == solve_z3(payoffs(comp, enumerate_worlds(comp)))[0].r1 == result.exact.guaranteed_loss


@settings(FAST, max_examples=30)
@given(relation_sets(max_atoms=4, max_relations=3), st.lists(st.floats(-1, 1), min_size=6, max_size=6))
def test_the_pricer_finds_the_best_world_of_any_relation_set(comp, weights):
    # the direct rows for common shapes and the per-node linearisation together admit exactly
    # the worlds of the relations: the best one and its value match the enumerated maximum
    worlds = enumerate_worlds(comp)
    y = np.array(weights[: len(comp.claims)])
    world, value, bound = WorldPricer(comp).price(y)
    values = payoffs(comp, worlds).matrix.T @ y
    assert any((world == w).all() for w in worlds)
    # the world is optimal up to HiGHS's MIP tolerances; the bound, which the proofs use, is rigorous
    assert value == pytest.approx(values.max(), abs=1e-6) and bound >= values.max() - 1e-9


def test_the_pricer_bound_holds_for_worlds_a_tiny_stake_apart():
    """Found by hypothesis: two worlds 1e-7 apart (a stake of 1e-7 on a conditional) tied at
    HiGHS's default dual tolerance, and the bound fell below the better world's value."""
    comp = component({}, {"x0": 0.5, "x1": 0.5}, [("c0", "x1", "x0", 0.5), ("c1", "x1", "x0", 0.5)])
    y = np.array([0.0, 1.0, 1e-07, 0.0])
    best = (payoffs(comp, enumerate_worlds(comp)).matrix.T @ y).max()
    world, value, bound = WorldPricer(comp).price(y)
    assert value == best and bound >= best - 1e-9


def test_the_pricer_writes_common_shapes_as_rows_over_the_atoms():
    rng = np.random.default_rng(2)
    comp = random_component(60, rng)  # every shape of relations_gen
    pricer = WorldPricer(comp)
    assert pricer.n_vars == len(comp.atoms)  # no linearised node variables
    for _ in range(5):
        y = rng.normal(size=len(comp.claims))
        world, value, _ = pricer.price(y)
        columns = dict(zip(comp.atoms, world[:, None]))
        assert all(evaluate_columns(c.tree, columns)[0] for c in comp.constraints)


def test_a_wide_disjunction_is_known_to_have_too_many_worlds_without_z3(monkeypatch):
    """40 atoms under one '|' have 2^40 - 1 worlds: the pruned table proves that, z3 is not asked."""
    from consistency.coherence import worlds as coherence

    def no_z3(*args, **kwargs):
        raise AssertionError("z3 enumeration was asked")

    monkeypatch.setattr(coherence, "_enumerate_z3", no_z3)
    atoms = [f"x{i:02d}" for i in range(40)]
    wide = component({"r": " | ".join(atoms)}, {a: 0.01 for a in atoms})
    assert enumerate_worlds(wide) is None
    # a relation still open under the partial table proves nothing: then z3 is asked
    narrow = component({"r": " | ".join(atoms), "one": fm.exactly_one(*atoms[:3]), "none": "!(" + " | ".join(atoms[3:]) + ")"}, {a: 0.2 for a in atoms})
    with pytest.raises(AssertionError, match="z3 enumeration was asked"):
        enumerate_worlds(narrow)


def _clause_component(n: int, rng, low: float, high: float):
    """A clause over n atoms, 30% of them negated, each literal believed with a credence in [low, high]."""
    negated = rng.random(n) < 0.3
    literals = [("!" if negated[i] else "") + f"x{i:03d}" for i in range(n)]
    values = rng.uniform(low, high, n)
    credences = {f"x{i:03d}": float(1 - v if negated[i] else v) for i, v in enumerate(values)}
    return component({"r": " | ".join(literals)}, credences)


@pytest.mark.parametrize("low, high", [(0.0, 0.02), (0.3, 0.9)])
def test_a_clause_in_closed_form_matches_column_generation(low, high):
    """One clause over 70 atoms (past enumeration): the closed form equals column generation's
    optimum, its worlds satisfy the clause and reproduce the repaired credences, and its exact
    certificate's loss equals R1."""
    from consistency.coherence.clause import clause_literals, repair_clause

    comp = _clause_component(70, np.random.default_rng(5), low, high)
    literals = clause_literals(comp)
    assert literals is not None and enumerate_worlds(comp) is None
    closed = repair_clause(comp, literals)
    (routed,) = repair_components([comp])
    assert routed.method == "clause" and routed.r1 == closed.r1
    solved, _, loss, _ = column_generation(comp, "l1")
    worst, _, _, _ = column_generation(comp, "linf")
    assert closed.r1 == pytest.approx(solved.objective, abs=1e-7)
    assert closed.r_inf == pytest.approx(worst.objective, abs=1e-7)
    assert closed.exact is not None and closed.exact.r1 == closed.exact.guaranteed_loss
    assert np.all(evaluate_columns(comp.constraints[0].tree, dict(zip(comp.atoms, closed.worlds.T))))
    assert sum(closed.exact.probabilities) == 1 and min(closed.exact.probabilities) > 0
    assert len(closed.worlds) <= len(literals) + 1
    index = {a: i for i, a in enumerate(comp.atoms)}
    marginals = closed.probabilities @ closed.worlds[:, [index[c.then] for c in comp.claims]]
    assert np.allclose(marginals, np.array(closed.repaired(comp)), atol=1e-12)
    assert np.min(world_losses(comp, closed.stakes, closed.worlds)) == pytest.approx(closed.r1, abs=1e-12)
    assert (closed.r1 > 0) == (low == 0.0)


def test_shapes_other_than_one_clause_over_plain_claims_are_not_taken():
    from consistency.coherence.clause import clause_literals

    atoms = [f"x{i}" for i in range(4)]
    plain = {a: 0.2 for a in atoms}
    assert clause_literals(component({"r": "x0 | !x1 | x2 | x3"}, plain)) == [("x0", True), ("x1", False), ("x2", True), ("x3", True)]
    assert clause_literals(component({"r": "x0 | x1 | x2 | x0 | x3"}, plain)) is None  # an atom twice
    assert clause_literals(component({"r": "x0 | (x1 & x2) | x3"}, plain)) is None  # not a literal
    assert clause_literals(component({"r": "x0 | x1 | x2 | x3", "s": "x0 -> x1"}, plain)) is None  # two relations
    assert clause_literals(component({"r": "x0 | x1 | x2 | x3"}, {"x0": 0.2, "x1": 0.2})) is None  # atoms without claims
    assert clause_literals(component({"r": "x0 | x1 | x2 | x3"}, plain, [("c", "x0", "x1", 0.5)])) is None  # a conditional


def test_a_900_claim_disjunction_is_solved_in_closed_form():
    """Through column generation a 900-term disjunction's logic check had not finished in 15
    minutes (random credences, loaded machine); this closed form took 0.35 s under a profiler
    (the bound leaves room for a loaded CI machine)."""
    atoms = [f"p{i}" for i in range(900)]
    comp = component({"r": " | ".join(atoms)}, {a: 0.0005 for a in atoms})
    start = time.perf_counter()
    (result,) = repair_components([comp])
    assert time.perf_counter() - start < 10.0
    assert result.method == "clause" and result.exact.r1 == 1 - 900 * Fraction(0.0005)
