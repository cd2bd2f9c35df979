"""The entry point: every component's R1, R_inf, repair and Dutch book, by the fitting solver."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from consistency.coherence.clause import clause_literals, repair_clause
from consistency.coherence.colgen import column_generation
from consistency.coherence.exact import exact_simplex
from consistency.coherence.highs import (
    BATCH_COLUMNS,
    TOLERANCE,
    LPSolution,
    batches,
    solve_blocks,
)
from consistency.coherence.model import Component, RelationsUnsatisfiable
from consistency.coherence.results import Repair
from consistency.coherence.worlds import MAX_WORLDS, Payoffs, enumerate_worlds, payoffs

EXACT_WORLDS = 4096  # exact rational certificates for components up to this many worlds

def repair_components(
    components: Sequence[Component],
    *,
    max_worlds: int = MAX_WORLDS,
    exact_worlds: int = EXACT_WORLDS,
    worlds: Sequence[np.ndarray | None] | None = None,
    exact: bool = True,
) -> list[Repair | RelationsUnsatisfiable]:
    """R1, R_inf, the repair and the Dutch book of every component (in input order).

    ``worlds`` may pass each component's already enumerated worlds (None: too many).
    With ``exact``, incoherent components of at most ``exact_worlds`` worlds get exact
    rational certificates (:func:`~consistency.coherence.exact.exact_simplex`, warm-started
    from HiGHS).
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
            literals = clause_literals(component)
            out[i] = _repair_large(component) if literals is None else repair_clause(component, literals)
        else:
            small.append((i, enumerated, payoffs(component, enumerated)))
    sizes = [pay.hit.shape[1] + 2 * pay.hit.shape[0] for _, _, pay in small]
    for batch in batches(sizes, BATCH_COLUMNS):
        members = [small[k] for k in batch]
        l1 = solve_blocks([pay for _, _, pay in members], "l1")
        # R_inf <= R1, so a component coherent to HiGHS's tolerance needs no R_inf LP
        incoherent = [k for k, sol in enumerate(l1) if sol.objective > TOLERANCE]
        r_inf = [0.0] * len(members)
        for k, worst in zip(incoherent, solve_blocks([members[k][2] for k in incoherent], "linf")):
            r_inf[k] = worst.objective
        for (i, component_worlds, pay), sol, component_r_inf in zip(members, l1, r_inf):
            # exact certificates where there is something to certify: an incoherent component
            wanted = exact and len(component_worlds) <= exact_worlds and sol.objective > TOLERANCE
            out[i] = _repair_small(component_worlds, pay, sol, component_r_inf, wanted)
    return out  # type: ignore[return-value]


def _repair_small(worlds: np.ndarray, pay: Payoffs, sol: LPSolution, r_inf: float, exact: bool) -> Repair:
    if not exact:
        support = np.flatnonzero(sol.mu > TOLERANCE)
        if sol.objective <= TOLERANCE:  # coherent up to HiGHS's tolerance: no book to make
            zeros = np.zeros(len(pay.target))
            return Repair(0.0, r_inf, zeros, worlds[support], sol.mu[support], zeros, 0.0, "highs", len(worlds))
        loss = float(sol.duals @ pay.target - (pay.matrix.T @ sol.duals).max())
        return Repair(float(np.abs(sol.deviation).sum()), r_inf, sol.deviation, worlds[support], sol.mu[support], sol.duals, loss, "highs", len(worlds))
    kept, cert = exact_simplex(pay, sol)
    return Repair(
        float(cert.r1),
        r_inf,
        np.array([float(d) for d in cert.deviation]),
        worlds[kept],
        np.array([float(p) for p in cert.probabilities]),
        np.array([float(s) for s in cert.stakes]),
        float(cert.guaranteed_loss),
        "simplex",
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
