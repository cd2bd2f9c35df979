"""Hypothesis strategies over a :class:`ClaimPool`.

A drawn example is a short list of structures, each drawn as (a proposition, then one of
the structures that mention it, simplest first). Hypothesis shrinks a list by dropping
elements and each choice towards 0, so a failing example shrinks to a single structure,
and that structure to the simplest one around a proposition the model contradicts itself
on. (Drawing a structure by its position in the pool alone shrinks worse: the failing
positions are scattered, and the integer shrinker stops at the first local minimum.)
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

from consistency.testing.pool import Claims, ClaimPool


def claims(pool: ClaimPool, kinds: Sequence[str] | None = None, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[Claims]:
    """Draw ``min_size`` to ``max_size`` structures of the given kinds from ``pool``, none
    of them in its baseline (repeats are dropped, so an example may hold fewer than ``min_size``)."""
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}")
    # The baseline's structures are left out of the choices rather than rejected after the
    # draw: no example is wasted on them, and shrinking ends at the smallest *new* contradiction.
    allowed = {i for i in pool.indices(kinds) if not pool.is_accepted(i)}
    around = {prop: [i for i in found if i in allowed] for prop, found in pool.containing.items()}
    choices = tuple(tuple(found) for found in around.values() if found)
    if not choices:
        which = f"of kinds {list(kinds)} " if kinds else ""
        raise ValueError(f"claim pool {pool.suite.name!r} has no structures {which}outside its baseline")
    return _drawn(pool, choices, min_size, max_size)


@st.composite
def _structure(draw: st.DrawFn, choices: tuple[tuple[int, ...], ...]) -> int:
    """A pool index: a proposition, then one of the structures around it (simplest first)."""
    structures = choices[draw(st.integers(0, len(choices) - 1))]
    return structures[draw(st.integers(0, len(structures) - 1))]


@st.composite
def _drawn(draw: st.DrawFn, pool: ClaimPool, choices: tuple[tuple[int, ...], ...], min_size: int, max_size: int) -> Claims:
    # A composite rather than .map: hypothesis then prints the drawn value's repr, which
    # names the structures in words, in its "Falsifying example" line.
    return Claims(pool, draw(st.lists(_structure(choices), min_size=min_size, max_size=max_size)))
