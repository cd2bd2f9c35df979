"""Helpers shared by the checks that read hidden states (``probe``, ``w2s-copies``): option
checks, the layers to read, and the stated answers and truth as vectors over statements."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from checks.base import RunContext
from consistency.answers import SITES, Answers
from consistency.suite import Proposition, Query
from probes.base import ProbeError


def no_hidden_reason(answers: Answers) -> str | None:
    """Why a hidden-state check cannot run on ``answers``, or None when it can."""
    if answers.has_hidden:
        return None
    return f"needs hidden states; the {answers.source or 'given'} adapter provides none"


def check_fpr(fpr: float) -> float:
    if not 0.0 < fpr < 1.0:
        raise ProbeError(f"fpr must be in (0, 1), got {fpr}")
    return float(fpr)


def check_site(site: str) -> str:
    if site not in SITES:
        raise ProbeError(f"unknown hidden-state site {site!r}; expected one of {', '.join(SITES)}")
    return site


def check_layers(layers: str | Sequence[int], named: tuple[str, ...] = ("auto",)) -> str | tuple[int, ...]:
    """``layers`` as one of the ``named`` choices or a tuple of layer numbers."""
    if isinstance(layers, str) and layers in named:
        return layers
    if isinstance(layers, str) or not all(isinstance(x, int) and not isinstance(x, bool) for x in layers):
        choices = ", ".join(repr(n) for n in named)
        raise ProbeError(f"layers must be {choices} or a list of layer numbers, got {layers!r}")
    if not layers:
        raise ProbeError("layers must name at least one layer")
    return tuple(layers)


def captured_layers(requested: str | tuple[int, ...], answers: Answers, context: RunContext) -> tuple[int, ...]:
    """Layers to sweep: the captured ones; explicit requests must be among them."""
    captured = tuple(context.layers or answers.layers)
    if not isinstance(requested, str):
        missing = [layer for layer in requested if layer not in captured]
        if missing:
            raise ProbeError(f"layers {missing} were not captured (captured: {list(captured)})")
    return captured


def stated_beliefs(answers: Answers, queries: list[Query]) -> np.ndarray:
    """The stated credence per query, NaN where unanswered."""
    values = [answers.belief(q) for q in queries]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def truth_vector(props: Iterable[Proposition]) -> np.ndarray:
    """1/0 per proposition, NaN where the truth is unknown."""
    return np.array([np.nan if p.truth is None else float(p.truth) for p in props], dtype=np.float64)


def side(credence: float) -> str:
    return "true" if credence >= 0.5 else "false"
