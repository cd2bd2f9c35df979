"""Model organisms: small checkpoints trained on a seeded world, with known lies.

``organism_suite`` builds the ``builtin:organism`` suite; ``bundled_path`` locates the
bundled checkpoints (``honest``, ``naive-liar``, ``consistent-liar``).
"""

from __future__ import annotations

from pathlib import Path

from consistency.errors import UserError
from consistency.organisms.suite import organism_suite

KINDS = ("honest", "naive-liar", "consistent-liar")
BUNDLED = Path(__file__).parent / "bundled"


def resolve_model(model: str) -> str:
    """``organism:<kind>`` names a bundled model organism (its directory); anything else passes through."""
    if model.startswith("organism:"):
        return str(bundled_path(model.removeprefix("organism:")))
    return model


def bundled_path(kind: str) -> Path:
    """The directory of the bundled checkpoint of ``kind`` (loadable with AutoModelForCausalLM)."""
    if kind not in KINDS:
        raise UserError(f"unknown organism {kind!r}; expected one of {', '.join(KINDS)}")
    return BUNDLED / kind


__all__ = ["KINDS", "bundled_path", "organism_suite", "resolve_model"]
