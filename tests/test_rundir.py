"""A run directory holds one run's results: another run is refused unless --overwrite (issue 12)."""

import json

from consistency.cli import main


def audit(out, *extra):
    return main(["audit", "--answers", str(out.parent / "answers.jsonl"), "--suite", "builtin:comparisons", "--limit", "3",
                 "--checks", "logic,cross-examination", "--no-ladder", "--quiet", "--out", str(out), *extra])


def setup(tmp_path):
    from consistency.generators import builtin_suite

    suite = builtin_suite("comparisons").limited(3)
    lines = [json.dumps({"proposition": pid, "credence": 0.7}) for pid in suite.propositions]
    (tmp_path / "answers.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "run"


def test_the_same_run_resumes_into_its_directory(tmp_path):
    out = setup(tmp_path)
    assert audit(out) == 0
    assert audit(out) == 0
    assert json.loads((out / "run.json").read_text())["config"]["seed"] == 0


def test_another_runs_results_are_refused_and_kept(tmp_path, capsys):
    out = setup(tmp_path)
    assert audit(out) == 0
    before = (out / "results.json").read_bytes(), (out / "report.html").read_bytes()
    capsys.readouterr()
    assert audit(out, "--min-severity", "0.2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --out {out} holds another run's results (min_severity 0.1 there, 0.2 now)")
    assert "--overwrite" in err[0]
    assert ((out / "results.json").read_bytes(), (out / "report.html").read_bytes()) == before


def test_an_unfinished_audit_of_another_configuration_is_named_as_such(tmp_path, capsys):
    """An interrupted audit leaves run.json and its cache, no results: the refusal says so, and
    that --overwrite keeps the cache (what a user fears losing)."""
    out = setup(tmp_path)
    assert audit(out) == 0
    (out / "results.json").unlink()
    (out / "report.html").unlink()
    capsys.readouterr()
    assert audit(out, "--min-severity", "0.2") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {out} holds an unfinished audit of another configuration "
                          "(min_severity 0.1 there, 0.2 now); pass --overwrite to replace them (the answer cache is "
                          "kept and reused)")


def test_overwrite_replaces_the_results_and_never_leaves_the_old_report(tmp_path):
    out = setup(tmp_path)
    assert audit(out) == 0
    assert audit(out, "--min-severity", "0.2", "--overwrite", "--no-report") == 0
    assert json.loads((out / "results.json").read_text())["config"]["min_severity"] == 0.2
    assert not (out / "report.html").exists()


def test_no_report_on_the_same_run_removes_the_earlier_report(tmp_path):
    out = setup(tmp_path)
    assert audit(out) == 0 and (out / "report.html").exists()
    assert audit(out, "--no-report") == 0
    assert not (out / "report.html").exists()


def test_a_directory_of_other_files_or_a_file_is_refused_before_any_work(tmp_path, capsys):
    out = setup(tmp_path)
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert audit(out) == 2
    assert "files that are not an audit's (e.g. 'notes.txt')" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert audit(out, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine"  # --overwrite replaces results, never the user's files
    target = tmp_path / "file"
    target.write_text("x")
    assert audit(target) == 2
    assert "is a file" in capsys.readouterr().err
