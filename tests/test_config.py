"""Configuration once: every audit option is one settings field, with a flag and an environment
variable generated from it; the README's table of options is the settings' own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from consistency import cli
from consistency.config import ENV_PREFIX, AuditConfig, LadderSettings, audit_options

# One usable value for every option, as text (None: a switch), and the value it sets. A new
# option fails test_every_option_has_a_working_environment_variable until it is listed here.
SAMPLES: dict[str, tuple[str | None, object]] = {
    "model": ("organism:honest", "organism:honest"),
    "answers": ("recorded.jsonl", "recorded.jsonl"),
    "suite": ("builtin:arithmetic", "builtin:arithmetic"),
    "limit": ("3", 3),
    "seed": ("7", 7),
    "out": ("runs/elsewhere", "runs/elsewhere"),
    "overwrite": (None, True),
    "device": ("cpu", "cpu"),
    "dtype": ("float32", "float32"),
    "batch_size": ("8", 8),
    "device_map": ("auto", "auto"),
    "max_memory": ("0=20GiB,cpu=64GiB", {"0": "20GiB", "cpu": "64GiB"}),
    "load_in": ("8bit", "8bit"),
    "compile": (None, True),
    "backend": ("ray", "ray"),
    "ray_address": ("10.0.0.1:6379", "10.0.0.1:6379"),
    "ray_workers": ("4", 4),
    "layers": ("1,2", [1, 2]),
    "templates": ("Q: {statement}?", ["Q: {statement}?"]),
    "negated_templates": ("Is {statement} false?", ["Is {statement} false?"]),
    "yes_words": ("Yes,Sure", ["Yes", "Sure"]),
    "no_words": ("No,Nope", ["No", "Nope"]),
    "chat": ("off", "off"),
    "shots": ("2", 2),
    "reference": ("organism:honest", "organism:honest"),
    "reference_templates": ("{statement}, says the expert?", ["{statement}, says the expert?"]),
    "reference_yes_words": ("True", ["True"]),
    "reference_no_words": ("False", ["False"]),
    "trust_remote_code": (None, True),
    "cache": (None, False),
    "fit_cache": (None, False),
    "checks": ("logic,probe", ["logic", "probe"]),
    "check_options": ("probe.fpr=0.05", {"probe": {"fpr": 0.05}}),
    "weak_model": ("organism:honest", "organism:honest"),
    "weak_noise": ("0.1", 0.1),
    "min_severity": ("0.2", 0.2),
    "ladder": (None, False),
    "ladder_targets": ("7", 7),
    "ladder_fpr": ("0.05", 0.05),
    "ladder_alpha": ("0.05", 0.05),
    "report": (None, False),
    "quiet": (None, True),
}


# Options that only apply beside another: that one is set (by its variable) in their test.
NEEDS: dict[str, tuple[str, str]] = {
    "ray_address": ("CONSISTENCY_BACKEND", "ray"),
    "ray_workers": ("CONSISTENCY_BACKEND", "ray"),
}


@pytest.fixture
def clean_env(monkeypatch):
    """No CONSISTENCY_* variable from the caller's shell."""
    import os

    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    return monkeypatch


def config_of(argv: list[str]) -> AuditConfig:
    return cli._audit_config(cli.build_parser().parse_args(["audit", *argv]))


def test_every_setting_is_one_option_with_a_flag_and_an_environment_variable():
    options = audit_options()
    assert [o.field for o in options] == list(AuditConfig.model_fields)
    assert len({o.flag for o in options}) == len({o.env for o in options}) == len(options)
    for option in options:
        assert option.env == ENV_PREFIX + option.flag.lstrip("-").replace("-", "_").upper()
    # the audit parser holds exactly the generated options (and --help): none is hand-written
    audit = cli.build_parser()._subparsers._group_actions[0].choices["audit"]  # type: ignore[union-attr]
    assert sorted(a.dest for a in audit._actions if a.dest != "help") == sorted(AuditConfig.model_fields)


@pytest.mark.parametrize("option", audit_options(), ids=lambda o: o.env)
def test_every_option_has_a_working_environment_variable(clean_env, option):
    assert set(SAMPLES) == {o.field for o in audit_options()}, "list a sample value for the new option"
    text, expected = SAMPLES[option.field]
    if option.field in NEEDS:
        clean_env.setenv(*NEEDS[option.field])
    default = getattr(config_of([]), option.field)
    assert default != expected
    clean_env.setenv(option.env, "true" if text is None else text)
    assert getattr(config_of([]), option.field) == expected
    # the flag sets the same value
    clean_env.delenv(option.env)
    flag = [] if text is None else [text]
    argv = flag if option.positional else [option.flag, *flag]
    assert getattr(config_of(argv), option.field) == expected
    if option.switch:  # false, 0 or empty: the switch is not given
        for off in ("false", "0", ""):
            clean_env.setenv(option.env, off)
            assert getattr(config_of([]), option.field) == default


def test_the_settings_left_out_of_a_runs_identity_are_settings():
    from consistency.rundir import NOT_IDENTITY

    assert NOT_IDENTITY <= set(AuditConfig.model_fields)


def test_the_command_line_wins_over_the_environment_which_wins_over_the_default(clean_env):
    clean_env.setenv("CONSISTENCY_SEED", "5")
    clean_env.setenv("CONSISTENCY_LADDER_TARGETS", "9")
    config = config_of(["--seed", "6"])
    assert (config.seed, config.ladder_targets, config.ladder_fpr) == (6, 9, 0.01)


def test_a_repeated_option_takes_one_value_per_line_from_its_variable(clean_env):
    clean_env.setenv("CONSISTENCY_TEMPLATE", "A {statement}, b?\nC {statement}?\n")
    clean_env.setenv("CONSISTENCY_OPTION", "probe.fpr=0.05\nlogic.max_cores=3")
    config = config_of([])
    assert config.templates == ["A {statement}, b?", "C {statement}?"]
    assert config.check_options == {"probe": {"fpr": 0.05}, "logic": {"max_cores": 3}}
    assert config_of(["--option", "probe.fpr=0.2"]).check_options == {"probe": {"fpr": 0.2}}


def refused(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not any("Traceback" in line for line in err), err
    return err[0]


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CONSISTENCY_SEED", "abc", "error: CONSISTENCY_SEED: expected an integer, got 'abc'"),
        ("CONSISTENCY_LADDER_FPR", "x", "error: CONSISTENCY_LADDER_FPR: expected a number, got 'x'"),
        ("CONSISTENCY_LADDER_FPR", "2", "error: CONSISTENCY_LADDER_FPR: Input should be less than 1"),
        ("CONSISTENCY_BATCH_SIZE", "0", "error: CONSISTENCY_BATCH_SIZE: batch size must be 'auto' or a positive integer, got '0'"),
        ("CONSISTENCY_DEVICE", "gpu", "error: CONSISTENCY_DEVICE: expected one of auto, cpu, cuda, got 'gpu'"),
        ("CONSISTENCY_NO_LADDER", "maybe", "error: CONSISTENCY_NO_LADDER: expected true or false, got 'maybe'"),
        ("CONSISTENCY_TEMPLATE", "no placeholder", "error: CONSISTENCY_TEMPLATE: template 'no placeholder' must contain"),
        ("CONSISTENCY_OPTION", "probe", "error: CONSISTENCY_OPTION: expected CHECK.KEY=VALUE, got 'probe'"),
    ],
)
def test_a_bad_environment_variable_is_one_error_naming_it(clean_env, capsys, tmp_path, name, value, message):
    clean_env.setenv(name, value)
    assert refused(capsys, ["audit", "--out", str(tmp_path / "run")]).startswith(message)
    assert cli.main(["checks"]) == 0  # other commands do not read the audit's settings


def test_a_bad_flag_value_is_named_by_its_flag(clean_env, capsys, tmp_path):
    assert refused(capsys, ["audit", "--ladder-fpr", "2", "--out", str(tmp_path / "run")]) == (
        "error: --ladder-fpr: Input should be less than 1")


def test_a_check_option_from_the_environment_is_checked_against_the_checks_options(clean_env, capsys, tmp_path):
    clean_env.setenv("CONSISTENCY_OPTION", "logic.nonsense=1")
    assert "check 'logic' has no option 'nonsense'" in refused(
        capsys, ["audit", "--checks", "logic", "--out", str(tmp_path / "run")])


def test_help_states_each_options_default_and_variable():
    audit = cli.build_parser()._subparsers._group_actions[0].choices["audit"]  # type: ignore[union-attr]
    text = " ".join(audit.format_help().split())
    for option in audit_options():
        assert option.env in text
    assert "(default: 200; env CONSISTENCY_LADDER_TARGETS)" in text


def test_a_stage_gets_its_own_settings_and_the_ladder_runs_with_them(clean_env, tmp_path):
    from consistency.generators import builtin_suite

    suite = builtin_suite("comparisons").limited(6)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"proposition": pid, "credence": 0.8}) + "\n" for pid in suite.propositions))
    out = tmp_path / "run"
    clean_env.setenv("CONSISTENCY_LADDER_ALPHA", "0.2")
    assert cli.main(["audit", "--answers", str(answers), "--suite", "builtin:comparisons", "--limit", "6",
                     "--checks", "cross-examination", "--ladder-targets", "3", "--quiet", "--no-report",
                     "--out", str(out)]) == 0
    config = AuditConfig.model_validate(json.loads((out / "results.json").read_text())["config"])
    assert config.stage(LadderSettings) == LadderSettings(ladder_targets=3, ladder_alpha=0.2)
    bar = json.loads((out / "results.json").read_text())["bar"]
    assert bar["alpha"] == 0.2 and bar["targets"] <= 3


def readme_table() -> str:
    rows = ["| option | environment variable | default | what it sets |", "|---|---|---|---|"]
    for option in audit_options():
        default = "" if option.switch or option.default in (None, [], {}) else f"`{cli._shown(option.default)}`"
        rows.append(f"| `{option.flag}` | `{option.env}` | {default} | {option.help.replace('|', '&#124;')} |")
    return "\n".join(rows)


def test_the_readmes_table_of_options_is_the_settings():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = re.search(r"^\| option \| environment variable .*?(?=\n\n)", readme, re.S | re.M)
    assert table is not None and table.group(0) == readme_table(), "README's options table, regenerated:\n" + readme_table()


def test_the_suite_option_names_every_built_in_suite():
    from consistency.config import RunSettings
    from consistency.generators import BUILTIN

    help_text = RunSettings.model_fields["suite"].description or ""
    assert all(f"{name}" in help_text for name in BUILTIN), help_text
