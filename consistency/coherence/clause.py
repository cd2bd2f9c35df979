"""A component held together by one clause, solved in closed form with an exact certificate.

When a component's only relation is a disjunction of literals over distinct atoms
(``p1 | !p2 | ... | pn``) and each atom carries exactly one plain claim, its worlds are every
assignment making at least one literal true: 2^n - 1 of them, far too many to enumerate past a
few dozen atoms, and column generation needs about n rounds to find the n worlds a repair
spreads over. The geometry is simple instead. Write ``v_i`` for the credence the claims give
literal i (``b_i``, or ``1 - b_i`` for a negated atom). The convex hull of the worlds is
``{x in [0, 1]^n : sum_i l_i(x) >= 1}`` (one covering row cuts a vertex off the cube and leaves
every other vertex integral), so

    R1 = max(0, 1 - sum_i v_i),    R_inf = R1 / n,

reached by raising every literal by ``R1 / n``; and betting against every literal (stakes -1 on
a plain atom's claim, +1 on a negated one's) loses ``sum_i l_i(w) - sum_i v_i >= 1 - sum v``
in every world, which proves both. The repaired distribution lays the literals' repaired values
end to end on a circle of circumference one: every point is covered by at least one literal
(their lengths sum to at least one) and literal i covers exactly its value, so the worlds read
off the circle's pieces (at most n + 1) reproduce the repaired credences. Everything is
computed in rationals, so the certificate is exact.
"""

from __future__ import annotations

from bisect import bisect_left
from fractions import Fraction
from itertools import accumulate

import numpy as np

from consistency import formula as fm
from consistency.coherence.model import Component
from consistency.coherence.results import ExactCertificate, Repair


def clause_literals(component: Component) -> list[tuple[str, bool]] | None:
    """``[(atom, positive), ...]`` in the claims' order when the component is one clause over
    distinct atoms, each with one plain claim; None otherwise."""
    if len(component.constraints) != 1:
        return None
    literals: dict[str, bool] = {}
    for operand in fm.chain_operands(component.constraints[0].tree, "|"):
        positive = not isinstance(operand, fm.Not)
        atom = operand.arg if isinstance(operand, fm.Not) else operand
        if not isinstance(atom, fm.Var) or atom.name in literals:
            return None
        literals[atom.name] = positive
    claimed = [claim.then for claim in component.claims if claim.given is None]
    if len(literals) < 2 or len(claimed) != len(component.claims) or sorted(claimed) != sorted(literals):
        return None
    return [(name, literals[name]) for name in claimed]


def repair_clause(component: Component, literals: list[tuple[str, bool]]) -> Repair:
    """R1, R_inf, the repair, its worlds and the Dutch book of a one-clause component."""
    n = len(literals)
    credences = [Fraction(claim.credence) for claim in component.claims]
    values = [b if positive else 1 - b for b, (_, positive) in zip(credences, literals)]
    r1 = max(Fraction(0), 1 - sum(values, Fraction(0)))
    lift = r1 / n
    deviation: list[Fraction] = [lift if positive else -lift for _, positive in literals]
    stakes = [Fraction(-1 if positive else 1) if r1 else Fraction(0) for _, positive in literals]
    worlds, probabilities = _circle_worlds(component, literals, [v + lift for v in values])
    certificate = ExactCertificate(r1, probabilities, stakes, r1, deviation)
    return Repair(
        float(r1), float(lift), np.array([float(d) for d in deviation]), worlds,
        np.array([float(p) for p in probabilities]), np.array([float(s) for s in stakes]),
        float(r1), "clause", None, certificate,
    )


def _circle_worlds(
    component: Component, literals: list[tuple[str, bool]], lengths: list[Fraction]
) -> tuple[np.ndarray, list[Fraction]]:
    """Worlds and their probabilities: the literals' segments laid end to end on [0, 1), wrapping."""
    ends = list(accumulate(lengths))
    starts = [Fraction(0), *ends[:-1]]
    intervals = []  # (literal, low, high) within [0, 1): a segment that wraps is two intervals
    for k, (start, end) in enumerate(zip(starts, ends)):
        low, high = start % 1, start % 1 + (end - start)
        if high <= 1:
            intervals.append((k, low, high))
        else:
            intervals += [(k, low, Fraction(1)), (k, Fraction(0), high - 1)]
    cuts = sorted({Fraction(0), Fraction(1), *(low for _, low, _ in intervals), *(high for _, _, high in intervals)})
    # piece p is [cuts[p], cuts[p + 1]); a difference array over pieces marks which literals cover it
    covered = np.zeros((len(cuts), len(literals)), dtype=np.int32)
    for k, low, high in intervals:
        covered[bisect_left(cuts, low), k] += 1
        covered[bisect_left(cuts, high), k] -= 1
    is_covered = np.cumsum(covered, axis=0)[:-1] > 0
    positive = np.array([is_positive for _, is_positive in literals])
    column = {name: i for i, name in enumerate(component.atoms)}
    worlds_by_piece = np.zeros((len(is_covered), len(component.atoms)), dtype=bool)
    worlds_by_piece[:, [column[name] for name, _ in literals]] = is_covered == positive
    found: dict[bytes, int] = {}
    probabilities: list[Fraction] = []
    keep: list[int] = []
    for piece, (low, high) in enumerate(zip(cuts, cuts[1:])):
        key = worlds_by_piece[piece].tobytes()
        if key not in found:
            found[key] = len(keep)
            keep.append(piece)
            probabilities.append(Fraction(0))
        probabilities[found[key]] += high - low
    return worlds_by_piece[keep], probabilities
