"""Outputs are written whole or not at all (issue 12)."""

import json

import pytest

from consistency.cli import main
from consistency.files import OutputError, write_json_atomic, write_text_atomic


def test_export_of_unwritable_text_leaves_the_target_untouched(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    assert main(["suite", "export", "builtin:arithmetic", "--out", str(good)]) == 0
    before = good.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"kind": "suite", "name": "x", "format": 1}\n'
        '{"kind": "proposition", "id": "p1", "text": "fine"}\n'
        '{"kind": "proposition", "id": "p2", "text": "also fine"}\n'
        '{"kind": "proposition", "id": "p3", "text": "broken \\ud800 text"}\n'
    )
    capsys.readouterr()
    assert main(["suite", "export", str(bad), "--out", str(good)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the lone surrogate is refused when the suite is validated, before any output is opened
    assert len(err) == 1 and err[0].startswith("error:") and f"{bad}:4: text: holds a lone surrogate" in err[0]
    assert good.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_text_that_cannot_be_encoded_is_named_by_line(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(OutputError, match=r"line 2 holds \\ud800"):
        write_text_atomic(target, "ok\nbad \ud800\n")
    assert target.read_text() == "old\n"


def test_json_without_nan_or_surrogates(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(OutputError, match="not JSON compliant"):
        write_json_atomic(target, {"a": float("nan")})
    with pytest.raises(OutputError, match="lone surrogate"):
        write_json_atomic(target, {"a": "\udfff"})
    assert json.loads(target.read_text()) == {"a": 1}


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    from consistency import files

    target = tmp_path / "report.html"
    target.write_text("old")

    def dies(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", dies)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
