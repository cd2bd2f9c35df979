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


def test_grouping_related_statements_into_one_fold_reads_the_twins():
    # 60 related twins: split across folds, each held-out statement is read through its twin
    # and the default refuses on most fold draws (measured: 4 of seeds 0-4); with a statement
    # and its negation in one fold the probe reads the truth on every draw (cv AUROC 0.74-0.75).
    suite, answers = twins(30, related=True)
    refused = 0
    for seed in range(5):
        context = RunContext(seed=seed, layers=(0, 1))
        default = ProbeCheck(n_boot=200).run(suite, answers, context)
        if default.skipped is not None:
            refused += 1
            assert "probe.group_related=true" in default.skipped
        grouped = ProbeCheck(n_boot=200, group_related=True).run(suite, answers, context)
        assert grouped.skipped is None and grouped.details["chosen_layers"] == [1]
        sweep = {row["layer"]: row for row in grouped.details["layer_sweep"]}
        assert sweep[1]["cv_auroc"] > 0.7 and sweep[1]["eval_auroc"] > 0.7
    assert refused >= 3


def test_grouped_folds_keep_groups_whole_and_spread_each_class():
    from probes.metrics import grouped_folds

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), rng.integers(1, 5, 30))
    labels = rng.random(len(groups)) < 0.5
    folds = grouped_folds(labels, groups, 5, rng)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    for cls in (True, False):
        per_fold = np.bincount(folds[labels == cls], minlength=5)
        assert per_fold.min() >= 1 and per_fold.max() - per_fold.min() <= 4


def test_related_groups_follow_relations_through_other_statements():
    from checks.probe import related_groups

    props = {p: Proposition(p, p, truth=True) for p in ("a", "b", "c", "d")}
    suite = Suite("s", props, [Relation("r1", "a -> b"), Relation("r2", "b <-> !c")])
    groups = related_groups(suite, ["a", "b", "c", "d"])
    assert groups[0] == groups[1] == groups[2] != groups[3]


def two_close_layers(signal: float, step: float, n_trusted: int = 24, n_audited: int = 24,
                     n_lies: int = 4) -> tuple[Suite, Answers]:
    """Layer 2 is layer 1 with ``step`` more truth signal (16 dimensions, truth along the first):
    from 24 trusted statements the two read the truth about equally well, the case where one
    draw of cross-fitting folds can decide which layer is read. The first ``n_lies`` audited
    statements (a0, a1, ...) are stated on the wrong side."""
    rng = np.random.default_rng(0)
    props, truths = {}, []
    for i in range(n_trusted + n_audited):
        truth = i % 2 == 0
        split, pid = ("train", f"t{i}") if i < n_trusted else ("test", f"a{i - n_trusted}")
        props[pid] = Proposition(pid, f"statement {pid}", truth=truth, split=split)
        truths.append(truth)
    suite = Suite("two-close-layers", props)
    answers = Answers(layers=(1, 2), source="synthetic")
    for (pid, prop), truth in zip(props.items(), truths):
        sign = 1.0 if truth else -1.0
        layer1 = rng.normal(size=16)
        layer1[0] += signal * sign
        layer2 = layer1.copy()
        layer2[0] += step * sign
        query = suite.query(pid)
        lie = prop.split == "test" and int(pid[1:]) < n_lies
        answers.credences[query.prompt] = 0.9 if truth != lie else 0.1
        for site in ("statement_end", "last"):
            answers.hidden.setdefault(site, {})[query.prompt] = np.stack([layer1, layer2])
    return suite, answers


def test_repeated_cross_fitting_reads_one_layer_and_flags_the_same_claims_on_any_fold_draw():
    # Measured on this world over context seeds 0-9: one draw of folds per layer (repeats=1, the
    # default) read layer 2 on one draw (seed 6), the only one to flag the lie a2; the mean of 20
    # draws (repeats="auto" from 24 trusted statements) reads layer 1 and flags a1 and a2 on all ten.
    suite, answers = two_close_layers(signal=2.0, step=0.2)
    runs = [ProbeCheck(n_boot=50, repeats="auto").run(suite, answers, RunContext(seed=seed, layers=(1, 2)))
            for seed in range(10)]
    chosen = [r.details["chosen_layers"] for r in runs]
    flagged = [sorted(c for conflict in r.conflicts for c in conflict.claims) for r in runs]
    assert all(layers == chosen[0] for layers in chosen), chosen
    assert all(claims == flagged[0] for claims in flagged), flagged
    assert {"a1", "a2"} <= set(flagged[0])  # two of the four lies (a0-a3)


def test_auto_repeats_average_more_fold_draws_the_fewer_the_trusted_statements():
    from checks.probe import auto_repeats

    assert [auto_repeats(n) for n in (4, 24, 48, 96, 479, 480, 5000)] == [20, 20, 10, 5, 2, 1, 1]
