"""Column generation for components with too many worlds to enumerate.

A master LP over a growing set of worlds, kept in one HiGHS instance and re-solved from its
last basis; the next world is found by a 0/1 program over the relations (:class:`WorldPricer`),
which is exactly "the bettor's best world against the current stakes", so every round also
yields a Dutch book and a lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import highspy
import numpy as np
import scipy.sparse as sp

from consistency import formula as fm
from consistency.coherence.highs import (
    INFINITY,
    TOLERANCE,
    LPSolution,
    Solver,
    highs_model,
    run,
)
from consistency.coherence.model import Component, RelationsUnsatisfiable
from consistency.coherence.worlds import evaluate_columns, payoffs


class WorldPricer:
    """The bettor's best world against stakes ``y``: max_w sum_j y_j a_j(w) over the models
    of the relations, as a 0/1 program.

    A relation of a common shape over literals (an implication, a clause, an exclusion, an
    equivalence, ``n <-> (a & b)``, ``n <-> (a | b)``) becomes its few linear rows over the
    atoms themselves; any other formula node becomes a linearised variable of its own. The
    direct rows halve the program HiGHS presolves on every call, and presolve is most of a
    pricing call's time.
    """

    def __init__(self, component: Component):
        self.component = component
        self._cost: sp.csr_matrix | None = None
        self._const = np.zeros(0)
        self._highs: Solver | None = None
        self.index = {name: i for i, name in enumerate(component.atoms)}
        self.n_vars = len(component.atoms)
        self.rows: list[tuple[dict[int, float], float, float]] = []  # (coefficients, low, high)
        for constraint in component.constraints:
            self._hold(constraint.tree)
        # per claim, the affine expressions of [then & given] (or [then]) and [given]
        self.hit, self.given = [], []
        for claim in component.claims:
            then = fm.Var(claim.then)
            tree = then if claim.given is None else fm.BinOp("&", then, fm.Var(claim.given))
            self.hit.append(self._node(tree))
            self.given.append(self._node(fm.Var(claim.given)) if claim.given else ({}, 0.0))

    def _literal(self, tree: fm.Formula) -> tuple[dict[int, float], float] | None:
        """The affine expression of an atom or a negated atom; None for anything else."""
        if isinstance(tree, fm.Var):
            return {self.index[tree.name]: 1.0}, 0.0
        if isinstance(tree, fm.Not):
            inner = self._literal(tree.arg)
            return None if inner is None else ({k: -v for k, v in inner[0].items()}, 1.0 - inner[1])
        return None

    def _row(self, terms: list[tuple[float, tuple[dict[int, float], float]]], low: float, high: float) -> None:
        """The row ``low <= sum(scale * expression) <= high``."""
        coef: dict[int, float] = {}
        const = 0.0
        for scale, (c, k) in terms:
            for key, value in c.items():
                coef[key] = coef.get(key, 0.0) + scale * value
            const += scale * k
        self.rows.append((coef, low - const, high - const))

    def _hold(self, tree: fm.Formula) -> None:
        """Rows that hold exactly when the formula is true."""
        inf = math.inf
        literal = self._literal(tree)
        if literal is not None:
            self._row([(1, literal)], 1, 1)
            return
        if isinstance(tree, fm.Not) and isinstance(tree.arg, fm.BinOp) and tree.arg.op in ("&", "|"):
            a, b = self._literal(tree.arg.left), self._literal(tree.arg.right)
            if a is not None and b is not None:
                if tree.arg.op == "&":  # not both: a + b <= 1
                    self._row([(1, a), (1, b)], -inf, 1)
                else:  # neither
                    self._row([(1, a)], 0, 0)
                    self._row([(1, b)], 0, 0)
                return
        if isinstance(tree, fm.BinOp):
            if tree.op == "&":
                self._hold(tree.left)
                self._hold(tree.right)
                return
            if tree.op == "|":  # a clause of any length: one row sum(literals) >= 1
                clause = [self._literal(operand) for operand in fm.chain_operands(tree, "|")]
                if all(literal is not None for literal in clause):
                    self._row([(1, literal) for literal in clause if literal is not None], 1, inf)
                    return
            a, b = self._literal(tree.left), self._literal(tree.right)
            if tree.op == "->" and a is not None and b is not None:  # the clause !a | b: b - a >= 0
                self._row([(-1, a), (1, b)], 0, inf)
                return
            if tree.op == "<->":
                if a is not None and b is not None:
                    self._row([(1, a), (-1, b)], 0, 0)
                    return
                # a literal equal to an "and" or an "or" of two literals: the node's own rows
                for lit, other in ((a, tree.right), (b, tree.left)):
                    if lit is None or not (isinstance(other, fm.BinOp) and other.op in ("&", "|")):
                        continue
                    p, q = self._literal(other.left), self._literal(other.right)
                    if p is None or q is None:
                        continue
                    if other.op == "&":  # lit <= p, lit <= q, lit >= p + q - 1
                        self._row([(1, lit), (-1, p)], -inf, 0)
                        self._row([(1, lit), (-1, q)], -inf, 0)
                        self._row([(1, lit), (-1, p), (-1, q)], -1, inf)
                    else:  # lit >= p, lit >= q, lit <= p + q
                        self._row([(1, lit), (-1, p)], 0, inf)
                        self._row([(1, lit), (-1, q)], 0, inf)
                        self._row([(1, lit), (-1, p), (-1, q)], -inf, 0)
                    return
        coef, const = self._node(tree)
        self.rows.append((coef, 1.0 - const, 1.0 - const))

    def _new(self) -> int:
        self.n_vars += 1
        return self.n_vars - 1

    def _node(self, tree: fm.Formula) -> tuple[dict[int, float], float]:
        """An affine expression (coefficients, constant) equal to the formula's 0/1 value."""
        if isinstance(tree, fm.Var):
            return {self.index[tree.name]: 1.0}, 0.0
        if isinstance(tree, fm.Not):
            coef, const = self._node(tree.arg)
            return {k: -v for k, v in coef.items()}, 1.0 - const
        if tree.op == "->":
            return self._node(fm.BinOp("|", fm.Not(tree.left), tree.right))
        inf = math.inf
        if tree.op in ("&", "|"):
            # a chain of n operands gets one variable and n + 1 rows, not a tree of binary
            # nodes with n - 1 variables and 3(n - 1) rows (a 900-claim disjunction)
            parts = [self._node(operand) for operand in fm.chain_operands(tree, tree.op)]
            v = self._new()
            own = (1.0, ({v: 1.0}, 0.0))
            if tree.op == "&":  # v <= each part, v >= sum(parts) - (n - 1)
                for part in parts:
                    self._row([own, (-1, part)], -inf, 0)
                self._row([own, *[(-1, part) for part in parts]], 1 - len(parts), inf)
            else:  # v >= each part, v <= sum(parts)
                for part in parts:
                    self._row([own, (-1, part)], 0, inf)
                self._row([own, *[(-1, part) for part in parts]], -inf, 0)
            return {v: 1.0}, 0.0
        a, b = self._node(tree.left), self._node(tree.right)
        v = self._new()
        # standard linearisations, each row: low <= sum(coef x) + const_part <= high
        def row(terms: list[tuple[float, tuple[dict[int, float], float]]], var_coef: float, low: float, high: float):
            self._row([(var_coef, ({v: 1.0}, 0.0)), *terms], low, high)

        # "<->": v = 1 - |a - b|
        row([(1, a), (-1, b)], 1, -inf, 1)
        row([(-1, a), (1, b)], 1, -inf, 1)
        row([(-1, a), (-1, b)], 1, -1, inf)
        row([(1, a), (1, b)], 1, 1, inf)
        return {v: 1.0}, 0.0

    def _objective(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """The MILP's cost vector (it minimises) and constant for ``max_w weights . a(w)``."""
        if self._cost is None:
            m = len(self.component.claims)
            scale = np.array([c.credence if c.given else 0.0 for c in self.component.claims])
            hit, given = sp.lil_matrix((m, self.n_vars)), sp.lil_matrix((m, self.n_vars))
            for j, ((hc, _), (gc, _)) in enumerate(zip(self.hit, self.given)):
                for key, value in hc.items():
                    hit[j, key] = value
                for key, value in gc.items():
                    given[j, key] = value
            # a_j(w) = hit_j(w) - price_j given_j(w), each an affine expression of the variables
            self._cost = (sp.csr_matrix(hit) - sp.diags(scale) @ sp.csr_matrix(given)).T.tocsr()
            self._const = np.array([h[1] for h in self.hit]) - scale * np.array([g[1] for g in self.given])
        return -(self._cost @ weights), float(self._const @ weights)

    def price(self, weights: np.ndarray) -> tuple[np.ndarray, float, float]:
        """The bettor's best world against stakes ``weights``: (world, its value
        ``weights . a(world)``, an upper bound on every world's value).

        The bound is HiGHS's MIP dual bound (the value itself once the MIP is solved to
        optimality, up to HiGHS's gap tolerances): a lower bound on R1 built from it is
        rigorous whatever the incumbent.
        """
        cost, constant = self._objective(np.asarray(weights, dtype=float))
        highs = self._mip()
        highs.changeColsCost(self.n_vars, np.arange(self.n_vars, dtype=np.int32), cost)
        highs.run()
        status = highs.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            raise RelationsUnsatisfiable([c.id for c in self.component.constraints])
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS failed to price a world: {highs.modelStatusToString(status)}")
        x = np.round(np.asarray(highs.getSolution().col_value)[: len(self.component.atoms)]).astype(bool)
        return x, self._value(weights, x), float(-highs.getInfo().mip_dual_bound + constant)

    def _value(self, weights: np.ndarray, world: np.ndarray) -> float:
        return float(payoffs(self.component, world[None, :]).matrix[:, 0] @ weights)

    def _mip(self) -> Solver:
        """The pricing MILP kept in one HiGHS instance: only its costs change between calls."""
        if self._highs is None:
            rows, cols, vals = [], [], []
            for i, (coef, _, _) in enumerate(self.rows):
                rows += [i] * len(coef)
                cols += list(coef)
                vals += list(coef.values())
            matrix = sp.csc_matrix((vals, (rows, cols)), shape=(len(self.rows), self.n_vars))
            low = np.array([r[1] for r in self.rows])
            high = np.array([r[2] for r in self.rows])
            # HiGHS stops at a relative gap of 1e-4 by default: far from the 1e-9 the loop
            # stops at, so solve to optimality (the bound is used either way); at the default
            # 1e-7 dual tolerance two worlds 1e-7 apart tie and the reported bound can sit
            # below the better one (a stake of 1e-7 on a conditional did it)
            self._highs = highs_model(
                matrix, np.zeros(self.n_vars), (np.zeros(self.n_vars), np.ones(self.n_vars)),
                (np.maximum(low, -INFINITY), np.minimum(high, INFINITY)),
                integer=True, mip_rel_gap=0.0, mip_abs_gap=0.0, dual_feasibility_tolerance=TOLERANCE,
                # the MIP is solved at its root (one node) on the benchmark's 500 atoms; the
                # feasibility-jump heuristic was 15% of each call there and found nothing new
                mip_heuristic_run_feasibility_jump=False,
            )
        return self._highs

    def best_world(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """The world maximising sum_j weights_j a_j(w), and that maximum."""
        world, value, _ = self.price(weights)
        return world, value


class _Master:
    """The column-generation master LP of one component over the worlds found so far.

    Same LP as :func:`~consistency.coherence.highs.solve_blocks` for one block, kept in one
    HiGHS instance and re-solved from its last optimal basis (still primal feasible after new
    columns join at zero), with the world columns last so new worlds are appended: e+ and e-
    per claim (and t for R_inf) first, then one column per world.
    """

    def __init__(self, component: Component, objective: str):
        self.component = component
        self.objective = objective
        self.worlds: list[np.ndarray] = []
        self.seen: set[bytes] = set()
        self.target = payoffs(component, np.zeros((0, len(component.atoms)), dtype=bool)).target
        self._highs = self._build()

    def _build(self) -> Solver:
        m = len(self.target)
        linf = self.objective == "linf"
        n_fixed = 2 * m + int(linf)
        n_rows = m + 1 + (2 * m if linf else 0)
        claims = np.arange(m)
        starts: list[int] = []
        index: list[int] = []
        values: list[float] = []
        for sign, col in ((1.0, 0), (-1.0, 1)):
            for j in claims:
                starts.append(len(index))
                index += [j] + ([m + 1 + col * m + j] if linf else [])
                values += [sign] + ([1.0] if linf else [])
        if linf:
            starts.append(len(index))
            index += list(range(m + 1, 3 * m + 1))
            values += [-1.0] * (2 * m)
        matrix = sp.csc_matrix((values, index, starts + [len(index)]), shape=(n_rows, n_fixed))
        self._n_fixed = n_fixed
        # rows: a_j . mu + e+_j - e-_j = b_j, sum mu = 1, then e+_j - t <= 0 and e-_j - t <= 0;
        # after new columns join, the old basis is primal feasible: primal simplex resumes from it.
        # At HiGHS's default 1e-7 feasibility tolerances a path could end 2e-7 below the optimum
        # (500 rows, each a hair infeasible), under the book's own bound; the loop stops at 1e-9
        return highs_model(
            matrix, np.r_[np.zeros(2 * m), 1.0] if linf else np.ones(2 * m),
            (np.zeros(n_fixed), np.full(n_fixed, INFINITY)),
            (np.r_[self.target, 1.0, np.full(2 * m if linf else 0, -INFINITY)],
             np.r_[self.target, 1.0, np.zeros(2 * m if linf else 0)]),
            simplex_strategy=4, presolve="off", primal_feasibility_tolerance=TOLERANCE, dual_feasibility_tolerance=TOLERANCE,
        )

    def add(self, worlds: Sequence[np.ndarray]) -> int:
        """Add the worlds not already in the master; returns how many joined."""
        fresh = []
        for world in worlds:
            key = world.tobytes()
            if key not in self.seen:
                self.seen.add(key)
                fresh.append(world)
        if not fresh:
            return 0
        pay = payoffs(self.component, np.array(fresh))
        self.worlds += fresh
        matrix = pay.matrix
        m = matrix.shape[0]
        rows, cols = np.nonzero(matrix.T)  # column-major: one world after another
        counts = np.bincount(rows, minlength=len(fresh)) + 1  # + the convexity row
        starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int32)
        index = np.empty(counts.sum(), dtype=np.int32)
        values = np.empty(counts.sum())
        ends = starts + counts - 1  # each column's convexity entry comes last
        keep = np.ones(len(index), dtype=bool)
        keep[ends] = False
        index[keep], values[keep] = cols, matrix[cols, rows]
        index[ends], values[ends] = m, 1.0
        k = len(fresh)
        self._highs.addCols(k, np.zeros(k), np.zeros(k), np.full(k, INFINITY), len(index), starts, index, values)
        return len(fresh)

    def solve(self) -> LPSolution:
        highs = self._highs
        run(highs, "a column-generation master")
        solution = highs.getSolution()
        x, y = np.asarray(solution.col_value), np.asarray(solution.row_dual)
        m = len(self.target)
        mu = np.clip(x[self._n_fixed :], 0.0, None)
        deviation = x[m : 2 * m] - x[:m]  # A mu - b = e- - e+
        return LPSolution(float(highs.getInfo().objective_function_value), mu, deviation, y[:m].copy(), float(y[m]))


def column_generation(
    component: Component,
    objective: str = "l1",
    max_rounds: int = 5000,
    initial: np.ndarray | None = None,
    smoothing: float = 0.8,
) -> tuple[LPSolution, np.ndarray, float, int]:
    """Solve the coherence LP over a growing set of worlds.

    Each round solves the master LP over the worlds found so far and asks the pricer for the
    bettor's best world against stakes y. Any stakes give a Dutch book whose guaranteed loss
    ``y . b - max_w y . a(w)`` is a lower bound on the optimum, and the master's objective is
    an upper bound; the loop stops when they meet (within ``TOLERANCE``), so the result is
    the exact optimum over all worlds, proved by the best book found.

    The stakes priced are the master's duals smoothed towards the best book so far (Wentges:
    ``smoothing`` of the way), which damps the duals' oscillation between rounds; when the
    smoothed stakes find no improving world (a mispricing), the master's own duals are
    priced. Returns the master's solution with the proving stakes as its ``duals``, its
    worlds, the guaranteed loss and the rounds used.
    """
    pricer = WorldPricer(component)
    master = _Master(component, objective)
    credences = np.array([c.credence for c in component.claims])
    plain = np.array([c.given is None for c in component.claims])
    # warm start: the worlds that round the credences at a spread of thresholds (for chains
    # of implications these are exactly the support of the repair)
    if initial is not None and len(initial):
        master.add(list(initial))
    else:
        master.add([pricer.best_world(np.where(plain, credences - t, 0.0))[0] for t in np.linspace(0.05, 0.95, 19)])
    target = master.target
    best_loss, best_value, center = -math.inf, 0.0, None
    rounds = 0
    while True:
        solution = master.solve()
        rounds += 1
        tries = [solution.duals] if center is None or smoothing <= 0 else [smoothing * center + (1 - smoothing) * solution.duals, solution.duals]
        improved = False
        for stakes in tries:
            world, _, bound = pricer.price(stakes)
            loss = float(stakes @ target) - bound
            if loss > best_loss:
                best_loss, best_value, center = loss, bound, stakes
            if solution.objective - best_loss <= TOLERANCE:
                break
            gain = float(payoffs(component, world[None, :]).matrix[:, 0] @ solution.duals) + solution.convexity_dual
            if gain > TOLERANCE and master.add([world]):
                master.add(_improving_neighbours(component, world, solution))
                improved = True
                break
        if not improved or rounds >= max_rounds:
            assert center is not None
            proved = LPSolution(solution.objective, solution.mu, solution.deviation, center, -best_value)
            return proved, np.array(master.worlds), best_loss, rounds


# improving neighbours joining with each priced world: on the benchmark's three 500-atom
# components (bench/logic.py at 1k, 10k, 100k) 8 took 19.0 s in all, 16 took 23.8 s and 4 took
# 20.1 s (fewer columns make each master re-solve cheaper; too few cost rounds)
NEIGHBOURS = 8


def _improving_neighbours(component: Component, world: np.ndarray, solution: LPSolution, keep: int = NEIGHBOURS) -> list[np.ndarray]:
    """Worlds one atom away from ``world`` that satisfy the relations and would also improve
    the master LP (positive reduced cost), best first: a MILP call buys one column, this
    local search buys up to ``keep`` more for the price of one vectorised evaluation."""
    n = len(world)
    flips = np.repeat(world[None, :], n, axis=0)
    flips[np.arange(n), np.arange(n)] ^= True
    columns = dict(zip(component.atoms, flips.T))
    ok = np.ones(n, dtype=bool)
    for constraint in component.constraints:
        ok &= evaluate_columns(constraint.tree, columns)
    candidates = flips[ok]
    if not len(candidates):
        return []
    gain = payoffs(component, candidates).matrix.T @ solution.duals + solution.convexity_dual
    order = np.argsort(-gain)[:keep]
    return [candidates[i] for i in order if gain[i] > TOLERANCE]
