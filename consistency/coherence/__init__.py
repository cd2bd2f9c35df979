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

The package, in the order a component goes through it:

- :mod:`~consistency.coherence.model`: claims, relations, connected components;
- :mod:`~consistency.coherence.worlds`: the worlds of a component (truth table, pruned
  table, z3) and the LP data over them (:class:`Payoffs`);
- :mod:`~consistency.coherence.highs`: HiGHS through highspy; components whose worlds are
  enumerated (at most ``max_worlds``) are solved many per LP;
- :mod:`~consistency.coherence.exact`: for an incoherent component (at most
  ``exact_worlds`` worlds) the vertex HiGHS ends on is rebuilt in exact rationals and
  finished with exact simplex pivots, giving an exact distribution and exact stakes whose
  equal objectives prove optimality;
- :mod:`~consistency.coherence.clause`: a component too big to enumerate whose one relation
  is a clause over its claims' atoms (``p1 | !p2 | ... | pn``): closed form, exact;
- :mod:`~consistency.coherence.colgen`: the other components with too many worlds; a
  master LP over a growing set of worlds, the next world found by a 0/1 program over the
  relations (that search is exactly "the bettor's best world against the current stakes",
  so every round also yields a Dutch book and a lower bound);
- :mod:`~consistency.coherence.results` and :mod:`~consistency.coherence.repair`: what a
  repair returns, and :func:`repair_components`, which routes each component.

The tests hold these paths to a z3 rational LP (``tests/z3_oracle.py``).
"""

from consistency.coherence.colgen import WorldPricer, column_generation
from consistency.coherence.exact import exact_simplex
from consistency.coherence.highs import (
    BATCH_COLUMNS,
    TOLERANCE,
    LPSolution,
    solve_blocks,
)
from consistency.coherence.model import (
    Claim,
    Component,
    Constraint,
    RelationsUnsatisfiable,
    split_components,
)
from consistency.coherence.repair import EXACT_WORLDS, repair_components, world_losses
from consistency.coherence.results import ExactCertificate, Repair
from consistency.coherence.worlds import (
    MAX_WORLDS,
    TABLE_ATOMS,
    Z3_ATOMS,
    Payoffs,
    enumerate_worlds,
    evaluate_columns,
    payoffs,
    truth_table,
)

__all__ = [
    "BATCH_COLUMNS",
    "EXACT_WORLDS",
    "MAX_WORLDS",
    "TABLE_ATOMS",
    "TOLERANCE",
    "Z3_ATOMS",
    "Claim",
    "Component",
    "Constraint",
    "ExactCertificate",
    "LPSolution",
    "Payoffs",
    "RelationsUnsatisfiable",
    "Repair",
    "WorldPricer",
    "column_generation",
    "enumerate_worlds",
    "evaluate_columns",
    "exact_simplex",
    "payoffs",
    "repair_components",
    "solve_blocks",
    "split_components",
    "truth_table",
    "world_losses",
]
