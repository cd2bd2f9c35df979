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
- ``--consistency-baseline FILE`` (ini ``consistency_baseline``, ``CONSISTENCY_BASELINE``)
  names a baseline of accepted inconsistencies: ``consistency_pool`` never draws or counts
  them. ``--consistency-write-baseline FILE`` instead records, while the tests run, every
  structure that fails on its own under their checks and limits, and writes the file at the
  end (the tests pass unless something fails beyond single structures).
- The ``consistency_audit`` marker tags tests that audit a model (``-m consistency_audit``);
  they are skipped, with the reason, when no model is configured.

Every pytest run in an environment with this package loads this module, so it imports
nothing heavy: torch, hypothesis and the checks load only when a test uses them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from consistency.testing.pool import ClaimPool

MARKER = "consistency_audit"
# Each setting is an option (--consistency-model), an ini name (consistency_model) and an
# environment variable (CONSISTENCY_MODEL); these have a default.
DEFAULTS = {"consistency_suite": "numbers"}
RECORDING: pytest.StashKey = pytest.StashKey()  # the pool a baseline is being recorded from
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
    group.addoption(
        "--consistency-baseline",
        dest="consistency_baseline",
        metavar="FILE",
        help="baseline of accepted inconsistencies the tests skip (default: ini consistency_baseline, "
        "then $CONSISTENCY_BASELINE)",
    )
    group.addoption(
        "--consistency-write-baseline",
        dest="consistency_write_baseline",
        metavar="FILE",
        help="record every structure the model is inconsistent on, under the tests' checks and limits, "
        "in FILE (replaces it), instead of failing on them",
    )
    parser.addini("consistency_model", help="model the consistency_model fixture audits (relative to this file)")
    parser.addini("consistency_suite", help="claims the consistency_pool fixture draws from (relative to this file)")
    parser.addini("consistency_baseline", help="baseline of accepted inconsistencies (relative to this file)")


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


def claims_setting(config: pytest.Config) -> tuple[str, Path]:
    """The claims setting and its directory; it always has a value (at worst its default)."""
    found = setting(config, "consistency_suite")
    assert found is not None, "consistency_suite has a default"
    return found


def pytest_report_header(config: pytest.Config) -> str | None:
    model = setting(config, "consistency_model")
    if model is None:
        return None
    header = f"consistency model: {model[0]}; claims: {claims_setting(config)[0]}"
    baseline = setting(config, "consistency_baseline")
    if config.getoption("consistency_write_baseline"):
        return f"{header}; writing baseline {config.getoption('consistency_write_baseline')}"
    return f"{header}; baseline: {baseline[0]}" if baseline else header


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
    """The configured :class:`consistency.testing.ClaimPool` (built once per session), with the
    baseline's structures accepted, or recording them when a baseline is being written."""
    from consistency.errors import UserError
    from consistency.testing.pool import ClaimPool

    spec, base = claims_setting(pytestconfig)
    try:
        pool = ClaimPool.load(spec, base)
    except UserError as exc:
        problem = f"consistency suite {spec!r}: {exc}"
    else:
        baseline_problem = _use_baseline(pytestconfig, pool)
        if baseline_problem is None:
            return pool
        problem = baseline_problem
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback


def _use_baseline(config: pytest.Config, pool: "ClaimPool") -> str | None:
    """Record a baseline into ``pool``, or accept the configured one; what is wrong, if anything."""
    from consistency.errors import UserError
    from consistency.testing.baseline import read_baseline

    if config.getoption("consistency_write_baseline"):
        pool.recording = True  # from scratch: the baseline being replaced is not read
        config.stash[RECORDING] = pool
        return None
    baseline = setting(config, "consistency_baseline")
    if baseline is None:
        return None
    try:
        pool.accept(read_baseline(baseline[1] / baseline[0]))
    except UserError as exc:
        return str(exc)
    except ValueError as exc:  # keys the pool lacks: a baseline of other claims
        return f"consistency baseline {baseline[0]!r}: {exc}"
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Write the baseline recorded in this session (``--consistency-write-baseline``)."""
    target = config.getoption("consistency_write_baseline")
    if not target:
        return
    pool = config.stash.get(RECORDING, None)
    if pool is None or not pool.sweeps:
        terminalreporter.write_line(f"consistency baseline: not written to {target}: no test judged claims from consistency_pool")
        return
    from consistency.testing.baseline import write_baseline

    model = setting(config, "consistency_model")
    write_baseline(Path(target), pool, pool.accepted, model[0] if model else "", claims_setting(config)[0])
    terminalreporter.write_line(f"consistency baseline: wrote {len(pool.accepted)} inconsistent structure(s) of {len(pool)} to {target}")
