"""What a repair returns: the nearest coherent credences, the Dutch book, the exact certificate."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from consistency.coherence.highs import TOLERANCE
from consistency.coherence.model import Component


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
    method: str  # "simplex" (exact), "highs" or "column-generation"
    n_worlds: int | None  # worlds enumerated (None: too many, column generation)
    exact: ExactCertificate | None = None
    iterations: int = 0  # column generation rounds

    def repaired(self, component: Component) -> list[float | None]:
        """q*_j per claim; a conditional's is P*(then & given) / P*(given), None if P*(given) = 0."""
        out: list[float | None] = []
        index = {name: i for i, name in enumerate(component.atoms)}
        for claim, d in zip(component.claims, self.deviation):
            if claim.given is None:
                out.append(min(1.0, max(0.0, claim.credence + float(d))))  # np.clip per claim: ~12 us
                continue
            given = self.worlds[:, index[claim.given]]
            both = given & self.worlds[:, index[claim.then]]
            mass = float(self.probabilities[given].sum())
            out.append(float(self.probabilities[both].sum()) / mass if mass > TOLERANCE else None)
        return out
