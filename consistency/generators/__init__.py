"""Built-in suites with ground truth, named ``builtin:<name>`` on the command line."""

from __future__ import annotations

from typing import Callable

from consistency.errors import UserError
from consistency.suite import Suite

from consistency.generators.arithmetic import arithmetic_suite
from consistency.generators.commonsense import commonsense_suite
from consistency.generators.comparisons import comparisons_suite
from consistency.generators.facts import facts_suite
from consistency.generators.directives import directives_suite


def _organism(seed: int) -> Suite:
    from consistency.organisms.suite import organism_suite  # trained organisms are optional at import

    return organism_suite(seed)


BUILTIN: dict[str, Callable[[int], Suite]] = {
    "arithmetic": arithmetic_suite,
    "commonsense": commonsense_suite,
    "comparisons": comparisons_suite,
    "facts": facts_suite,
    "directives": directives_suite,
    "organism": _organism,
}


class UnknownSuite(UserError, KeyError):
    def __str__(self) -> str:
        return f"unknown built-in suite 'builtin:{self.args[0]}'; available: " + ", ".join(f"builtin:{n}" for n in BUILTIN)


# Suites whose content a checkpoint was trained on: the bundled organisms know world 0 only, so
# the audit's --seed (the seed of the audit's random choices) must not build them another world.
# ``builtin:organism:<seed>`` names another world explicitly (an organism trained with --world-seed).
PINNED_SEED: dict[str, int] = {"organism": 0}


def builtin_suite(name: str, seed: int = 0) -> Suite:
    """A built-in suite by name (without the ``builtin:`` prefix), built from ``seed``.

    ``<name>:<n>`` builds it from seed ``n`` whatever ``seed`` is; ``builtin:organism`` is always
    world 0 (the bundled organisms' world) unless a world is named so.
    """
    name, has_seed, given = name.partition(":")
    if name not in BUILTIN:
        raise UnknownSuite(name)
    if has_seed:
        try:
            seed = int(given)
        except ValueError:
            raise UserError(f"builtin:{name}:{given}: the suite's seed after ':' must be an integer") from None
    elif name in PINNED_SEED:
        seed = PINNED_SEED[name]
    return BUILTIN[name](seed)
