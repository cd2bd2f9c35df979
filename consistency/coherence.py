"""Probabilistic coherence of credences under logical relations, with certificates.

Credences are *coherent* iff some probability distribution over the possible worlds (the
truth assignments that satisfy every relation) reproduces them. The distance to coherence is
a linear program over that distribution ``mu``::

    R1   = min_mu  sum_j |a_j . mu - b_j|       s.t. mu >= 0, sum(mu) = 1
    Rinf = min_mu  max_j |a_j . mu - b_j|

where a claim ``P(X) = p`` has ``a_j(w) = [w |= X]`` and ``b_j = p``, and a conditional
``P(T | G) = c`` enters as the called-off bet ``a_j(w) = [w |= T & G] - c [w |= G]``,
``b_j = 0``. The LP dual of R1 is a Dutch book: stakes ``s_j`` in [-1, 1] (buy ``s_j``
units of the bet on claim j at the stated price) whose total loss
``sum_j s_j (b_j - a_j(w))`` is at least R1 in *every* world.

Three solvers, one answer:

- components whose worlds are enumerated (at most ``max_worlds``) are solved with HiGHS,
  many components per LP; for an incoherent one (at most ``exact_worlds`` worlds) the vertex
  HiGHS ends on is rebuilt in exact rationals and finished with exact simplex pivots
  (:func:`exact_simplex`), giving an exact distribution and exact stakes whose equal
  objectives prove optimality;
- components with too many worlds are solved by column generation: a master LP over a
  growing set of worlds, the next world found by a MILP over the relations (that search is
  exactly "the bettor's best world against the current stakes", so every round also yields
  a Dutch book and a lower bound);
- :func:`solve_z3` solves any enumerated component in rational arithmetic with z3 (primal and
  dual; tens of ms per small component); it is the reference the tests hold the fast paths
  to, and ``repair_components(..., exact="z3")`` uses it instead of the exact simplex.

World enumeration uses a numpy truth table up to ``TABLE_ATOMS`` atoms (all 2^n assignments
evaluated at once, microseconds) and, up to ``Z3_ATOMS``, a truth table grown atom by atom and
pruned by each relation as it completes (z3 with blocking clauses when that grows too wide),
up to a cap that keeps a loosely constrained large component (2^500 worlds) from ever being
enumerated. Enumerations past the plain table are cached per relation set.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from consistency import formula as fm

TABLE_ATOMS = 16  # 2^16 rows x a few relations: the largest truth table worth building
# worlds are enumerated (pruned table, else z3) up to this many atoms: z3's blocking clauses
# grow with the atoms, and a big loosely constrained component would take minutes to reach the cap
Z3_ATOMS = 64
MAX_WORLDS = 4096  # above this many worlds a component goes to column generation
EXACT_WORLDS = 4096  # exact rational certificates for components up to this many worlds
TOLERANCE = 1e-9  # HiGHS feasibility tolerance: below it a float is read as zero
BATCH_COLUMNS = 20_000  # LP columns per HiGHS call when many small components are batched
# z3 enumerations kept per process (each at most MAX_WORLDS x Z3_ATOMS bools: 256 KiB)
WORLD_CACHE_SIZE = 256
FRONTIER_ROWS = 1 << 16  # partial assignments the pruned truth table may hold before z3 takes over
_WORLD_CACHE: OrderedDict[tuple, np.ndarray | None] = OrderedDict()


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


# ===== worlds ===========================================================================


def evaluate_columns(tree: fm.Formula, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate a formula on many assignments at once (``columns`` maps atom -> bool array)."""
    if isinstance(tree, fm.Var):
        return columns[tree.name]
    if isinstance(tree, fm.Not):
        return ~evaluate_columns(tree.arg, columns)
    left, right = evaluate_columns(tree.left, columns), evaluate_columns(tree.right, columns)
    if tree.op == "&":
        return left & right
    if tree.op == "|":
        return left | right
    if tree.op == "->":
        return ~left | right
    return left == right


def truth_table(n_atoms: int) -> np.ndarray:
    """All 2^n assignments as a bool array of shape (2^n, n)."""
    rows = np.arange(2**n_atoms, dtype=np.int64)[:, None]
    return ((rows >> np.arange(n_atoms)) & 1).astype(bool)


def enumerate_worlds(component: Component, cap: int = MAX_WORLDS) -> np.ndarray | None:
    """The models of the component's relations, shape (worlds, atoms); None above ``cap``
    worlds or ``Z3_ATOMS`` atoms (column generation's territory).

    Raises :class:`RelationsUnsatisfiable` when there is no model at all (for components
    past ``Z3_ATOMS``, column generation finds that out).
    """
    n = len(component.atoms)
    if n <= TABLE_ATOMS:
        table = truth_table(n)
        columns = dict(zip(component.atoms, table.T))
        keep = np.ones(len(table), dtype=bool)
        for constraint in component.constraints:
            keep &= evaluate_columns(constraint.tree, columns)
        worlds = table[keep]
        if len(worlds) > cap:
            return None
    elif n <= Z3_ATOMS:
        worlds = _cached_worlds(component, cap)
        if worlds is None:
            return None
    else:
        return None
    if len(worlds) == 0:
        raise RelationsUnsatisfiable([c.id for c in component.constraints])
    return worlds


def _cached_worlds(component: Component, cap: int) -> np.ndarray | None:
    """The component's worlds (None above ``cap``) past the truth table's size, cached.

    Worlds depend only on the relations and the atom order, never on the credences, and the
    ladder re-runs the logic check on the same relations with changed answers many times, so
    each relation set is enumerated once per process. The key is the atom order and the
    printed formulas in order; the rows are sorted (z3's order varies between calls, its
    search state being process-wide), so the worlds, and every tie the LP breaks, are a
    function of the relations alone; the arrays are read-only.
    """
    key = (component.atoms, tuple(fm.to_string(c.tree) for c in component.constraints), cap)
    if key in _WORLD_CACHE:
        _WORLD_CACHE.move_to_end(key)
        return _WORLD_CACHE[key]
    worlds = _propagated_worlds(component)
    if worlds is None:  # the partial assignments grew too many: z3 enumerates up to the cap
        worlds = _enumerate_z3(component, cap)
    if worlds is not None and len(worlds) > cap:
        worlds = None
    if worlds is not None:
        worlds = worlds[np.lexsort(worlds.T[::-1])]
        worlds.setflags(write=False)
    _WORLD_CACHE[key] = worlds
    if len(_WORLD_CACHE) > WORLD_CACHE_SIZE:
        _WORLD_CACHE.popitem(last=False)  # least recently used
    return worlds


def _propagated_worlds(component: Component, limit: int | None = None) -> np.ndarray | None:
    """All worlds by a truth table grown one atom at a time, pruned as it grows.

    Each step doubles the partial assignments and keeps those that satisfy every relation
    whose atoms are now all assigned (each relation is checked exactly once, at its last
    atom), so the table stays near the number of worlds when relations are local (an
    exclusivity group of 28 atoms: 29 rows instead of 2^28). Atoms are taken greedily, the
    one completing the most relations first. None when the partial table passes ``limit``
    rows (default ``FRONTIER_ROWS``; then z3, which enumerates only full models, is the
    better tool).
    """
    limit = FRONTIER_ROWS if limit is None else limit
    atoms = component.atoms
    variables = [fm.variables(c.tree) for c in component.constraints]
    mentions: dict[str, list[int]] = {a: [] for a in atoms}
    for k, names in enumerate(variables):
        for name in names:
            mentions[name].append(k)
    unassigned = [len(names) for names in variables]
    rows = np.zeros((1, 0), dtype=bool)
    order: list[str] = []
    remaining = dict.fromkeys(atoms)
    while remaining:
        # completing relations prunes now; touching half-assigned ones keeps the frontier local
        atom = max(remaining, key=lambda a: (
            sum(unassigned[k] == 1 for k in mentions[a]),
            sum(unassigned[k] < len(variables[k]) for k in mentions[a]),
        ))
        del remaining[atom]
        order.append(atom)
        rows = np.vstack([np.c_[rows, np.zeros(len(rows), bool)], np.c_[rows, np.ones(len(rows), bool)]])
        columns = dict(zip(order, rows.T))
        keep = np.ones(len(rows), dtype=bool)
        for k in mentions[atom]:
            unassigned[k] -= 1
            if unassigned[k] == 0:
                keep &= evaluate_columns(component.constraints[k].tree, columns)
        rows = rows[keep]
        if len(rows) > limit:
            return None
    position = {a: i for i, a in enumerate(order)}
    return np.ascontiguousarray(rows[:, [position[a] for a in atoms]])


def _enumerate_z3(component: Component, cap: int) -> np.ndarray | None:
    import z3

    atoms = {name: z3.Bool(name) for name in component.atoms}
    solver = z3.SimpleSolver()
    for constraint in component.constraints:
        solver.add(fm.to_z3(constraint.tree, atoms))
    found = []
    while solver.check() == z3.sat:
        if len(found) == cap:
            return None
        model = solver.model()
        world = [z3.is_true(model.eval(atoms[name], model_completion=True)) for name in component.atoms]
        found.append(world)
        solver.add(z3.Or([atoms[name] != value for name, value in zip(component.atoms, world)]))
    return np.array(found, dtype=bool).reshape(len(found), len(component.atoms))


@dataclass(frozen=True)
class Payoffs:
    """The LP data of a component over a list of worlds: ``a_j(w) = hit_jw - price_j * given_jw``."""

    hit: np.ndarray  # (claims, worlds) bool: [w |= then] or [w |= then & given]
    given: np.ndarray  # (claims, worlds) bool: [w |= given]; all False for plain claims
    price: np.ndarray  # (claims,): the conditional credence c, 0 for plain claims
    target: np.ndarray  # (claims,): b_j, the credence for plain claims, 0 for conditionals

    @property
    def matrix(self) -> np.ndarray:
        return self.hit - self.price[:, None] * self.given

    def exact_entry(self, j: int, w: int) -> Fraction:
        value = Fraction(int(self.hit[j, w]))
        return value - Fraction(self.price[j]) if self.given[j, w] else value


def payoffs(component: Component, worlds: np.ndarray) -> Payoffs:
    index = {name: i for i, name in enumerate(component.atoms)}
    m = len(component.claims)
    hit = np.zeros((m, len(worlds)), dtype=bool)
    given = np.zeros_like(hit)
    price, target = np.zeros(m), np.zeros(m)
    for j, claim in enumerate(component.claims):
        hit[j] = worlds[:, index[claim.then]]
        if claim.given is None:
            target[j] = claim.credence
        else:
            given[j] = worlds[:, index[claim.given]]
            hit[j] &= given[j]
            price[j] = claim.credence
    return Payoffs(hit, given, price, target)


# ===== results ==========================================================================


@dataclass
class ExactCertificate:
    """R1 with its proof in rationals: a distribution reaching it and stakes that lose it."""

    r1: Fraction
    probabilities: list[Fraction]  # over ``Repair.worlds``
    stakes: list[Fraction]
    guaranteed_loss: Fraction  # equals r1: that equality proves optimality
    deviation: list[Fraction]  # q*_j - p_j per claim


@dataclass
class Repair:
    """The nearest coherent credences and the Dutch book that proves the distance."""

    r1: float
    r_inf: float
    deviation: np.ndarray  # q*_j - p_j (for a conditional: the called-off bet's gap)
    worlds: np.ndarray  # (K, atoms) the worlds the repaired distribution puts mass on
    probabilities: np.ndarray  # (K,)
    stakes: np.ndarray  # (claims,) in [-1, 1]
    guaranteed_loss: float  # min over every world of the stakes' loss (a lower bound on R1)
    method: str  # "simplex" or "z3" (exact), "highs" or "column-generation"
    n_worlds: int | None  # worlds enumerated (None: too many, column generation)
    exact: ExactCertificate | None = None
    iterations: int = 0  # column generation rounds

    def repaired(self, component: Component) -> list[float | None]:
        """q*_j per claim; a conditional's is P*(then & given) / P*(given), None if P*(given) = 0."""
        out: list[float | None] = []
        index = {name: i for i, name in enumerate(component.atoms)}
        for claim, d in zip(component.claims, self.deviation):
            if claim.given is None:
                out.append(float(np.clip(claim.credence + d, 0.0, 1.0)))
                continue
            given = self.worlds[:, index[claim.given]]
            both = given & self.worlds[:, index[claim.then]]
            mass = float(self.probabilities[given].sum())
            out.append(float(self.probabilities[both].sum()) / mass if mass > TOLERANCE else None)
        return out


# ===== HiGHS: many components per LP ====================================================


@dataclass
class _Solution:
    objective: float
    mu: np.ndarray
    deviation: np.ndarray
    duals: np.ndarray  # y per claim row
    convexity_dual: float  # z
    basis: np.ndarray | None = None  # the block's columns in HiGHS's final basis, when known


def solve_blocks(blocks: Sequence[Payoffs], objective: str = "l1") -> list[_Solution]:
    """Solve independent components in one HiGHS call (a block-diagonal LP).

    The objective is a sum of per-block objectives, so its optimum is every block's optimum;
    one call amortises the per-call overhead over hundreds of small components.
    Per block, the columns are mu (one per world), e+ and e- (one per claim) and, for R_inf,
    t; the rows are ``A mu + e+ - e- = b`` and ``sum(mu) = 1`` (and ``e+, e- <= t``, after
    every block's equality rows).
    """
    if not blocks:
        return []
    eq_rows, eq_cols, eq_vals, ub_rows, ub_cols, ub_vals = [], [], [], [], [], []
    rhs, cost, spans = [], [], []
    row = col = ub_row = 0
    for pay in blocks:
        m, w = pay.hit.shape
        matrix = pay.matrix
        r, c = np.nonzero(matrix)
        claims = np.arange(m)
        eq_rows += [row + r, row + claims, row + claims, np.full(w, row + m)]
        eq_cols += [col + c, col + w + claims, col + w + m + claims, col + np.arange(w)]
        eq_vals += [matrix[r, c], np.ones(m), -np.ones(m), np.ones(w)]
        rhs += [pay.target, [1.0]]
        width = w + 2 * m
        if objective == "linf":  # e+_j - t <= 0 and e-_j - t <= 0
            t = col + width
            ub_rows += [ub_row + claims, ub_row + m + claims, ub_row + np.arange(2 * m)]
            ub_cols += [col + w + claims, col + w + m + claims, np.full(2 * m, t)]
            ub_vals += [np.ones(2 * m), -np.ones(2 * m)]
            cost += [np.zeros(width), [1.0]]
            width += 1
            ub_row += 2 * m
        else:
            cost += [np.zeros(w), np.ones(2 * m)]
        spans.append((col, row, w, m, width))
        row += m + 1
        col += width
    rows = np.concatenate(eq_rows + [row + r for r in ub_rows])
    matrix = sp.csc_matrix((np.concatenate(eq_vals + ub_vals), (rows, np.concatenate(eq_cols + ub_cols))), shape=(row + ub_row, col))
    c, b = np.concatenate(cost), np.concatenate(rhs)
    core = _highs_core()
    if core is None:
        kwargs = {"A_ub": matrix[row:], "b_ub": np.zeros(ub_row)} if ub_row else {}
        # dual simplex returns a vertex, the warm start of the exact path
        result = linprog(c, A_eq=matrix[:row], b_eq=b, bounds=(0, None), method="highs-ds", **kwargs)
        if result.status != 0:
            raise RuntimeError(f"HiGHS failed on a coherence LP: {result.message}")
        x, duals, basis = result.x, result.eqlin.marginals, None
    else:
        x, duals, basis = _highs_lp(core, c, matrix, b, ub_row)
    out = []
    for start, first_row, w, m, width in spans:
        x_block = x[start : start + width]
        y = duals[first_row : first_row + m + 1]
        deviation = x_block[w + m : w + 2 * m] - x_block[w : w + m]  # A mu - b = e- - e+
        block_basis = None
        if basis is not None:
            # a claim row's own basic slack stands for its e+ column: the same unit column, but
            # at cost 1, not 0, so the duals may differ from HiGHS's; exact_simplex copes
            columns, rows = basis[0][start : start + w + 2 * m], basis[1][first_row : first_row + m]
            block_basis = np.concatenate([np.flatnonzero(columns), w + np.flatnonzero(rows)])
        out.append(_Solution(float(c[start : start + width] @ x_block), np.maximum(x_block[:w], 0.0), deviation, y[:m].copy(), float(y[m]), block_basis))
    return out


def _highs_model(core, matrix: sp.csc_matrix, cost: np.ndarray, columns: tuple[np.ndarray, np.ndarray],
                 rows: tuple[np.ndarray, np.ndarray], integer: bool = False, **options) -> Any:
    """A quiet HiGHS instance holding min cost.x with ``columns`` and ``rows`` as (lower, upper)
    bounds, the constraint ``matrix`` and HiGHS ``options``."""
    n_rows, n_cols = matrix.shape
    lp = core.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = columns
    lp.row_lower_, lp.row_upper_ = rows
    lp.a_matrix_.format_ = core.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_cols, n_rows
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    if integer:
        lp.integrality_ = [core.HighsVarType.kInteger] * n_cols
    highs = core._Highs()
    highs.setOptionValue("output_flag", False)
    for name, value in options.items():
        highs.setOptionValue(name, value)
    highs.passModel(lp)
    return highs


def _highs_lp(core, cost: np.ndarray, matrix: sp.csc_matrix, rhs: np.ndarray, n_ub: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """min cost.x over x >= 0, the first ``len(rhs)`` rows of ``matrix`` equal to ``rhs`` and
    the last ``n_ub`` at most 0, straight through HiGHS's bindings (linprog converts and
    checks its arguments on every call, and hides the final basis). Returns x, the row duals
    (linprog's signs) and which columns and which rows' slacks HiGHS's final basis holds
    (None without a valid one).
    """
    n_cols = matrix.shape[1]
    highs = _highs_model(
        core, matrix, cost, (np.zeros(n_cols), np.full(n_cols, core.kHighsInf)),
        (np.concatenate([rhs, np.full(n_ub, -core.kHighsInf)]), np.concatenate([rhs, np.zeros(n_ub)])),
        simplex_strategy=1,  # dual simplex ends on a vertex: the exact path's warm start
    )
    highs.run()
    status = highs.getModelStatus()
    if status != core.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS failed on a coherence LP: {highs.modelStatusToString(status)}")
    solution, basis = highs.getSolution(), highs.getBasis()
    basic = None
    if basis.valid:
        kBasic = core.HighsBasisStatus.kBasic
        basic = (np.array([s == kBasic for s in basis.col_status], dtype=bool), np.array([s == kBasic for s in basis.row_status], dtype=bool))
    return np.asarray(solution.col_value), np.asarray(solution.row_dual), basic


def _batches(sizes: Sequence[int], limit: int) -> Iterable[list[int]]:
    batch, total = [], 0
    for i, size in enumerate(sizes):
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(i)
        total += size
    if batch:
        yield batch


# ===== exact rational simplex, warm-started from HiGHS ==================================


SMALL_ENTRY = 1 << 16  # integer matrices up to this entry size are inverted in floats, then checked


def _integer_inverse(matrix: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``B^-1 = N / d`` exactly for a square integer matrix (N integral, d > 0); None if singular.

    With small entries (plain claims give only 0 and +-1) the float inverse, scaled by the
    rounded determinant and rounded, is the integer ``N``: ``B N = d I``, checked in int64,
    proves it for any nonzero d. Otherwise, or when that check fails, fraction-free
    Gauss-Jordan (Bareiss) on ``[B | I]`` in Python ints, where every division is exact
    (with fractions, a gcd per operation made the exact path ~10x slower).
    """
    n = len(matrix)
    if matrix.dtype == np.int64 and n and np.abs(matrix).max() <= SMALL_ENTRY:
        floats = matrix.astype(float)
        d = int(round(np.linalg.det(floats)))
        if 0 < abs(d) < 2**40:
            candidate = np.rint(np.linalg.inv(floats) * d)
            # the check's products must stay inside int64
            if np.abs(candidate).max() * n * SMALL_ENTRY < 2**62:
                inverse = candidate.astype(np.int64)
                if np.array_equal(matrix @ inverse, d * np.eye(n, dtype=np.int64)):
                    return (inverse, d) if d > 0 else (-inverse, -d)
    rows = [[int(v) for v in row] + [int(i == k) for k in range(n)] for i, row in enumerate(matrix)]
    previous = 1
    for k in range(n):
        pivot = next((i for i in range(k, n) if rows[i][k]), None)
        if pivot is None:
            return None
        rows[k], rows[pivot] = rows[pivot], rows[k]
        top, lead = rows[k], rows[k][k]
        for i in range(n):
            if i != k:
                row, factor = rows[i], rows[i][k]
                rows[i] = [(a * lead - factor * b) // previous for a, b in zip(row, top)]
        previous = lead
    # every diagonal entry is now ``previous``: the right half is previous * B^-1
    inverse = np.array([row[n:] for row in rows], dtype=object).reshape(n, n)
    return (inverse, previous) if previous > 0 else (-inverse, -previous)


class _ExactLP:
    """The R1 LP of one component in standard form, in integers.

    Columns: one per world (``mu_w``), then ``e+_j`` and ``e-_j`` per claim; rows: one per
    claim (``a_j . mu + e+_j - e-_j = b_j``) and the convexity row (``sum mu = 1``). Floats
    are dyadic rationals: a conditional's row is multiplied by its price's denominator so the
    matrix is integral (and small: 0, 1, -1 elsewhere; int64 without conditionals), and the
    right-hand side is kept as integers over one common denominator. The duals of scaled
    rows are the stakes divided by the row's scale.
    """

    def __init__(self, pay: Payoffs):
        self.pay = pay
        self.m, self.n_worlds = m, w = pay.hit.shape
        # a float is n / 2^k: every denominator divides the largest, the common denominator
        prices = [float(c).as_integer_ratio() for c in pay.price]
        self.row_scale = [d for _, d in prices] + [1]
        targets = [float(t).as_integer_ratio() for t in pay.target] + [(1, 1)]
        self.denominator = max(d for _, d in targets)
        self.rhs = np.array([n * s * (self.denominator // d) for (n, d), s in zip(targets, self.row_scale)], dtype=object)
        # every entry is at most its row's scale (a price is in [0, 1]): int64 unless a price
        # has a denominator past 2^62 (a credence like 1e-30)
        integer = np.zeros((m + 1, w + 2 * m), dtype=np.int64 if max(self.row_scale) < 2**62 else object)
        if pay.given.any():
            scale = np.array(self.row_scale[:m], dtype=object)[:, None]
            price = np.array([n for n, _ in prices], dtype=object)[:, None]  # price * its denominator
            integer[:m, :w] = pay.hit.astype(object) * scale - pay.given.astype(object) * price
        else:
            integer[:m, :w] = pay.hit
        gaps = np.diag(np.array(self.row_scale[:m], dtype=integer.dtype))
        integer[:m, w : w + m], integer[:m, w + m :] = gaps, -gaps
        integer[m, :w] = 1
        self.integer = integer
        self.float_columns = np.zeros((m + 1, w + 2 * m))
        self.float_columns[:m, :w] = pay.matrix
        self.float_columns[:m, w : w + m], self.float_columns[:m, w + m :] = np.eye(m), -np.eye(m)
        self.float_columns[m, :w] = 1.0
        self.cost = np.zeros(w + 2 * m, dtype=np.int64)
        self.cost[w:] = 1

    def basics(self, basis: list[int]):
        """The basis inverse ``(N, d)``, x_B (B x_B = b) and the scaled duals y
        (B^T y = c_B), each as (numerators, denominator); None if B is singular."""
        inverse = _integer_inverse(self.integer[:, basis])
        if inverse is None:
            return None
        numerators, d = inverse
        x = [int(v) for v in numerators.astype(object) @ self.rhs]
        y = [int(v) for v in self.cost[basis] @ numerators]
        return inverse, (x, d * self.denominator), (y, d)

    def reduced_sign(self, k: int, y: tuple[list[int], int]) -> int:
        """The sign of column k's reduced cost c_k - y . A_k."""
        numerators, denominator = y
        value = int(self.cost[k]) * denominator - sum(int(a) * b for a, b in zip(self.integer[:, k], numerators) if a)
        return (value > 0) - (value < 0) if denominator > 0 else (value < 0) - (value > 0)

    def trivial_basis(self, world: int) -> list[int]:
        """Always feasible: all mass on one world, every claim's gap in its own e+ or e- column."""
        column = self.integer[:, world]  # rhs carries the common denominator, the column does not
        return [world] + [
            self.n_worlds + j + (0 if self.rhs[j] >= int(column[j]) * self.denominator else self.m) for j in range(self.m)
        ]

    def warm_basis(self, solution: _Solution) -> list[int]:
        """HiGHS's final basis (else its support worlds and moved claims' gap columns),
        completed to a basis.

        HiGHS's basis falls short of m + 1 columns where the convexity row's slack is basic;
        the completion stands in a column for it. Columns are taken
        greedily while they stay linearly independent (Gram-Schmidt in floats; the exact
        solve that follows rejects a basis that is singular after all).
        """
        m, w = self.m, self.n_worlds
        if solution.basis is not None:
            chosen = [int(k) for k in solution.basis]
            if len(chosen) == m + 1:
                return chosen
        else:
            chosen = [int(k) for k in np.flatnonzero(solution.mu > TOLERANCE)]
            for j, d in enumerate(solution.deviation):
                if abs(d) > TOLERANCE:
                    chosen.append(w + j + (m if d > 0 else 0))  # A mu - b = e- - e+
        fill = [w + j for j in range(m)] + [w + m + j for j in range(m)]
        basis: list[int] = []
        frame = np.zeros((m + 1, 0))
        for k in chosen + fill:
            if len(basis) == m + 1:
                break
            if k in basis:
                continue
            vector = self.float_columns[:, k]
            residual = vector - frame @ (frame.T @ vector)
            norm = np.linalg.norm(residual)
            if norm > 1e-9:
                basis.append(k)
                frame = np.hstack([frame, (residual / norm)[:, None]])
        return basis


def _nonnegative(solution: tuple[list[int], int]) -> bool:
    numerators, denominator = solution
    return all(v * denominator >= 0 for v in numerators)


def _dual_simplex(lp: _ExactLP, basis: list[int], state, max_pivots: int = 100):
    """Exact dual simplex pivots (Bland's rule) from a dual feasible basis, in place, to an
    optimal one; its final state, or None when the basis is not dual feasible (or it runs
    out of pivots)."""
    matrix = lp.integer.astype(object)
    for _ in range(max_pivots):
        (inverse, d), (xn, _), (yn, _) = state  # every denominator is positive
        reduced = lp.cost.astype(object) * d - np.array(yn, dtype=object) @ matrix  # d (c - y A)
        if any(reduced < 0):
            return None
        negative = [i for i, v in enumerate(xn) if v < 0]
        if not negative:
            return state
        leaving = min(negative, key=lambda i: basis[i])
        row = inverse[leaving].astype(object) @ matrix  # d (B^-1 A)_leaving
        candidates = [int(k) for k in np.flatnonzero(row < 0) if int(k) not in basis]
        if not candidates:
            return None
        basis[leaving] = min(candidates, key=lambda k: (Fraction(reduced[k], -row[k]), k))
        state = lp.basics(basis)
    return None


def exact_simplex(pay: Payoffs, solution: _Solution, max_pivots: int = 500) -> tuple[list[int], ExactCertificate]:
    """Solve the component's R1 LP exactly, starting from the basis HiGHS ended on.

    HiGHS's vertex is rebuilt in exact arithmetic; primal simplex pivots (Bland's rule, so it
    cannot cycle) then fix whatever float rounding got wrong, usually nothing. Pricing screens
    the columns in floats and prices exactly only those within 1e-7 of entering (the float
    error here is ~1e-15). At the end the basis gives an exact distribution (x_B >= 0) and
    exact stakes (every reduced cost >= 0: |s| <= 1 and no world pays the bettor more than
    -z), whose objectives are equal: that equality is the optimality proof.
    """
    lp = _ExactLP(pay)
    basis = lp.warm_basis(solution)
    state = lp.basics(basis) if len(basis) == lp.m + 1 else None
    if state is not None and not _nonnegative(state[1]):
        # HiGHS ends a hair infeasible in exact arithmetic (0.01 + 0.99 != 1 in binary floats).
        # A gap column below zero is swapped for its twin (e+ <-> e-, the negated column), which
        # flips that value's sign and leaves the others be; what is left, dual simplex repairs
        (xn, xd), w, m = state[1], lp.n_worlds, lp.m
        for i, k in enumerate(basis):
            if k >= w and xn[i] * xd < 0:
                basis[i] = w + (k - w + m) % (2 * m)
        state = lp.basics(basis)
        if state is not None and not _nonnegative(state[1]):
            state = _dual_simplex(lp, basis, state)
    if state is None or not _nonnegative(state[1]):
        basis = lp.trivial_basis(int(np.argmax(solution.mu)))
        state = lp.basics(basis)
    assert state is not None and _nonnegative(state[1]), "the starting basis is infeasible"
    for _ in range(max_pivots):
        (inverse, d), x, y = state
        stakes = np.array([v * s / y[1] for v, s in zip(y[0], lp.row_scale)])
        screen = lp.cost - lp.float_columns.T @ stakes
        in_basis = set(basis)
        entering = next(
            (int(k) for k in np.flatnonzero(screen < 1e-7) if int(k) not in in_basis and lp.reduced_sign(int(k), y) < 0),
            None,
        )
        if entering is None:
            break
        dn = [int(v) for v in inverse.astype(object) @ lp.integer[:, entering].astype(object)]
        xn, xd = x
        ratios = [(Fraction(xn[i], xd) / Fraction(dn[i], d), basis[i], i) for i in range(lp.m + 1) if dn[i] * d > 0]
        _, _, leaving = min(ratios)  # the objective is bounded below by 0, so one exists
        basis[leaving] = entering
        state = lp.basics(basis)
        assert state is not None
    else:
        raise RuntimeError("exact simplex did not converge")
    _, (xn, xd), (yn, yd) = state
    value = dict(zip(basis, xn))
    w, m = lp.n_worlds, lp.m
    r1 = Fraction(sum(v for v, k in zip(xn, basis) if k >= w), xd)
    loss = Fraction(sum(a * int(b) for a, b in zip(yn, lp.rhs)), yd * lp.denominator)
    assert r1 == loss, "exact primal and dual objectives differ"
    worlds = [(k, Fraction(v, xd)) for v, k in zip(xn, basis) if k < w and v * xd > 0]
    stakes = [Fraction(v * s, yd) for v, s in zip(yn[:m], lp.row_scale)]
    deviation = [Fraction(value.get(w + m + j, 0) - value.get(w + j, 0), xd) for j in range(m)]  # e- - e+
    return [k for k, _ in worlds], ExactCertificate(r1, [p for _, p in worlds], stakes, loss, deviation)


# ===== z3: rational LP, the reference ===================================================


def solve_z3(pay: Payoffs) -> tuple[ExactCertificate, np.ndarray]:
    """R1 in rational arithmetic with z3: the primal (distribution) and the dual (stakes).

    Slow (tens of ms per small component): the reference for the tests and the ``exact="z3"``
    option. Returns the certificate and the exact deviations.
    """
    import z3

    m, n_worlds = pay.hit.shape
    entries = [[pay.exact_entry(j, w) for w in range(n_worlds)] for j in range(m)]
    targets = [Fraction(t) for t in pay.target]
    value = lambda f: z3.RealVal(f"{f.numerator}/{f.denominator}")  # noqa: E731

    primal = z3.Optimize()
    mu = [z3.Real(f"mu{w}") for w in range(n_worlds)]
    gaps = [z3.Real(f"gap{j}") for j in range(m)]
    primal.add(*[v >= 0 for v in mu], z3.Sum(mu) == 1)
    for j in range(m):
        diff = z3.Sum([value(entries[j][w]) * mu[w] for w in range(n_worlds) if entries[j][w]] or [z3.RealVal(0)]) - value(targets[j])
        primal.add(gaps[j] >= diff, gaps[j] >= -diff)
    primal.minimize(z3.Sum(gaps))
    primal.check()
    model = primal.model()
    probabilities = [_fraction(model.eval(v, model_completion=True)) for v in mu]

    dual = z3.Optimize()
    stakes = [z3.Real(f"s{j}") for j in range(m)]
    z = z3.Real("z")
    dual.add(*[z3.And(s >= -1, s <= 1) for s in stakes])
    for w in range(n_worlds):
        dual.add(z3.Sum([value(entries[j][w]) * stakes[j] for j in range(m) if entries[j][w]] or [z3.RealVal(0)]) + z <= 0)
    dual.maximize(z3.Sum([value(t) * s for t, s in zip(targets, stakes)]) + z)
    dual.check()
    dual_model = dual.model()
    stake_values = [_fraction(dual_model.eval(s, model_completion=True)) for s in stakes]
    z_value = _fraction(dual_model.eval(z, model_completion=True))
    deviation = [sum((entries[j][w] * probabilities[w] for w in range(n_worlds)), Fraction(0)) - targets[j] for j in range(m)]
    r1 = sum((abs(d) for d in deviation), Fraction(0))
    loss = sum((s * t for s, t in zip(stake_values, targets)), Fraction(0)) + z_value
    assert r1 == loss, "z3 primal and dual optima differ"  # LP strong duality, in exact arithmetic
    return ExactCertificate(r1, probabilities, stake_values, loss, deviation), np.array([float(d) for d in deviation])


def _fraction(value) -> Fraction:
    return Fraction(value.numerator_as_long(), value.denominator_as_long())


# ===== column generation for components too large to enumerate ==========================


def _highs_core():
    """HiGHS's Python bindings (highspy's, else the copy scipy bundles), or None.

    linprog rebuilds and cold-solves its LP on every call; a column-generation master that
    grows by a few columns per round is better kept in one HiGHS instance, re-solved from its
    last optimal basis (still primal feasible after new columns join at zero).
    """
    try:
        from highspy import _core  # type: ignore[import-not-found]
    except ImportError:
        try:
            from scipy.optimize._highspy import _core  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return None
    return _core if hasattr(_core, "_Highs") else None


class WorldPricer:
    """The bettor's best world against stakes ``y``: max_w sum_j y_j a_j(w) over the models
    of the relations, as a 0/1 program (each formula node becomes a linearised variable)."""

    def __init__(self, component: Component, persistent: bool = True):
        self.component = component
        self._constraint: LinearConstraint | None = None
        self._cost: sp.csr_matrix | None = None
        self._const = np.zeros(0)
        self._core = _highs_core() if persistent else None
        self._highs = None
        self.index = {name: i for i, name in enumerate(component.atoms)}
        self.n_vars = len(component.atoms)
        self.rows: list[tuple[dict[int, float], float, float]] = []  # (coefficients, low, high)
        for constraint in component.constraints:
            coef, const = self._node(constraint.tree)
            self.rows.append((coef, 1.0 - const, 1.0 - const))  # the formula holds
        # per claim, the affine expressions of [then & given] (or [then]) and [given]
        self.hit, self.given = [], []
        for claim in component.claims:
            then = fm.Var(claim.then)
            tree = then if claim.given is None else fm.BinOp("&", then, fm.Var(claim.given))
            self.hit.append(self._node(tree))
            self.given.append(self._node(fm.Var(claim.given)) if claim.given else ({}, 0.0))

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
        a, b = self._node(tree.left), self._node(tree.right)
        v = self._new()
        # standard linearisations, each row: low <= sum(coef x) + const_part <= high
        def row(terms: list[tuple[float, tuple[dict[int, float], float]]], var_coef: float, low: float, high: float):
            coef: dict[int, float] = {v: var_coef}
            const = 0.0
            for scale, (c, k) in terms:
                for key, value in c.items():
                    coef[key] = coef.get(key, 0.0) + scale * value
                const += scale * k
            self.rows.append((coef, low - const, high - const))

        inf = math.inf
        if tree.op == "&":  # v <= a, v <= b, v >= a + b - 1
            row([(-1, a)], 1, -inf, 0)
            row([(-1, b)], 1, -inf, 0)
            row([(-1, a), (-1, b)], 1, -1, inf)
        elif tree.op == "|":  # v >= a, v >= b, v <= a + b
            row([(-1, a)], 1, 0, inf)
            row([(-1, b)], 1, 0, inf)
            row([(-1, a), (-1, b)], 1, -inf, 0)
        else:  # "<->": v = 1 - |a - b|
            row([(1, a), (-1, b)], 1, -inf, 1)
            row([(-1, a), (1, b)], 1, -inf, 1)
            row([(-1, a), (-1, b)], 1, -1, inf)
            row([(1, a), (1, b)], 1, 1, inf)
        return {v: 1.0}, 0.0

    def _matrix(self) -> LinearConstraint:
        if self._constraint is None:
            rows, cols, vals = [], [], []
            for i, (coef, _, _) in enumerate(self.rows):
                rows += [i] * len(coef)
                cols += list(coef)
                vals += list(coef.values())
            matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(self.rows), self.n_vars))
            self._constraint = LinearConstraint(matrix, [r[1] for r in self.rows], [r[2] for r in self.rows])
        return self._constraint

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
        core = self._core
        if core is None:
            result = milp(cost, constraints=self._matrix(), integrality=np.ones(self.n_vars), bounds=Bounds(0, 1), options={"mip_rel_gap": 0.0})
            if result.status == 2:
                raise RelationsUnsatisfiable([c.id for c in self.component.constraints])
            if result.status != 0:
                raise RuntimeError(f"HiGHS failed to price a world: {result.message}")
            x = np.round(result.x).astype(bool)[: len(self.component.atoms)]
            return x, self._value(weights, x), float(-result.mip_dual_bound + constant)
        highs = self._highs_mip(core)
        highs.changeColsCost(self.n_vars, np.arange(self.n_vars, dtype=np.int32), cost)
        highs.run()
        status = highs.getModelStatus()
        if status == core.HighsModelStatus.kInfeasible:
            raise RelationsUnsatisfiable([c.id for c in self.component.constraints])
        if status != core.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS failed to price a world: {highs.modelStatusToString(status)}")
        x = np.round(np.asarray(highs.getSolution().col_value)[: len(self.component.atoms)]).astype(bool)
        return x, self._value(weights, x), float(-highs.getInfo().mip_dual_bound + constant)

    def _value(self, weights: np.ndarray, world: np.ndarray) -> float:
        return float(payoffs(self.component, world[None, :]).matrix[:, 0] @ weights)

    def _highs_mip(self, core):
        """The pricing MILP kept in one HiGHS instance: only its costs change between calls."""
        if self._highs is None:
            constraint = self._matrix()
            # HiGHS stops at a relative gap of 1e-4 by default: far from the 1e-9 the loop
            # stops at, so solve to optimality (the bound is used either way)
            self._highs = _highs_model(
                core, sp.csc_matrix(constraint.A), np.zeros(self.n_vars), (np.zeros(self.n_vars), np.ones(self.n_vars)),
                (np.maximum(constraint.lb, -core.kHighsInf), np.minimum(constraint.ub, core.kHighsInf)),
                integer=True, mip_rel_gap=0.0, mip_abs_gap=0.0,
            )
        return self._highs

    def best_world(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """The world maximising sum_j weights_j a_j(w), and that maximum."""
        world, value, _ = self.price(weights)
        return world, value


class _Master:
    """The column-generation master LP of one component over the worlds found so far.

    Same LP as :func:`solve_blocks` for one block, with the world columns last so new worlds
    are appended: e+ and e- per claim (and t for R_inf) first, then one column per world.
    Without HiGHS's bindings every solve falls back to a cold :func:`solve_blocks` call.
    """

    def __init__(self, component: Component, objective: str, persistent: bool = True):
        self.component = component
        self.objective = objective
        self.worlds: list[np.ndarray] = []
        self.seen: set[bytes] = set()
        self._pay: list[Payoffs] = []
        self.target = payoffs(component, np.zeros((0, len(component.atoms)), dtype=bool)).target
        core = _highs_core() if persistent else None
        self._highs = None if core is None else self._build(core)
        self._core = core

    def _build(self, core):
        m = len(self.target)
        linf = self.objective == "linf"
        n_fixed = 2 * m + int(linf)
        n_rows = m + 1 + (2 * m if linf else 0)
        claims = np.arange(m)
        starts, index, values = [], [], []
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
        # after new columns join, the old basis is primal feasible: primal simplex resumes from it
        return _highs_model(
            core, matrix, np.r_[np.zeros(2 * m), 1.0] if linf else np.ones(2 * m),
            (np.zeros(n_fixed), np.full(n_fixed, core.kHighsInf)),
            (np.r_[self.target, 1.0, np.full(2 * m if linf else 0, -core.kHighsInf)],
             np.r_[self.target, 1.0, np.zeros(2 * m if linf else 0)]),
            simplex_strategy=4, presolve="off",
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
        self._pay.append(pay)
        if self._highs is not None:
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
            self._highs.addCols(k, np.zeros(k), np.zeros(k), np.full(k, self._core.kHighsInf), len(index), starts, index, values)
        return len(fresh)

    def payoffs(self) -> Payoffs:
        """The LP data over every world in the master, in column order."""
        first = self._pay[0]
        return Payoffs(np.hstack([p.hit for p in self._pay]), np.hstack([p.given for p in self._pay]), first.price, first.target)

    def solve(self) -> _Solution:
        if self._highs is None:
            return solve_blocks([self.payoffs()], self.objective)[0]
        highs = self._highs
        highs.run()
        status = highs.getModelStatus()
        if status != self._core.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS failed on a column-generation master: {highs.modelStatusToString(status)}")
        solution = highs.getSolution()
        x, y = np.asarray(solution.col_value), np.asarray(solution.row_dual)
        m = len(self.target)
        mu = np.clip(x[self._n_fixed :], 0.0, None)
        deviation = x[m : 2 * m] - x[:m]  # A mu - b = e- - e+
        return _Solution(float(highs.getInfo().objective_function_value), mu, deviation, y[:m].copy(), float(y[m]))


def column_generation(
    component: Component,
    objective: str = "l1",
    max_rounds: int = 5000,
    initial: np.ndarray | None = None,
    smoothing: float = 0.8,
    persistent: bool = True,
) -> tuple[_Solution, np.ndarray, float, int]:
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
    pricer = WorldPricer(component, persistent)
    master = _Master(component, objective, persistent)
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
            proved = _Solution(solution.objective, solution.mu, solution.deviation, center, -best_value)
            return proved, np.array(master.worlds), best_loss, rounds


def _improving_neighbours(component: Component, world: np.ndarray, solution: _Solution, keep: int = 16) -> list[np.ndarray]:
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


# ===== the entry point ==================================================================


def repair_components(
    components: Sequence[Component],
    *,
    max_worlds: int = MAX_WORLDS,
    exact_worlds: int = EXACT_WORLDS,
    worlds: Sequence[np.ndarray | None] | None = None,
    exact: str | None = "simplex",
) -> list[Repair | RelationsUnsatisfiable]:
    """R1, R_inf, the repair and the Dutch book of every component (in input order).

    ``worlds`` may pass each component's already enumerated worlds (None: too many).
    ``exact`` picks the rational solver for incoherent components of at most
    ``exact_worlds`` worlds: ``"simplex"`` (warm-started from HiGHS), ``"z3"`` or None.
    A component whose relations have no model gets its :class:`RelationsUnsatisfiable`
    in place of a repair.
    """
    out: list[Repair | RelationsUnsatisfiable | None] = [None] * len(components)
    small: list[tuple[int, np.ndarray, Payoffs]] = []
    for i, component in enumerate(components):
        if worlds is None:
            try:
                enumerated = enumerate_worlds(component, max_worlds)
            except RelationsUnsatisfiable as exc:
                out[i] = exc
                continue
        else:
            enumerated = worlds[i]
        if enumerated is None:
            out[i] = _repair_large(component)
        else:
            small.append((i, enumerated, payoffs(component, enumerated)))
    sizes = [pay.hit.shape[1] + 2 * pay.hit.shape[0] for _, _, pay in small]
    for batch in _batches(sizes, BATCH_COLUMNS):
        members = [small[k] for k in batch]
        l1 = solve_blocks([pay for _, _, pay in members], "l1")
        # R_inf <= R1, so a component coherent to HiGHS's tolerance needs no R_inf LP
        incoherent = [k for k, sol in enumerate(l1) if sol.objective > TOLERANCE]
        r_inf = [0.0] * len(members)
        for k, worst in zip(incoherent, solve_blocks([members[k][2] for k in incoherent], "linf")):
            r_inf[k] = worst.objective
        for (i, worlds, pay), sol, worst in zip(members, l1, r_inf):
            # exact certificates where there is something to certify: an incoherent component
            wanted = exact is not None and len(worlds) <= exact_worlds and sol.objective > TOLERANCE
            out[i] = _repair_small(worlds, pay, sol, worst, exact if wanted else None)
    return out  # type: ignore[return-value]


def _repair_small(worlds: np.ndarray, pay: Payoffs, sol: _Solution, r_inf: float, exact: str | None) -> Repair:
    if exact is None:
        support = np.flatnonzero(sol.mu > TOLERANCE)
        if sol.objective <= TOLERANCE:  # coherent up to HiGHS's tolerance: no book to make
            zeros = np.zeros(len(pay.target))
            return Repair(0.0, r_inf, zeros, worlds[support], sol.mu[support], zeros, 0.0, "highs", len(worlds))
        loss = float(sol.duals @ pay.target - (pay.matrix.T @ sol.duals).max())
        return Repair(float(np.abs(sol.deviation).sum()), r_inf, sol.deviation, worlds[support], sol.mu[support], sol.duals, loss, "highs", len(worlds))
    if exact == "z3":
        cert, _ = solve_z3(pay)
        support = [w for w, p in enumerate(cert.probabilities) if p > 0]
        cert = ExactCertificate(cert.r1, [cert.probabilities[w] for w in support], cert.stakes, cert.guaranteed_loss, cert.deviation)
    else:
        support, cert = exact_simplex(pay, sol)
    return Repair(
        float(cert.r1),
        r_inf,
        np.array([float(d) for d in cert.deviation]),
        worlds[support],
        np.array([float(p) for p in cert.probabilities]),
        np.array([float(s) for s in cert.stakes]),
        float(cert.guaranteed_loss),
        exact,
        len(worlds),
        cert,
    )


def _repair_large(component: Component) -> Repair:
    sol, worlds, loss, rounds = column_generation(component, "l1")
    worst, _, _, _ = column_generation(component, "linf", initial=worlds)
    support = np.flatnonzero(sol.mu > TOLERANCE)
    return Repair(sol.objective, worst.objective, sol.deviation, worlds[support], sol.mu[support], sol.duals, loss, "column-generation", None, iterations=rounds)


def world_losses(component: Component, stakes: np.ndarray, worlds: np.ndarray) -> np.ndarray:
    """The Dutch book's loss in each given world: sum_j s_j (b_j - a_j(w))."""
    pay = payoffs(component, worlds)
    return stakes @ pay.target - pay.matrix.T @ stakes
