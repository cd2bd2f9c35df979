"""The pytest plugin (entry point ``pytest11``): the model under test, for property tests.

- ``--consistency-model SPEC`` (or the ``consistency_model`` ini option, or the
  ``CONSISTENCY_MODEL`` environment variable) names the model: a checkpoint directory,
  ``organism:<kind>``, or ``package.module:factory`` returning an adapter.
- The session-scoped ``consistency_model`` fixture gives a :class:`ModelRef` to pass to
  ``assert_consistent``; the model loads once and every answer is cached for the session.
- The ``consistency_audit`` marker tags tests that audit a model (``-m consistency_audit``);
  they are skipped, with the reason, when no model is configured.

Every pytest run in an environment with this package loads this module, so it imports
nothing heavy: torch, hypothesis and the checks load only when a test uses them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

OPTION = "--consistency-model"
INI = "consistency_model"
ENV = "CONSISTENCY_MODEL"
MARKER = "consistency_audit"
NOT_CONFIGURED = f"no model to audit: pass {OPTION} PATH, set {INI} in the pytest ini file, or set {ENV}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("consistency", "consistency properties of a model checkpoint")
    group.addoption(
        OPTION,
        dest="consistency_model",
        metavar="SPEC",
        default=None,
        help="model the consistency_model fixture audits: a checkpoint directory, organism:<kind>, "
        f"or package.module:factory (default: ini {INI}, then ${ENV})",
    )
    parser.addini(INI, help="model the consistency_model fixture audits (relative to the ini file)", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: audits a model checkpoint; skipped when no model is configured ({OPTION})"
    )


def model_spec(config: pytest.Config) -> tuple[str, Path] | None:
    """The configured model and the directory a relative path is taken from, or None."""
    option = config.getoption("consistency_model")
    if option:
        return option, Path.cwd()
    ini = config.getini(INI)
    if ini:
        return ini, config.inipath.parent if config.inipath else config.rootpath
    env = os.environ.get(ENV)
    if env:
        return env, Path.cwd()
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    spec = model_spec(config)
    return f"consistency model: {spec[0]}" if spec else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(MARKER) is not None and model_spec(item.config) is None:
        pytest.skip(NOT_CONFIGURED)


@pytest.fixture(scope="session")
def consistency_model(pytestconfig: pytest.Config):
    """The configured model (a :class:`consistency.testing.ModelRef`), opened on first use."""
    spec = model_spec(pytestconfig)
    if spec is None:
        pytest.skip(NOT_CONFIGURED)
    from consistency.errors import UserError
    from consistency.testing.models import ModelRef

    ref = ModelRef(*spec)
    try:
        ref.validate()  # a wrong path fails here, once, in one line; weights load on first use
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return ref
