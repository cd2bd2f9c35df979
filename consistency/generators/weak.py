"""Simulated weak supervision: the labels a fallible human would give."""

from __future__ import annotations

import random


def weak_label(truth: bool, error_rate: float, rng: random.Random) -> float:
    """A confident-sounding probability that is wrong with probability ``error_rate``.

    Harder items get a higher ``error_rate``, as a human checker makes more mistakes on
    multi-step arithmetic than on a single sum.
    """
    believed = truth if rng.random() >= error_rate else not truth
    confidence = rng.uniform(0.7, 0.95)
    return round(confidence if believed else 1 - confidence, 3)
