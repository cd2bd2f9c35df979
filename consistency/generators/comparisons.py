"""``builtin:comparisons``: "x is larger than y" over groups of distinct numbers.

For each group every ordered pair is a proposition. Relations: antisymmetry with
totality for distinct numbers (exactly one of ``x > y`` and ``y > x``) and transitivity
(``x > y & y > z -> x > z``). Conditionals ask ``P(x > z | x > y)``.
"""

from __future__ import annotations

import itertools
import random

from consistency.generators.weak import weak_label
from consistency.suite import Conditional, Proposition, Relation, Suite


def comparisons_suite(seed: int = 0, n_groups: int = 10, group_size: int = 4) -> Suite:
    rng = random.Random(seed)
    props: dict[str, Proposition] = {}
    relations: list[Relation] = []
    conditionals: list[Conditional] = []
    for g in range(n_groups):
        numbers = rng.sample(range(10, 1000), group_size)
        split = "train" if g % 2 == 0 else "test"
        pid = lambda x, y: f"g{g}.{x}gt{y}"  # noqa: E731, B023
        for x, y in itertools.permutations(numbers, 2):
            truth = x > y
            difficulty = 1.0 / (1 + abs(x - y) / 50)  # close numbers are harder to compare
            props[pid(x, y)] = Proposition(
                pid(x, y), f"{x} is larger than {y}", (f"{x} is greater than {y}", f"{y} is smaller than {x}"),
                truth, weak_label(truth, 0.05 + 0.2 * difficulty, rng), split, ("comparison",), round(difficulty, 3),
            )
        for x, y in itertools.combinations(numbers, 2):
            relations.append(Relation(f"g{g}.anti.{x}.{y}", f"{pid(x, y)} <-> !{pid(y, x)}", "antisymmetry"))
        for x, y, z in itertools.permutations(numbers, 3):
            relations.append(Relation(f"g{g}.trans.{x}.{y}.{z}", f"{pid(x, y)} & {pid(y, z)} -> {pid(x, z)}", "transitivity"))
        x, y, z = numbers[:3]
        conditionals.append(Conditional(f"g{g}.cond", pid(x, y), pid(x, z)))
    return Suite("builtin:comparisons", props, relations, conditionals, [], metadata={"seed": seed})
