"""Consistency properties for users' CI: claim pools, hypothesis strategies, assertions.

::

    from hypothesis import given
    from consistency.testing import ClaimPool, assert_consistent, claims

    POOL = ClaimPool.numbers()

    @given(claims(POOL))
    def test_consistent(consistency_model, drawn):
        assert_consistent(consistency_model, drawn, max_r1=0.1, max_flip_rate=0.0)

The pytest plugin (``consistency.testing.plugin``) provides the ``consistency_model`` fixture.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exports load on first use: pytest imports this package for the plugin in every run,
# and hypothesis, numpy and the checks should cost nothing to runs that never use them.
_EXPORTS = {
    "ClaimPool": "consistency.testing.pool",
    "Claims": "consistency.testing.pool",
    "Structure": "consistency.testing.structures",
    "KINDS": "consistency.testing.structures",
    "Template": "consistency.testing.generators",
    "Connectives": "consistency.testing.generators",
    "claims": "consistency.testing.strategies",
    "judged_claims": "consistency.testing.judging",
    "directive_cases": "consistency.testing.judging",
    "assert_consistent": "consistency.testing.assertions",
    "assert_within_budget": "consistency.testing.assertions",
    "BudgetExceeded": "consistency.testing.assertions",
    "read_baseline": "consistency.testing.baseline",
    "write_baseline": "consistency.testing.baseline",
    "ConsistencyError": "consistency.testing.assertions",
    "run_checks": "consistency.testing.assertions",
    "Outcome": "consistency.testing.assertions",
    "CachedAdapter": "consistency.testing.models",
    "ModelRef": "consistency.testing.models",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'consistency.testing' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
