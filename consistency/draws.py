"""Stable draws: a sample that a claim entering or leaving the candidates changes by at most one."""

from __future__ import annotations

import hashlib
from typing import Iterable


def draw_targets(candidates: Iterable[str], size: int, seed: int, salt: str) -> list[str]:
    """The ``size`` candidates ranked first by a keyed hash of (seed, salt, candidate), sorted.

    Each candidate's rank depends on its own id alone, not on which other claims are
    candidates, so a claim entering or leaving the candidates (a score moving across a
    threshold by a rounding error) changes at most one target; a draw from a random generator
    over the candidate list would shift every later pick. blake2b, not ``hash()``: str hashes
    are salted per process, and the draw must be the same on every machine.
    """
    def rank(candidate: str) -> tuple[bytes, str]:
        key = f"{seed}\x1f{salt}\x1f{candidate}".encode()
        return hashlib.blake2b(key, digest_size=16).digest(), candidate

    return sorted(sorted(set(candidates), key=rank)[:max(size, 0)])
