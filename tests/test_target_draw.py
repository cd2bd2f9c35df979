"""The ladder's target draw: seeded, the same on every machine, and stable under one candidate
entering or leaving (a borderline claim must not redraw the whole sample and move the bar)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consistency.ladder import draw_targets

claim_ids = st.sets(st.text(alphabet="abcxyz019#_-", min_size=1, max_size=8), min_size=1, max_size=60)
FAST = settings(max_examples=200, deadline=None)


def replaced(before: list[str], after: list[str]) -> tuple[set[str], set[str]]:
    return set(before) - set(after), set(after) - set(before)


@FAST
@given(claim_ids, st.data(), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_one_candidate_leaving_changes_at_most_one_target(candidates, data, size, seed):
    leaving = data.draw(st.sampled_from(sorted(candidates)))
    before = draw_targets(candidates, size, seed, "ladder")
    after = draw_targets(candidates - {leaving}, size, seed, "ladder")
    gone, came = replaced(before, after)
    assert gone <= {leaving} and len(came) <= 1
    assert len(after) == min(size, len(candidates) - 1)


@FAST
@given(claim_ids, st.text(alphabet="klmn", min_size=1, max_size=8), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_one_candidate_entering_changes_at_most_one_target(candidates, entering, size, seed):
    before = draw_targets(candidates, size, seed, "ladder-cases")
    after = draw_targets(candidates | {entering}, size, seed, "ladder-cases")
    gone, came = replaced(before, after)
    assert came <= {entering} and len(gone) <= 1


@FAST
@given(claim_ids, st.integers(0, 40), st.integers(0, 2**32 - 1), st.randoms())
def test_the_draw_is_a_sorted_sample_whatever_the_candidates_order(candidates, size, seed, random):
    shuffled = sorted(candidates)
    random.shuffle(shuffled)
    drawn = draw_targets(shuffled, size, seed, "ladder")
    assert drawn == draw_targets(sorted(candidates), size, seed, "ladder") == sorted(drawn)
    assert set(drawn) <= candidates and len(drawn) == min(size, len(candidates))


def test_the_draw_is_deterministic_per_seed_and_salt():
    candidates = [f"p{i}" for i in range(200)]
    draws = {(seed, salt): draw_targets(candidates, 20, seed, salt) for seed in range(5) for salt in ("ladder", "ladder-cases")}
    assert all(draw_targets(candidates, 20, seed, salt) == drawn for (seed, salt), drawn in draws.items())
    assert len({tuple(d) for d in draws.values()}) == len(draws)  # every seed and salt draws its own sample
    # the same on every machine and in every process (no salted str hash): a fixed expected draw
    assert draw_targets([f"p{i}" for i in range(20)], 3, 0, "ladder") == ["p12", "p16", "p8"]
    assert draw_targets([f"p{i}" for i in range(20)], 3, 1, "ladder") == ["p10", "p19", "p2"]


def test_a_larger_sample_extends_a_smaller_one():
    # the ranking is one order per seed: --ladder-targets 50 lies about the 20 targets of 20 and more
    candidates = [f"c{i}" for i in range(100)]
    assert set(draw_targets(candidates, 20, 3, "ladder")) < set(draw_targets(candidates, 50, 3, "ladder"))
