"""A new user's mistakes and a hostile environment, through the command line: each ends with one
``error:`` line naming what is wrong and where (exit status 2), never a traceback, and what was
computed before it stays."""

from __future__ import annotations

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
