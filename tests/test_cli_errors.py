"""A new user's mistakes and a hostile environment, through the command line: each ends with one
``error:`` line naming what is wrong and where (exit status 2), never a traceback, and what was
computed before it stays."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from consistency.cli import main
from tiny_models import build_tiny_llama

FAST = ["--suite", "builtin:facts", "--limit", "4", "--checks", "cross-examination", "--no-ladder", "--quiet",
        "--device", "cpu"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err), err
    assert err and err[-1].startswith("error:"), err
    return err[-1]


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory) -> Path:
    """A checkpoint whose output head is NaN: every logit, so every P(yes), is NaN."""
    import torch
    from transformers import AutoModelForCausalLM

    path = build_tiny_llama(tmp_path_factory.mktemp("nan"))
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    model.save_pretrained(path)
    return path


def test_a_model_answering_nan_stops_before_its_answers_are_cached_or_checked(nan_model, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["audit", str(nan_model), *FAST, "--checks", "cross-examination,logic", "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert f"the model {nan_model} gave P(yes) = nan" in line and "--dtype float32" in line
    # nothing unusable was cached: the same command fails the same way, not on a poisoned cache
    assert not list((out / "cache").rglob("shard-*"))
    assert main(["audit", str(nan_model), *FAST, "--checks", "cross-examination,logic", "--out", str(out)]) == 2
    assert "gave P(yes) = nan" in one_error_line(capsys)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"))


def test_a_chat_template_that_raises_is_one_line_before_the_weights_load(tmp_path, capsys):
    """Templates call raise_exception for conversations they refuse (e.g. 'only system')."""
    model = build_tiny_llama(tmp_path / "model")
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = "{{ raise_exception('Conversation roles must alternate') }}"
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    assert main(["audit", str(model), *FAST, "--out", str(tmp_path / "run")]) == 2
    assert one_error_line(capsys) == (
        f"error: the chat template of {model} fails on a question: Conversation roles must alternate; use --chat off")


@pytest.mark.parametrize("option, message", [
    ("critique.explain=-1", "error: check 'critique': explain must be a number of propositions (0 or more), got -1"),
    ("directives.interpret_template=x", "error: check 'directives': interpret_template must contain '{directive}'"),
    ("probe.fpr=2", "error: check 'probe': fpr must be in (0, 1), got 2.0"),
])
def test_a_check_option_value_its_check_rejects_is_one_line_naming_the_check(tmp_path, capsys, option, message):
    check = option.split(".")[0]
    assert main(["audit", "organism:honest", "--checks", check, "--option", option, "--out", str(tmp_path / "run")]) == 2
    assert one_error_line(capsys).startswith(message)


def test_a_check_named_twice_runs_once(tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("")
    out = tmp_path / "run"
    assert main(["audit", "--answers", str(answers), "--suite", "builtin:comparisons", "--limit", "2", "--checks",
                 "logic,cross-examination,logic", "--out", str(out), "--quiet", "--no-report"]) == 0
    assert json.loads((out / "results.json").read_text())["config"]["checks"] == ["logic", "cross-examination"]


@pytest.mark.parametrize("flag", ["--min-severity", "--ladder-fpr", "--weak-noise"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_number_option_refuses_nan_and_infinity(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_:
        main(["audit", flag, value, "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    assert f"argument {flag}: expected a finite number, got '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize("name, text, message", [
    ("empty.jsonl", '{"kind": "suite", "name": "x", "format": 1}\n', ":1: kind: no proposition and no case records"),
    ("empty.csv", "statement,label\n", ":2: statement: no rows under the header"),
])
def test_a_suite_that_asks_nothing_is_refused(tmp_path, capsys, name, text, message):
    suite = tmp_path / name
    suite.write_text(text)
    assert main(["suite", "validate", str(suite)]) == 2
    assert message in capsys.readouterr().err
    assert main(["audit", "--answers", str(suite), "--suite", str(suite), "--out", str(tmp_path / "run")]) == 2
    assert message in one_error_line(capsys)


def test_an_output_path_that_is_a_directory_is_one_line(tmp_path, capsys):
    assert main(["suite", "export", "builtin:facts", "--out", str(tmp_path)]) == 2
    assert one_error_line(capsys) == f"error: cannot write {tmp_path}: it is a directory; name a file"


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, capsys, monkeypatch):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("")
    out = tmp_path / "run"
    assert main(["audit", "--answers", str(answers), "--suite", "builtin:comparisons", "--limit", "2",
                 "--checks", "logic", "--out", str(out), "--quiet"]) == 0
    report = (out / "report.html").read_text()

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    assert main(["report", str(out)]) == 2
    assert one_error_line(capsys) == (
        f"error: cannot write {out / 'report.html'}: No space left on device; the previous file, if any, is kept")
    assert (out / "report.html").read_text() == report
    assert not list(out.glob(".*.tmp"))


def test_a_full_disk_while_caching_answers_is_one_line(tiny_model, tmp_path, capsys, monkeypatch):
    from safetensors import SafetensorError

    import consistency.cache

    def disk_full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(consistency.cache, "save_file", disk_full)
    assert main(["audit", str(tiny_model), *FAST, "--out", str(tmp_path / "run")]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: cannot write a shard to the answer cache {tmp_path / 'run' / 'cache'}")
    assert line.endswith("No space left on device (os error 28)")
