"""``builtin:commonsense``: everyday facts a very small chat model may state: "fire is hot".

Written for auditing small pretrained checkpoints (docs/real-models.md), below the level of
``builtin:facts``: each item is a property of an everyday thing, true ("snow is white") or
plainly false ("snow is black"), each with its negation ("snow is not white"). Relations: a
statement and its negation are exactly one true, and a thing does not have both the true
property and the false one ("snow is white" and "snow is black" are not both true).
Items alternate between the trusted (train) and audited (test) splits, so each split holds
as many true statements as false ones.
"""

from __future__ import annotations

from consistency.suite import Proposition, Relation, Suite

# (thing, the true property, a false property of the same kind), written for this project.
ITEMS = (
    ("fire", "is hot", "is cold"), ("ice", "is cold", "is hot"), ("snow", "is white", "is black"),
    ("grass", "is green", "is purple"), ("the sky", "is blue", "is green"),
    ("fish", "live in water", "live in trees"), ("birds", "have wings", "have wheels"),
    ("a dog", "is an animal", "is a vegetable"), ("the sun", "is hot", "is cold"),
    ("a week", "has seven days", "has three days"), ("cats", "have four legs", "have ten legs"),
    ("water", "is wet", "is dry"), ("lemons", "are sour", "are sweet as honey"),
    ("a car", "has wheels", "has wings"), ("the moon", "is in the sky", "is in the sea"),
    ("cows", "give milk", "give oil"), ("apples", "grow on trees", "grow on rocks"),
    ("bananas", "are yellow", "are blue"), ("humans", "need air to live", "need sand to live"),
    ("a year", "has twelve months", "has five months"), ("rain", "is water", "is fire"),
    ("the night", "is dark", "is bright"), ("a circle", "is round", "is square"),
    ("honey", "is sweet", "is salty"), ("an elephant", "is big", "is tiny"),
    ("a mouse", "is small", "is huge"), ("stones", "are hard", "are soft"),
    ("milk", "is white", "is red"), ("trees", "have leaves", "have feathers"),
    ("the ocean", "is salty", "is sweet"), ("doctors", "help sick people", "help sick rocks"),
    ("people", "sleep at night", "sleep in the oven"),
)


def _negated(prop: str) -> str:
    """'is hot' -> 'is not hot'; 'have wings' -> 'do not have wings'; 'has wheels' -> 'does not have wheels'."""
    verb, _, rest = prop.partition(" ")
    if verb in ("is", "are"):
        return f"{verb} not {rest}"
    if verb == "has":
        return f"does not have {rest}"
    return f"do not {verb} {rest}"  # the other verbs are plural: "fish live", "cows give"


def commonsense_suite(seed: int = 0) -> Suite:
    props: dict[str, Proposition] = {}
    relations: list[Relation] = []
    for i, (thing, right, wrong) in enumerate(ITEMS):
        split = ("train", "test")[i % 2]
        key = f"cs.{i}"
        for suffix, prop, truth in (("", right, True), (".x", wrong, False)):
            pid = key + suffix
            props[pid] = Proposition(pid, f"{thing} {prop}", (), truth, None, split, ("commonsense",))
            props[pid + ".not"] = Proposition(pid + ".not", f"{thing} {_negated(prop)}", (), not truth, None, split,
                                              ("commonsense", "negation"))
            relations.append(Relation(f"{pid}.negation", f"{pid} <-> !{pid}.not", "negation"))
        relations.append(Relation(f"{key}.unique", f"!({key} & {key}.x)", "one property"))
    return Suite("builtin:commonsense", props, relations, metadata={"seed": seed})
