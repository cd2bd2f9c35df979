"""``builtin:arithmetic``: sums true and false, their negations, and multi-step sums.

Every proposition has ground truth. Negations are linked by ``n <-> !p`` relations, and
each three-term sum is decomposed into its two steps ``a + b = t`` and ``t + c = s``
(with ``t`` the true intermediate, so ``s-claim <-> (step1 & step2)`` holds exactly).
"""

from __future__ import annotations

import random

from consistency.generators.weak import weak_label
from consistency.suite import Decomposition, Proposition, Relation, Suite


def _sum_phrasings(terms: list[int], total: int) -> tuple[str, tuple[str, ...]]:
    plus = " + ".join(map(str, terms))
    words = " plus ".join(map(str, terms))
    return f"{plus} = {total}", (f"{words} equals {total}", f"the sum of {', '.join(map(str, terms))} is {total}")


def arithmetic_suite(seed: int = 0, n_sums: int = 60, n_chains: int = 20) -> Suite:
    rng = random.Random(seed)
    props: dict[str, Proposition] = {}
    relations: list[Relation] = []
    decompositions: list[Decomposition] = []

    def add(pid: str, text: str, variants: tuple[str, ...], truth: bool, difficulty: float, tags: tuple[str, ...]):
        error_rate = 0.05 + 0.1 * difficulty
        split = "train" if rng.random() < 0.5 else "test"
        props[pid] = Proposition(pid, text, variants, truth, weak_label(truth, error_rate, rng), split, tags, difficulty)

    def wrong(total: int) -> int:
        return total + rng.choice([-10, -2, -1, 1, 2, 10])

    for i in range(n_sums):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        truth = rng.random() < 0.5
        total = a + b if truth else wrong(a + b)
        text, variants = _sum_phrasings([a, b], total)
        add(f"sum{i}", text, variants, truth, 0.5, ("sum",))
        add(f"sum{i}.not", f"{a} + {b} is not equal to {total}", (f"{a} plus {b} does not equal {total}",),
            not truth, 0.5, ("sum", "negation"))
        relations.append(Relation(f"neg{i}", f"sum{i}.not <-> !sum{i}", "negation"))

    for i in range(n_chains):
        a, b, c = (rng.randint(2, 60) for _ in range(3))
        step = a + b
        truth = rng.random() < 0.5
        total = a + b + c if truth else wrong(a + b + c)
        text, variants = _sum_phrasings([a, b, c], total)
        add(f"chain{i}", text, variants, truth, 1.5, ("multi-step",))
        first_text, first_variants = _sum_phrasings([a, b], step)
        add(f"chain{i}.s1", first_text, first_variants, True, 0.5, ("sum", "step"))
        second_text, second_variants = _sum_phrasings([step, c], total)
        add(f"chain{i}.s2", second_text, second_variants, truth, 0.5, ("sum", "step"))
        decompositions.append(
            Decomposition(f"dec{i}", f"chain{i}", (f"chain{i}.s1", f"chain{i}.s2"), f"chain{i} <-> (chain{i}.s1 & chain{i}.s2)")
        )
    return Suite("builtin:arithmetic", props, relations, [], decompositions, metadata={"seed": seed})
