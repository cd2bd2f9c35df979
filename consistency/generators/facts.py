"""``builtin:facts``: simple facts a small real model may know: capitals, sums, comparisons.

Written for auditing small pretrained checkpoints (docs/real-models.md): each fact is short,
common, and comes with its negation and its relations, so every check has work to do.

- capitals: "the capital of France is Paris" (true), the same country with another
  country's capital (false), and both negated ("... is not Paris"); relations: a statement
  and its negation are exactly one true, and a country has at most one of the two capitals.
- sums of one-digit numbers: "2 plus 3 is 5" (true) and off by one (false), negated too.
- comparisons of numbers under 20: "7 is larger than 3" and "3 is larger than 7"
  (antisymmetry: exactly one true), each negated.

Countries, sums and pairs alternate between the trusted (train) and audited (test) splits.
"""

from __future__ import annotations

import random

from consistency.suite import Proposition, Relation, Suite

CAPITALS = (
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Japan", "Tokyo"), ("China", "Beijing"), ("Russia", "Moscow"), ("Egypt", "Cairo"),
    ("England", "London"), ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Austria", "Vienna"),
    ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Poland", "Warsaw"),
    ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Thailand", "Bangkok"),
    ("Cuba", "Havana"), ("Hungary", "Budapest"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
)


def facts_suite(seed: int = 0, n_sums: int = 16, n_pairs: int = 16) -> Suite:
    rng = random.Random(seed)
    props: dict[str, Proposition] = {}
    relations: list[Relation] = []

    def fact(pid: str, text: str, negated: str, truth: bool, split: str, tag: str) -> None:
        """A statement and its negation, related as exactly one true."""
        props[pid] = Proposition(pid, text, (), truth, None, split, (tag,))
        props[pid + ".not"] = Proposition(pid + ".not", negated, (), not truth, None, split, (tag, "negation"))
        relations.append(Relation(f"{pid}.negation", f"{pid} <-> !{pid}.not", "negation"))

    cities = [city for _, city in CAPITALS]
    for i, (country, capital) in enumerate(CAPITALS):
        split = ("train", "test")[i % 2]
        wrong = rng.choice([c for c in cities if c != capital])
        key = country.lower()
        fact(f"cap.{key}", f"the capital of {country} is {capital}", f"the capital of {country} is not {capital}",
             True, split, "capital")
        fact(f"cap.{key}.x", f"the capital of {country} is {wrong}", f"the capital of {country} is not {wrong}",
             False, split, "capital")
        relations.append(Relation(f"cap.{key}.unique", f"!(cap.{key} & cap.{key}.x)", "one capital"))

    sums = rng.sample([(a, b) for a in range(1, 10) for b in range(1, 10)], n_sums)
    for i, (a, b) in enumerate(sums):
        split = ("train", "test")[i % 2]
        off = a + b + rng.choice((-1, 1))
        fact(f"sum.{a}.{b}", f"{a} plus {b} is {a + b}", f"{a} plus {b} is not {a + b}", True, split, "sum")
        fact(f"sum.{a}.{b}.x", f"{a} plus {b} is {off}", f"{a} plus {b} is not {off}", False, split, "sum")
        relations.append(Relation(f"sum.{a}.{b}.unique", f"!(sum.{a}.{b} & sum.{a}.{b}.x)", "one sum"))

    pairs = rng.sample([(x, y) for x in range(1, 20) for y in range(1, x)], n_pairs)
    for i, (x, y) in enumerate(pairs):
        split = ("train", "test")[i % 2]
        fact(f"cmp.{x}.{y}", f"{x} is larger than {y}", f"{x} is not larger than {y}", True, split, "comparison")
        fact(f"cmp.{y}.{x}", f"{y} is larger than {x}", f"{y} is not larger than {x}", False, split, "comparison")
        relations.append(Relation(f"cmp.{x}.{y}.anti", f"cmp.{x}.{y} <-> !cmp.{y}.{x}", "antisymmetry"))
    return Suite("builtin:facts", props, relations, metadata={"seed": seed})
