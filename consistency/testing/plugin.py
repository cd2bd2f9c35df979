"""The pytest plugin (entry point ``pytest11``): the model under test and the claims to ask.

- ``--consistency-model SPEC`` (or the ``consistency_model`` ini option, or the
  ``CONSISTENCY_MODEL`` environment variable) names the model: a checkpoint directory,
  ``organism:<kind>``, or ``package.module:factory`` returning an adapter. The
  session-scoped ``consistency_model`` fixture gives a :class:`ModelRef` to pass to
  ``assert_consistent``: the model loads once, and every answer is cached for the session.
- ``--consistency-suite SPEC`` (ini ``consistency_suite``, ``CONSISTENCY_SUITE``) names the
  claims: ``numbers`` (the default), ``builtin:<suite>`` or a suite file. The session-scoped
  ``consistency_pool`` fixture is that :class:`ClaimPool`, to draw from with
  ``data.draw(claims(consistency_pool))``.
- The ``consistency_audit`` marker tags tests that audit a model (``-m consistency_audit``);
  they are skipped, with the reason, when no model is configured.

Every pytest run in an environment with this package loads this module, so it imports
nothing heavy: torch, hypothesis and the checks load only when a test uses them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MARKER = "consistency_audit"
# Each setting is an option (--consistency-model), an ini name (consistency_model) and an
# environment variable (CONSISTENCY_MODEL); these have a default.
DEFAULTS = {"consistency_suite": "numbers"}
NOT_CONFIGURED = (
    "no model to audit: pass --consistency-model SPEC, set consistency_model in the pytest ini file, "
    "or set CONSISTENCY_MODEL"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("consistency", "consistency properties of a model checkpoint")
    group.addoption(
        "--consistency-model",
        dest="consistency_model",
        metavar="SPEC",
        help="model the consistency_model fixture audits: a checkpoint directory, organism:<kind>, "
        "or package.module:factory (default: ini consistency_model, then $CONSISTENCY_MODEL)",
    )
    group.addoption(
        "--consistency-suite",
        dest="consistency_suite",
        metavar="SPEC",
        help="claims the consistency_pool fixture draws from: numbers, builtin:<suite>, or a suite "
        "file (default: ini consistency_suite, then $CONSISTENCY_SUITE, then numbers)",
    )
    parser.addini("consistency_model", help="model the consistency_model fixture audits (relative to this file)")
    parser.addini("consistency_suite", help="claims the consistency_pool fixture draws from (relative to this file)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: audits a model; skipped when no model is configured (--consistency-model)"
    )


def setting(config: pytest.Config, name: str) -> tuple[str, Path] | None:
    """A setting's value and the directory a relative path in it is taken from: the command
    line first, then the ini file, then the environment, then the default (or None)."""
    value = config.getoption(name)
    if value:
        return value, Path.cwd()
    value = config.getini(name)
    if value:
        return value, config.inipath.parent if config.inipath else config.rootpath
    value = os.environ.get(name.upper())
    if value:
        return value, Path.cwd()
    return (DEFAULTS[name], Path.cwd()) if name in DEFAULTS else None


def pytest_report_header(config: pytest.Config) -> str | None:
    model = setting(config, "consistency_model")
    if model is None:
        return None
    return f"consistency model: {model[0]}; claims: {setting(config, 'consistency_suite')[0]}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(MARKER) is not None and setting(item.config, "consistency_model") is None:
        pytest.skip(NOT_CONFIGURED)


@pytest.fixture(scope="session")
def consistency_model(pytestconfig: pytest.Config):
    """The configured model (a :class:`consistency.testing.ModelRef`); weights load on first use."""
    found = setting(pytestconfig, "consistency_model")
    if found is None:
        pytest.skip(NOT_CONFIGURED)
    from consistency.errors import UserError
    from consistency.testing.models import ModelRef

    ref = ModelRef(*found)
    try:
        ref.validate()  # a wrong path fails here, once, in one line
    except UserError as exc:
        problem = str(exc)
    else:
        return ref
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback


@pytest.fixture(scope="session")
def consistency_pool(pytestconfig: pytest.Config):
    """The configured :class:`consistency.testing.ClaimPool` (built once per session)."""
    from consistency.errors import UserError
    from consistency.testing.pool import ClaimPool

    spec, base = setting(pytestconfig, "consistency_suite")
    try:
        return ClaimPool.load(spec, base)
    except UserError as exc:
        problem = f"consistency suite {spec!r}: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback
