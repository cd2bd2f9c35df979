"""The coherence LP in rational arithmetic with z3: the reference the fast paths are held to."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import z3

from consistency.coherence import ExactCertificate, Payoffs


def solve_z3(pay: Payoffs) -> tuple[ExactCertificate, np.ndarray]:
    """R1 in rational arithmetic with z3: the primal (distribution) and the dual (stakes).

    Slow (tens of ms per small component): the reference the exact simplex and HiGHS are
    held to. Returns the certificate and the exact deviations.
    """
    m, n_worlds = pay.hit.shape
    entries = [[exact_entry(pay, j, w) for w in range(n_worlds)] for j in range(m)]
    targets = [Fraction(t) for t in pay.target]

    def value(f: Fraction) -> z3.ArithRef:
        return z3.RealVal(f"{f.numerator}/{f.denominator}")

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


def exact_entry(pay: Payoffs, j: int, w: int) -> Fraction:
    """``a_j(w)`` as a rational: the float price is a dyadic rational, taken exactly."""
    value = Fraction(int(pay.hit[j, w]))
    return value - Fraction(pay.price[j]) if pay.given[j, w] else value
