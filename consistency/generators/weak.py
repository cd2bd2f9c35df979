"""Simulated weak supervision: the labels a fallible human would give."""

from __future__ import annotations

import random


def weak_label(
    truth: bool, error_rate: float, rng: random.Random, confidence: tuple[float, float] = (0.7, 0.95)
) -> float:
    """A confident-sounding probability that is wrong with probability ``error_rate``.

    The stated confidence in the believed side is drawn uniformly from ``confidence``
    (``(1.0, 1.0)``: hard 0/1 labels). Harder items get a higher ``error_rate``, as a human
    checker makes more mistakes on multi-step arithmetic than on a single sum.
    """
    believed = truth if rng.random() >= error_rate else not truth
    sure = rng.uniform(*confidence)
    return round(sure if believed else 1 - sure, 3)
