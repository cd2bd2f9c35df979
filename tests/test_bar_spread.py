"""The bar's spread: how the bar would read on other samples of targets (bootstrap redraws of
the liars, no re-run of any check), read over any subset of the checks."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from consistency.aggregate import over_passed
from consistency.config import LadderSettings
from consistency.ladder import SPREAD_DRAWS, LEVELS, Redraws, _redrawn_tests, _significant, bar_spread, run_ladder
from test_ladder import FakeLogic, FakeProbe, honest_run, ladder_suite

RUNGS = len(LEVELS)


def test_the_test_is_scipys_one_sided_binomial():
    for caught, changed, rate in [(7, [1] * 200, 0.01), (6, [1] * 200, 0.01), (21, [3, 5] * 100, 0.0105), (1, [1] * 49, 0.01)]:
        chance = float(np.mean([1 - (1 - rate) ** m for m in changed]))
        expected = binomtest(caught, len(changed), chance, alternative="greater").pvalue < 0.01
        assert _significant(caught, changed, rate, 0.01) == expected
    assert not _significant(0, [1] * 10, 0.0, 0.01)


def fake_ladder(redraws: Redraws | None = None) -> dict:
    """The ladder over the fake logic and probe checks, on an honest run of the scripted suite."""
    suite = ladder_suite()
    checks = [FakeLogic(), FakeProbe()]
    answers, context, results = honest_run(suite, checks)
    return run_ladder(suite, answers, checks, results, context, LadderSettings(ladder_targets=30), redraws=redraws)


def test_a_clear_bar_reads_the_same_on_every_redraw():
    redraws = Redraws()
    bar = fake_ladder(redraws)
    # the probe catches every L4 liar and nothing catches L5: no redraw of the targets changes that
    assert bar["level"] == 5
    assert bar["spread"] == {"draws": SPREAD_DRAWS, "agreement": 1.0,
                             "levels": [{"level": 5, "level_name": "hidden states moved", "share": 1.0}]}
    assert redraws.checks == ["fake-logic", "fake-probe"] and redraws.claims.shape == (SPREAD_DRAWS, RUNGS, 2)
    assert redraws.cases is None
    assert fake_ladder()["spread"] == bar["spread"]  # seeded


def borderline(caught_first_rung: int, n: int = 200) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    """One check that catches ``caught_first_rung`` of ``n`` L1 liars and nothing above."""
    hits = [{"c": np.arange(n) < (caught_first_rung if r == 0 else 0)} for r in range(RUNGS)]
    return hits, [np.ones(n, dtype=int)] * RUNGS


def test_a_borderline_rung_spreads_the_bar_over_two_levels():
    # 7 of 200 at a 1% chance: p = 0.004, caught; a redraw finds 6 or fewer about half the time
    hits, changed = borderline(7)
    redraws = Redraws(["c"], _redrawn_tests(hits, changed, ["c"], {"c": 0.01}, 0.01, np.random.default_rng(0)))
    spread = bar_spread(redraws, ["c"], level=2)
    shares = {row["level"]: row["share"] for row in spread["levels"]}
    assert set(shares) == {1, 2} and 0.25 < shares[2] < 0.75 and spread["agreement"] == shares[2]
    assert sum(shares.values()) == 1.0
    # far from the cut, every redraw agrees
    hits, changed = borderline(60)
    clear = Redraws(["c"], _redrawn_tests(hits, changed, ["c"], {"c": 0.01}, 0.01, np.random.default_rng(0)))
    assert bar_spread(clear, ["c"], level=2)["agreement"] == 1.0


def test_the_spread_is_read_over_the_checks_named_and_both_kinds_of_liar():
    tests = np.zeros((4, RUNGS, 2), dtype=bool)
    tests[:, :3, 0] = True  # the first check catches L1-L3 on every redraw
    tests[:2, :5, 1] = True  # the second catches L1-L5 on half of them
    redraws = Redraws(["a", "b"], tests)
    assert bar_spread(redraws, ["a"], 4)["levels"] == [{"level": 4, "level_name": LEVELS[3].name, "share": 1.0}]
    assert [(r["level"], r["share"]) for r in bar_spread(redraws, ["a", "b"], 6)["levels"]] == [(4, 0.5), (6, 0.5)]
    assert bar_spread(redraws, [], 1)["agreement"] == 1.0  # no check catches anything
    # case liars that only "b" catches, on L1 alone: every rung above is passed by them
    redraws.cases = np.zeros((4, RUNGS, 2), dtype=bool)
    redraws.cases[:, 0, 1] = True
    assert [(r["level"], r["share"]) for r in bar_spread(redraws, ["a", "b"], 2)["levels"]] == [(2, 1.0)]
    assert bar_spread(redraws, ["a"], 1)["agreement"] == 1.0


def test_the_verdict_reads_the_spread_over_the_checks_the_model_passed():
    redraws = Redraws()
    bar = fake_ladder(redraws)
    over_passed(bar, {"catching": ["fake-probe"]}, redraws)
    assert bar["level"] < 5 and bar["spread"] == bar_spread(redraws, ["fake-logic"], bar["level"])
    assert bar["spread"]["agreement"] > 0
    unread = fake_ladder()
    over_passed(unread, {"catching": ["fake-probe"]}, None)
    assert "spread" not in unread  # it was read over both checks, and no redraws say how it reads over one
