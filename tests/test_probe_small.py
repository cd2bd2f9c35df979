"""The probe with little trusted data: statements with near-identical twins of opposite truth
(a statement and its negation), and an embedding layer that holds one shared token."""

from __future__ import annotations

import numpy as np

from checks.base import RunContext
from checks.probe import ProbeCheck
from consistency.answers import Answers
from consistency.suite import Proposition, Relation, Suite

DIM = 64


def twins(n_train_pairs: int, related: bool, seed: int = 0, signal: float = 0.4) -> tuple[Suite, Answers]:
    """Pairs "fact i" (true) and "fact i, negated" (false). At layer 1 a pair shares a large
    random vector and differs by a small truth direction, as a statement and its negation do in
    a real model; at layer 0 every statement has the same state (one shared last token)."""
    rng = np.random.default_rng(seed)
    truth_direction = rng.normal(size=DIM)
    props, relations = {}, []
    for i in range(n_train_pairs + 20):
        split = "train" if i < n_train_pairs else "test"
        props[f"f{i}"] = Proposition(f"f{i}", f"fact {i}", truth=True, split=split)
        props[f"f{i}n"] = Proposition(f"f{i}n", f"fact {i} negated", truth=False, split=split)
        if related:
            relations.append(Relation(f"r{i}", f"f{i} <-> !f{i}n"))
    suite = Suite("twins", props, relations)
    answers = Answers(layers=(0, 1), source="synthetic")
    shared_token = rng.normal(size=DIM)
    for i in range(n_train_pairs + 20):
        pair = 4.0 * rng.normal(size=DIM)
        for pid, sign in ((f"f{i}", 1.0), (f"f{i}n", -1.0)):
            query = suite.query(pid)
            layer1 = pair + sign * signal * truth_direction + 0.3 * rng.normal(size=DIM)
            states = np.stack([shared_token, layer1])
            answers.credences[query.prompt] = 0.9  # says "yes" to everything
            for site in ("statement_end", "last"):
                answers.hidden.setdefault(site, {})[query.prompt] = states
    return suite, answers


def run(suite: Suite, answers: Answers):
    return ProbeCheck(n_boot=200).run(suite, answers, RunContext(seed=0, layers=(0, 1)))


def test_the_embedding_layer_is_never_the_reading():
    result = run(*twins(30, related=True, signal=2.0))
    assert result.skipped is None and result.details["chosen_layers"] == [1]
    assert {row["layer"]: row for row in result.details["layer_sweep"]}[0]["eval_auroc"] == 0.5


def test_with_no_layer_above_chance_the_probe_refuses_rather_than_read_the_embeddings():
    # The twins are split across folds and a held-out statement is mostly read through its twin
    # of opposite truth: cross-fitting is at or below chance at layer 1 on most fold draws
    # (measured over context seeds 0-9: 9 of 10 refuse with the former hand-made folds, 8 of 10
    # with scikit-learn's StratifiedKFold). The old selection then read layer 0, a constant:
    # probe_auroc exactly 0.5 with threshold 0.5.
    suite, answers = twins(10, related=False)
    results = [ProbeCheck(n_boot=200).run(suite, answers, RunContext(seed=seed, layers=(0, 1))) for seed in range(5)]
    refused = [r.skipped for r in results if r.skipped is not None]
    assert len(refused) >= 3
    for reason in refused:
        assert reason.startswith("no layer reads truth above chance on the 20 trusted statements (best: layer 1")
        assert "give more trusted statements" in reason
    assert all(r.details["chosen_layers"] == [1] for r in results if r.skipped is None)
