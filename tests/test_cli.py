"""The command line end to end, on a tiny real checkpoint built by the test."""

import json
import subprocess
import sys

import pytest

from consistency.cli import main
from consistency.schema import SCHEMA_VERSION
from tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    build_tiny_llama(path)
    return path


def test_validate_reports_every_error_with_file_line_and_field(tmp_path, capsys):
    suite = tmp_path / "bad.jsonl"
    suite.write_text(
        '{"kind": "suite", "name": "x", "format": 1}\n'
        '{"kind": "proposition", "id": "p1", "text": "a", "weak": 2}\n'
        "{broken\n"
        '{"kind": "relation", "id": "r1", "formula": "p1 & p9"}\n'
    )
    assert main(["suite", "validate", str(suite)]) == 2  # a usage error, like every other command
    err = capsys.readouterr().err
    assert f"{suite}:2: weak:" in err and f"{suite}:3: json:" in err and f"{suite}:4: formula:" in err
    assert "3 error(s)" in err


def test_audit_refuses_an_invalid_suite_before_loading_any_model(tmp_path, capsys):
    suite = tmp_path / "bad.jsonl"
    suite.write_text('{"kind": "suite", "name": "x", "format": 1}\n{"kind": "propositoin"}\n')
    assert main(["audit", str(tmp_path / "no-such-model"), "--suite", str(suite), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: invalid suite:") and ":2: kind:" in err[-1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit", "/no/such/model", "--suite", "builtin:arithmetic"], "/no/such/model"),
        (["audit", "--suite", "builtin:nope"], "unknown built-in suite 'builtin:nope'"),
        (["audit", "--checks", "cross-examination,telepathy"], "unknown check 'telepathy'"),
        (["audit", "--batch-size", "0"], "--batch-size: batch size must be"),
        (["report", "/no/such/run"], "no such file"),
    ],
)
def test_user_mistakes_give_one_error_line(tmp_path, capsys, argv, message):
    assert main(argv + (["--out", str(tmp_path / "r")] if argv[0] == "audit" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_audit_a_checkpoint_end_to_end(tiny_model, tmp_path, capsys):
    out = tmp_path / "run"
    code = main([
        "audit", str(tiny_model), "--suite", "builtin:comparisons", "--limit", "6",
        "--checks", "cross-examination,logic", "--out", str(out), "--quiet", "--no-report",
    ])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == SCHEMA_VERSION
    assert results["config"]["checks"] == ["cross-examination", "logic"]
    assert results["model"]["fingerprint"] and results["versions"]["torch"]
    for name in ("cross-examination", "logic"):
        check = results["checks"][name]
        assert all(isinstance(v, (int, float)) or v is None for v in check["metrics"].values())
        for conflict in check["conflicts"]:
            assert conflict["claims"] and 0 <= conflict["severity"] <= 1 and conflict["certificate"]["summary"]
    assert {"graph", "retraction_set", "bar"} <= set(results)
    assert capsys.readouterr().out == ""  # --quiet


def test_recorded_answers_skip_the_hidden_state_checks(tmp_path):
    from consistency.generators import builtin_suite

    suite = builtin_suite("comparisons").limited(2)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(
        json.dumps({"proposition": pid, "credence": 0.9 if p.truth else 0.1}) + "\n"
        for pid, p in suite.propositions.items()
    ))
    out = tmp_path / "run"
    assert main(["audit", "--answers", str(answers), "--suite", "builtin:comparisons", "--limit", "2",
                 "--out", str(out), "--quiet", "--no-report"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["adapter"] == "answers"
    assert results["checks"]["logic"]["metrics"]["unsat_components"] == 0
    for name in ("probe", "w2s-copies"):
        if name in results["checks"]:
            assert "hidden states" in results["checks"][name]["skipped"]


def test_the_console_script_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "consistency.cli", "checks"], capture_output=True, text=True)
    assert proc.returncode == 0 and "cross-examination" in proc.stdout.split()


def test_a_reference_context_is_asked_with_the_elicitation_settings(tiny_model, tmp_path):
    out = tmp_path / "run"
    assert main(["audit", str(tiny_model), "--suite", "builtin:comparisons", "--limit", "6", "--checks",
                 "cross-examination", "--reference-template", "Honestly, {statement} Answer:", "--device", "cpu",
                 "--out", str(out), "--quiet", "--no-report", "--no-ladder"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["verdict"]["reference"] == f"{tiny_model} under 'Honestly, {{statement}} Answer:'"


@pytest.mark.parametrize("weak", ["model", "noise"])
def test_weak_labels_from_a_weaker_model_or_simulated_noise(tiny_model, tmp_path, weak):
    out = tmp_path / "run"
    extra = ["--weak-model", str(tiny_model)] if weak == "model" else ["--weak-noise", "0.2"]
    assert main(["audit", str(tiny_model), "--suite", "builtin:comparisons", "--limit", "8", "--checks", "w2s-copies",
                 "--out", str(out), "--quiet", "--no-report", "--no-ladder", *extra]) == 0
    details = json.loads((out / "results.json").read_text())["checks"]["w2s-copies"]["details"]
    assert details["weak_source"] == ("answers" if weak == "model" else "noise")
