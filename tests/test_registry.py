"""The strict check registry: the protocol at registration, clashes, options, entry points.

The example plugin in examples/check-plugin/ is installed with pip into a scratch directory
and run through its entry point, as a user's ``pip install`` would make it available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import checks
from checks import CheckContractError, _Registry
from consistency.cli import main
from consistency.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "check-plugin"


class Good:
    name = "good"
    needs_hidden = False
    local = True

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def queries(self, suite):
        return []

    def run(self, suite, answers, context):
        return checks.CheckResult(self.name)


def variant(**changes):
    return type("Variant", (Good,), changes)


def test_every_built_in_check_keeps_the_contract():
    for name in checks.available():
        factory = checks._registry.entries[name].factory
        assert checks._contract_violation(factory, name) is None
        assert factory().name == name


def test_options_are_the_constructor_keywords():
    assert checks.options("logic") == {"max_cores": 20, "max_worlds": checks.options("logic")["max_worlds"],
                                       "exact_worlds": checks.options("logic")["exact_worlds"]}
    assert "fpr" in checks.options("probe")
    with pytest.raises(UserError, match="check 'probe' has no option 'nope'; its options: method, "):
        checks.get("probe", nope=1)


def test_an_unknown_option_on_the_command_line_is_one_error(tmp_path, capsys):
    assert main(["audit", "--option", "logic.nope=1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: check 'logic' has no option 'nope'; its options: {', '.join(checks.options('logic'))}"]


@pytest.mark.parametrize("broken, message", [
    (variant(name="other"), "has name 'other', not 'good'"),
    (variant(local=None), "lacks the boolean class attribute 'local'"),
    (variant(needs_hidden="no"), "lacks the boolean class attribute 'needs_hidden'"),
    (variant(run=lambda self, suite, answers: None), r"has run\(self, suite, answers\), expected run\(self, suite, answers, context\)"),
    (variant(queries=None), r"lacks the method queries\(suite\)"),
    (variant(__init__=lambda self, margin: None), "has no default for its option 'margin'"),
    (variant(__init__=lambda self, *args: None), r"takes \*args in __init__"),
    (Good(), "not a class"),
])
def test_the_protocol_is_checked_at_registration(broken, message):
    with pytest.raises(CheckContractError, match=message):
        _Registry().add("good", broken, "test")


def test_a_name_registered_twice_is_an_error_naming_both_sources():
    registry = _Registry()
    registry.add("good", Good, "first source")
    registry.add("good", Good, "the same class again")  # idempotent
    with pytest.raises(CheckContractError, match="'good' is registered twice: by first source and by second source"):
        registry.add("good", variant(), "second source")


def _distribution(root: Path, entry_name: str, module: str, body: str) -> None:
    """A minimal installed distribution on ``root``: a module and its entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[consistency.checks]\n{entry_name} = {module}:Plugin\n")


PLUGIN = """
class Plugin:
    name = "{name}"
    needs_hidden = False
    local = True

    def queries(self, suite):
        return []

    def run(self, suite, answers, context):
        raise AssertionError("not run in this test")
"""


@pytest.mark.parametrize("entry_name, check_name, message", [
    ("logic", "logic", r"'logic' is registered twice: by checks.logic.LogicCheck and by entry point 'logic' \(clash_logic:Plugin of clash_logic\)"),
    ("alias", "something-else", r"check 'alias' from entry point 'alias' \(clash_alias:Plugin of clash_alias\) has name 'something-else', not 'alias'"),
])
def test_entry_points_are_held_to_the_contract(tmp_path, monkeypatch, entry_name, check_name, message):
    module = f"clash_{entry_name}"
    _distribution(tmp_path, entry_name, module, PLUGIN.format(name=check_name))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = _Registry()
    with pytest.raises(CheckContractError, match=message):
        registry.load()


def test_a_plugin_that_cannot_be_imported_is_skipped_with_a_warning(tmp_path, monkeypatch):
    _distribution(tmp_path, "broken", "broken_plugin", "raise ImportError('missing dependency')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = _Registry()
    with pytest.warns(UserWarning, match="'broken'.*failed to load and is skipped: missing dependency"):
        registry.load()
    assert "broken" not in registry.entries and "logic" in registry.entries


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )
    return target


def test_the_example_plugin_runs_through_its_entry_point(installed_example, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_example))
    registry = _Registry()
    registry.load()
    assert registry.entries["hedging"].source.startswith("entry point 'hedging' (consistency_hedging:Hedging of ")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_example), str(ROOT)])}

    from consistency.generators import builtin_suite

    suite = builtin_suite("comparisons").limited(4)
    beliefs = {pid: 0.55 if i % 2 else 0.95 for i, pid in enumerate(suite.propositions)}
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"proposition": p, "credence": b}) + "\n" for p, b in beliefs.items()))
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "consistency.cli", "audit", "--answers", str(answers),
                    "--suite", "builtin:comparisons", "--limit", "4", "--checks", "hedging",
                    "--option", "hedging.margin=0.1", "--no-ladder", "--no-report", "--quiet", "--out", str(out)],
                   env=env, check=True, capture_output=True, text=True, timeout=300)
    result = json.loads((out / "results.json").read_text())["checks"]["hedging"]
    audited = [pid for pid in suite.propositions if suite.propositions[pid].split == "test"]
    hedged = sum(beliefs[pid] == 0.55 for pid in audited)
    assert result["metrics"] == {"hedge_rate": hedged / len(audited), "answered": float(len(audited))}
    assert result["claim_scores"] == pytest.approx({pid: 1 - abs(2 * beliefs[pid] - 1) for pid in audited})


def test_builtin_checks_keep_their_order_whatever_imports_them_first():
    """The enabled order is the cumulative order of the bar's subsets: importing one check's
    module early (a bench does) must not move it to the front."""
    code = "import checks.directives, checks.critique, checks; print(','.join(checks.available()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    builtins = ["cross-examination", "logic", "decomposition", "probe", "w2s-copies", "critique", "directives"]
    assert [name for name in out.split(",") if name in builtins] == builtins
