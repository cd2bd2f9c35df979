"""HiGHS through highspy: one model builder, and many small components solved in one LP."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

# highspy's solver class without its Python wrapper: the wrapper (``highspy.Highs``) adds
# threads and callbacks this package does not use, and its constructor prints HiGHS's banner
# to stdout once per process, before ``output_flag`` can be turned off (private, so untyped)
from highspy import _Highs as Solver  # type: ignore[attr-defined]

from consistency.coherence.worlds import Payoffs

TOLERANCE = 1e-9  # HiGHS feasibility tolerance: below it a float is read as zero
# LP columns per HiGHS call when many small components are batched: at 100k claims 5,000 solved
# the batches a third faster than 20,000 (the simplex's work per column grows with the LP)
BATCH_COLUMNS = 5_000
INFINITY = highspy.kHighsInf


@dataclass
class LPSolution:
    """An LP's optimum for one component, as HiGHS (or column generation) left it."""

    objective: float
    mu: np.ndarray
    deviation: np.ndarray
    duals: np.ndarray  # y per claim row
    convexity_dual: float  # z
    basis: np.ndarray | None = None  # the block's columns in HiGHS's final basis, when known


def solve_blocks(blocks: Sequence[Payoffs], objective: str = "l1") -> list[LPSolution]:
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
    rhs: list[np.ndarray | list[float]] = []
    cost: list[np.ndarray | list[float]] = []
    spans = []
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
    x, duals, basis = _solve_lp(c, matrix, b, ub_row)
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
        out.append(LPSolution(float(c[start : start + width] @ x_block), np.maximum(x_block[:w], 0.0), deviation, y[:m].copy(), float(y[m]), block_basis))
    return out


def highs_model(matrix: sp.csc_matrix, cost: np.ndarray, columns: tuple[np.ndarray, np.ndarray],
                rows: tuple[np.ndarray, np.ndarray], integer: bool = False, **options: object) -> Solver:
    """A quiet HiGHS instance holding min cost.x with ``columns`` and ``rows`` as (lower, upper)
    bounds, the constraint ``matrix`` and HiGHS ``options``."""
    n_rows, n_cols = matrix.shape
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = columns
    lp.row_lower_, lp.row_upper_ = rows
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_cols, n_rows
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cols
    highs = Solver()
    highs.setOptionValue("output_flag", False)
    for name, value in options.items():
        highs.setOptionValue(name, value)
    highs.passModel(lp)
    return highs


def run(highs: Solver, what: str) -> None:
    """Solve, and raise unless HiGHS reports an optimum (``what`` names the model)."""
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS failed on {what}: {highs.modelStatusToString(status)}")


def _solve_lp(cost: np.ndarray, matrix: sp.csc_matrix, rhs: np.ndarray, n_ub: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """min cost.x over x >= 0, the first ``len(rhs)`` rows of ``matrix`` equal to ``rhs`` and
    the last ``n_ub`` at most 0. Returns x, the row duals and which columns and which rows'
    slacks HiGHS's final basis holds (None without a valid one).
    """
    n_cols = matrix.shape[1]
    highs = highs_model(
        matrix, cost, (np.zeros(n_cols), np.full(n_cols, INFINITY)),
        (np.concatenate([rhs, np.full(n_ub, -INFINITY)]), np.concatenate([rhs, np.zeros(n_ub)])),
        simplex_strategy=1,  # dual simplex ends on a vertex: the exact path's warm start
        # a block-diagonal LP of tiny components gives presolve nothing to gain: without it the
        # batches solved ~30% faster, and the basis handed to the exact path is the simplex's own
        presolve="off",
        # at HiGHS's default 1e-7 a credence of 1e-7 could be left unmatched by a component
        # read as coherent (R1 below TOLERANCE): its distribution must reproduce the credences
        primal_feasibility_tolerance=TOLERANCE, dual_feasibility_tolerance=TOLERANCE,
    )
    run(highs, "a coherence LP")
    solution, basis = highs.getSolution(), highs.getBasis()
    basic = None
    if basis.valid:
        kBasic = highspy.HighsBasisStatus.kBasic
        basic = (np.array([s == kBasic for s in basis.col_status], dtype=bool), np.array([s == kBasic for s in basis.row_status], dtype=bool))
    return np.asarray(solution.col_value), np.asarray(solution.row_dual), basic


def batches(sizes: Sequence[int], limit: int) -> Iterable[list[int]]:
    """Consecutive index groups whose sizes sum to at most ``limit`` (a bigger item alone)."""
    batch: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(i)
        total += size
    if batch:
        yield batch
