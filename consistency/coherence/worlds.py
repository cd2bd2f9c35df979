"""Worlds: the truth assignments that satisfy a component's relations, and the LP data over them.

A numpy truth table up to ``TABLE_ATOMS`` atoms (all 2^n assignments, each relation
evaluated at once on those the relations before it kept); up to ``Z3_ATOMS``, a truth table
grown atom by atom and pruned by each relation as it completes (z3 with blocking clauses when
that grows too wide), up to a cap that keeps a loosely constrained large component (2^500
worlds) from ever being enumerated.
Enumerations past the plain table are cached per relation set.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from consistency import formula as fm
from consistency.coherence.model import Component, RelationsUnsatisfiable

TABLE_ATOMS = 16  # 2^16 rows x a few relations: the largest truth table worth building
# worlds are enumerated (pruned table, else z3) up to this many atoms: z3's blocking clauses
# grow with the atoms, and a big loosely constrained component would take minutes to reach the cap
Z3_ATOMS = 64
MAX_WORLDS = 4096  # above this many worlds a component goes to column generation
# z3 enumerations kept per process (each at most MAX_WORLDS x Z3_ATOMS bools: 256 KiB)
WORLD_CACHE_SIZE = 256
SHRINK_ROWS = 1 << 12  # a truth table past this many rows is filtered formula by formula
FRONTIER_ROWS = 1 << 16  # partial assignments the pruned truth table may hold before z3 takes over
_WORLD_CACHE: OrderedDict[tuple, np.ndarray | None] = OrderedDict()

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


def table_models(atoms: Sequence[str], formulas: Iterable[fm.Formula]) -> np.ndarray:
    """The rows of ``truth_table(len(atoms))`` (atom i is bit i of the row's number) on which
    every formula holds, in the table's order.

    Past ``SHRINK_ROWS`` rows each formula is evaluated only on the rows the ones before it
    kept, building only its own atoms' columns from the row numbers: evaluating every
    relation on all 2^16 rows of the full table was most of the cost of enumerating a
    16-atom component.
    """
    if 2 ** len(atoms) <= SHRINK_ROWS:  # a small table is cheaper built whole
        table = truth_table(len(atoms))
        columns = dict(zip(atoms, table.T))
        keep = np.ones(len(table), dtype=bool)
        for tree in formulas:
            keep &= evaluate_columns(tree, columns)
        return table[keep]
    codes = np.arange(2 ** len(atoms), dtype=np.int64)
    bit = {name: i for i, name in enumerate(atoms)}
    for tree in formulas:
        codes = codes[evaluate_columns(tree, _Columns(codes, bit))]
    return (codes[:, None] >> np.arange(len(atoms))) & 1 == 1


class _Columns(dict):
    """Atom -> its column over the rows numbered ``codes`` (bit ``bit[atom]``), built when read."""

    def __init__(self, codes: np.ndarray, bit: Mapping[str, int]):
        super().__init__()
        self.codes, self.bit = codes, bit

    def __missing__(self, name: str) -> np.ndarray:
        column = self[name] = (self.codes >> self.bit[name]) & 1 == 1
        return column


def enumerate_worlds(component: Component, cap: int = MAX_WORLDS) -> np.ndarray | None:
    """The models of the component's relations, shape (worlds, atoms); None above ``cap``
    worlds or ``Z3_ATOMS`` atoms (column generation's territory).

    Raises :class:`RelationsUnsatisfiable` when there is no model at all (for components
    past ``Z3_ATOMS``, column generation finds that out).
    """
    n = len(component.atoms)
    if n <= TABLE_ATOMS:
        worlds = table_models(component.atoms, (c.tree for c in component.constraints))
        if len(worlds) > cap:
            return None
    elif n <= Z3_ATOMS:
        cached = _cached_worlds(component, cap)
        if cached is None:
            return None
        worlds = cached
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
        # unless they already prove more than ``cap`` worlds: z3 would add a blocking clause
        # per world up to the cap (two minutes for a 40-claim disjunction) to learn the same
        worlds = None if _surely_more_worlds_than(component, cap) else _enumerate_z3(component, cap)
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
    rows, order = _frontier(component, limit)
    if len(rows) > limit:
        return None
    position = {a: i for i, a in enumerate(order)}
    return np.ascontiguousarray(rows[:, [position[a] for a in component.atoms]])


def _frontier(component: Component, limit: int) -> tuple[np.ndarray, list[str]]:
    """The pruned partial truth table of :func:`_propagated_worlds` and the atoms it assigns,
    in order; it stops as soon as it holds more than ``limit`` rows (then some atoms are left)."""
    atoms = component.atoms
    variables = [c.atoms for c in component.constraints]
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
            break
    return rows, order


def _surely_more_worlds_than(component: Component, cap: int) -> bool:
    """Whether the pruned table proves more than ``cap`` worlds without enumerating them.

    A partial assignment under which every relation is already true whatever the atoms still
    unassigned (three-valued evaluation) extends to 2^(unassigned) worlds, all of them models.
    """
    rows, order = _frontier(component, FRONTIER_ROWS)
    columns = dict(zip(order, rows.T))
    sure = np.ones(len(rows), dtype=bool)
    for constraint in component.constraints:
        sure &= _surely(constraint.tree, columns, len(rows))[0]
    free = len(component.atoms) - len(order)
    return int(sure.sum()) * 2.0**free > cap


def _surely(tree: fm.Formula, columns: Mapping[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three-valued evaluation on partial assignments: (surely true, surely false) per row;
    an atom missing from ``columns`` is unknown."""
    if isinstance(tree, fm.Var):
        if tree.name not in columns:
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        return columns[tree.name], ~columns[tree.name]
    if isinstance(tree, fm.Not):
        true, false = _surely(tree.arg, columns, n)
        return false, true
    (lt, lf), (rt, rf) = _surely(tree.left, columns, n), _surely(tree.right, columns, n)
    if tree.op == "&":
        return lt & rt, lf | rf
    if tree.op == "|":
        return lt | rt, lf & rf
    if tree.op == "->":
        return lf | rt, lt & rf
    return (lt & rt) | (lf & rf), (lt & rf) | (lf & rt)


def _enumerate_z3(component: Component, cap: int) -> np.ndarray | None:
    import z3

    atoms = {name: z3.Bool(name) for name in component.atoms}
    solver = z3.SimpleSolver()
    for constraint in component.constraints:
        solver.add(fm.to_z3(constraint.tree, atoms))
    found: list[list[bool]] = []
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
