"""Exact rational simplex for the R1 LP of one component, warm-started from HiGHS's basis."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from consistency.coherence.highs import TOLERANCE, LPSolution
from consistency.coherence.results import ExactCertificate
from consistency.coherence.worlds import Payoffs

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
        # Each row keeps only its columns from k on: the eliminated ones are never read again
        # (and every diagonal entry ends as ``previous``), so row[0] is column k.
        pivot = next((i for i in range(k, n) if rows[i][0]), None)
        if pivot is None:
            return None
        rows[k], rows[pivot] = rows[pivot], rows[k]
        lead, top = rows[k][0], rows[k][1:]
        for i in range(n):
            row, factor = rows[i], rows[i][0]
            if i == k:
                rows[i] = top
            elif factor:
                rows[i] = [(a * lead - factor * b) // previous for a, b in zip(row[1:], top)]
            else:
                rows[i] = [a * lead // previous for a in row[1:]]
        previous = lead
    # what is left of each row is its right half: previous * B^-1
    inverse = np.array(rows, dtype=object).reshape(n, n)
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
            # entries stay within the row's scale, so int64 arithmetic holds where int64 was chosen
            scale = np.array(self.row_scale[:m], dtype=integer.dtype)[:, None]
            price = np.array([n for n, _ in prices], dtype=integer.dtype)[:, None]  # price * its denominator
            integer[:m, :w] = pay.hit.astype(integer.dtype) * scale - pay.given.astype(integer.dtype) * price
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
        inverse = self.basis_inverse(basis)
        if inverse is None:
            return None
        numerators, d = inverse
        x = [int(v) for v in numerators.astype(object) @ self.rhs]
        y = [int(v) for v in self.cost[basis] @ numerators]
        return inverse, (x, d * self.denominator), (y, d)

    def basis_inverse(self, basis: list[int]) -> tuple[np.ndarray, int] | None:
        """``B^-1 = N / d`` (N integral, rows in basis order, d > 0); None if B is singular.

        A gap column (e+_j or e-_j) is +-s_j times the unit vector of claim row j, so with
        rows and columns reordered B is ``[[W_R, 0], [W_J, D]]``: the basic worlds on the rows
        R that no basic gap column covers (the convexity row among them), and D diagonal.
        Only the small W_R (a row and a column per basic world) is inverted; Bareiss on all
        of B, whose conditional rows carry 2^52-sized scales, was most of the exact path's
        time. ``B^-1`` is unique, so it is the same rational matrix either way. Without such
        rows the float inverse of all of B, checked (:func:`_integer_inverse`), is cheaper.
        """
        if max(self.row_scale) <= SMALL_ENTRY:
            return _integer_inverse(self.integer[:, basis])
        m, w = self.m, self.n_worlds
        worlds = [i for i, k in enumerate(basis) if k < w]
        gaps = [(i, (k - w) % m, 1 if k - w < m else -1) for i, k in enumerate(basis) if k >= w]
        covered = {j for _, j, _ in gaps}
        rest = [r for r in range(m + 1) if r not in covered]
        if len(rest) != len(worlds):  # two gap columns on one row: B is singular
            return None
        columns = [basis[i] for i in worlds]
        solved = _integer_inverse(self.integer[rest][:, columns])
        if solved is None:
            return None
        inner, inner_d = solved
        inner = inner.astype(object)
        scale = math.lcm(*(self.row_scale[j] for _, j, _ in gaps))
        inverse = np.zeros((m + 1, m + 1), dtype=object)
        inverse[np.array(worlds)[:, None], rest] = inner * scale
        if gaps:
            positions, rows, signs = (list(t) for t in zip(*gaps))
            # x_gj = (b_j - W_j x_W) / (sign_j s_j), over the common denominator inner_d * scale
            factors = np.array([sign * (scale // self.row_scale[j]) for j, sign in zip(rows, signs)], dtype=object)
            inverse[np.array(positions)[:, None], rest] = -factors[:, None] * (self.integer[rows][:, columns].astype(object) @ inner)
            inverse[positions, rows] = factors * inner_d
        if np.abs(inverse).max() < 2**31:  # int64 keeps the products that follow in C
            inverse = inverse.astype(np.int64)
        return inverse, inner_d * scale

    def reduced_signs(self, columns: np.ndarray, y: tuple[list[int], int]) -> np.ndarray:
        """The signs of the ``columns``' reduced costs c_k - y . A_k."""
        numerators, denominator = y
        # in int64 while the products surely fit (entries are at most the largest row scale)
        small = max(map(abs, numerators), default=0) * max(self.row_scale) * (self.m + 1) < 2**62 and denominator < 2**62
        kind = np.int64 if small and self.integer.dtype == np.int64 else object
        values = self.cost[columns].astype(kind) * denominator - np.array(numerators, dtype=kind) @ self.integer[:, columns]
        signs = (values > 0).astype(int) - (values < 0).astype(int)
        return signs if denominator > 0 else -signs

    def trivial_basis(self, world: int) -> list[int]:
        """Always feasible: all mass on one world, every claim's gap in its own e+ or e- column."""
        column = self.integer[:, world]  # rhs carries the common denominator, the column does not
        return [world] + [
            self.n_worlds + j + (0 if self.rhs[j] >= int(column[j]) * self.denominator else self.m) for j in range(self.m)
        ]

    def warm_basis(self, solution: LPSolution) -> list[int]:
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


def _quotient(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` as a float, +-inf past the float range."""
    try:
        return numerator / denominator
    except OverflowError:
        return math.inf if (numerator > 0) == (denominator > 0) else -math.inf


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


def exact_simplex(pay: Payoffs, solution: LPSolution, max_pivots: int = 500) -> tuple[list[int], ExactCertificate]:
    """Solve the component's R1 LP exactly, starting from the basis HiGHS ended on.

    HiGHS's vertex is rebuilt in exact arithmetic; primal simplex pivots (Bland's rule, so it
    cannot cycle) then fix whatever float rounding got wrong, usually nothing. Pricing screens
    the columns in floats and prices exactly only those within 1e-7 (times the largest stake,
    when that is above 1) of entering (the float error here is ~1e-15). At the end the basis gives an exact distribution (x_B >= 0) and
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
        stakes = np.array([_quotient(v * s, y[1]) for v, s in zip(y[0], lp.row_scale)])
        with np.errstate(invalid="ignore", over="ignore"):
            screen = lp.cost - lp.float_columns.T @ stakes
        # the float error grows with the stakes (a basis on the way may price a tiny
        # credence's row at 2^1000): widen the margin with them; NaN (inf - inf) is a candidate
        margin = 1e-7 * max(1.0, float(np.abs(stakes).max(initial=0.0)))
        in_basis = set(basis)
        candidates = np.array([k for k in np.flatnonzero(~(screen >= margin)).tolist() if k not in in_basis], dtype=int)
        improving = candidates[lp.reduced_signs(candidates, y) < 0] if len(candidates) else candidates
        if not len(improving):
            break
        entering = int(improving[0])  # Bland's rule: the first improving column
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
    exact_stakes = [Fraction(v * s, yd) for v, s in zip(yn[:m], lp.row_scale)]
    deviation = [Fraction(value.get(w + m + j, 0) - value.get(w + j, 0), xd) for j in range(m)]  # e- - e+
    return [k for k, _ in worlds], ExactCertificate(r1, [p for _, p in worlds], exact_stakes, loss, deviation)
