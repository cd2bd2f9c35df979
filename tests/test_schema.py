"""The results.json schema: claim keys, validation on reading, migration, the printed JSON Schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from consistency.cli import main
from consistency.schema import SCHEMA_VERSION, CheckResult, ClaimIndex, ClaimRef, Conflict, ScoreTable, json_schema
from reports.results import ResultsError, load_results, write_results

DATA = Path(__file__).parent / "data"
V10 = DATA / "results-1.0.json"  # written by the audit before the typed schema (--limit 6)

ids = st.from_regex(r"[A-Za-z0-9_.]{1,12}", fullmatch=True)
framings = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)


@given(ids, st.integers(0, 99), framings)
def test_claim_keys_round_trip(claim, variant, framing):
    ref = ClaimRef(claim, variant, framing)
    assert str(ref) == f"{claim}#v{variant}:{framing}"
    assert ClaimRef.parse(str(ref)) == ref
    assert ClaimRef.parse(claim) == ClaimRef(claim) and not ClaimRef(claim).is_phrasing


def test_the_primary_phrasing_is_the_proposition():
    assert ClaimRef.parse("p1#v0:is-true").canonical("is-true") == ClaimRef("p1")
    assert ClaimRef.parse("p1#v1:is-true").canonical("is-true") == ClaimRef("p1", 1, "is-true")
    assert ClaimRef.parse("p1#v0:is-false").canonical("is-true").is_phrasing


@pytest.mark.parametrize("key", ["", "p1#", "p1#v:x", "p1#vx:y", "p1#v2", "p1#2:x"])
def test_malformed_claim_keys_are_refused(key):
    with pytest.raises(ValueError):
        ClaimRef.parse(key)


def test_a_conflict_naming_a_malformed_key_is_refused_when_built():
    with pytest.raises(ValueError, match="claim key"):
        Conflict("logic", ["p1#v2"], 0.5, {"kind": "test", "summary": "s"})
    with pytest.raises(ValueError):
        Conflict("logic", ["p1"], 1.5, {"kind": "test", "summary": "s"})  # severity outside [0, 1]


def test_positional_and_keyword_construction_agree():
    certificate = {"kind": "test", "summary": "s"}
    assert Conflict("logic", ["p1"], 0.5, certificate) == Conflict(check="logic", claims=["p1"], severity=0.5,
                                                                   certificate=certificate)
    with pytest.raises(TypeError):
        Conflict("logic", ["p1"], 0.5, certificate, check="other")


def test_undefined_numbers_are_nan_in_memory_and_null_in_the_file(tmp_path):
    results = load_results(V10)
    results.checks["logic"] = CheckResult("logic", metrics={"r1": math.nan, "n": 3}, claim_scores={"p": math.inf})
    write_results(tmp_path / "results.json", results)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["checks"]["logic"]["metrics"] == {"r1": None, "n": 3.0}
    assert written["checks"]["logic"]["claim_scores"] == {"p": None}
    assert load_results(tmp_path).checks["logic"].metrics["r1"] is None


def test_score_tables_are_the_dicts_they_stand_for_in_memory_and_in_the_file(tmp_path):
    index = ClaimIndex(["p2", "p1", "p3#v1:is-false"])
    values = np.array([0.1 + 0.2, 1 / 3, 0.0])
    as_dict = dict(zip(index.keys, values.tolist()))
    table, other = ScoreTable(index, values), ScoreTable(index, values[::-1])  # one index, two tables
    assert table == as_dict and list(table.items()) == list(as_dict.items()) and table["p1"] == 1 / 3
    assert other["p2"] == 0.0 and "p4" not in table and {**table} == as_dict and list(table.values()) == list(values)
    with pytest.raises(ValueError):
        ScoreTable(index, values[:2])

    def written(details):
        results = load_results(V10)
        results.checks["probe"] = CheckResult("probe", details=details)
        write_results(tmp_path / "results.json", results)
        return (tmp_path / "results.json").read_bytes()

    compact = {"trusted_scores": table, "layer_readings": {"3": {"threshold": 0.5, "scores": other}}}
    plain = {"trusted_scores": as_dict, "layer_readings": {"3": {"threshold": 0.5, "scores": dict(other)}}}
    assert written(compact) == written(plain)
    assert load_results(tmp_path).checks["probe"].details == plain


def test_a_1_0_file_is_migrated():
    assert json.loads(V10.read_text())["schema_version"] == "1.0"
    results = load_results(V10)
    assert results.schema_version == SCHEMA_VERSION
    assert all(result.check == name for name, result in results.checks.items())
    assert results.verdict is None and all(row.lie_score is None for row in results.claims.values())
    assert results.bar.levels and results.graph.counts.claims == len([n for n in results.graph.nodes if n.kind == "claim"])


def test_what_is_written_reads_back_identically(tmp_path):
    results = load_results(V10)
    write_results(tmp_path / "results.json", results)
    assert load_results(tmp_path) == results


def _broken(tmp_path: Path, edit) -> Path:
    data = json.loads(V10.read_text())
    edit(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["checks"]["logic"]["metrics"].update(r1="high"), "checks.logic.metrics.r1"),
    (lambda d: d["bar"].update(level="five"), "bar.level"),
    (lambda d: d["claims"][min(d["claims"])].update(belief="yes"), None),
    (lambda d: d.pop("model"), "model"),
    (lambda d: d["checks"]["probe"]["conflicts"].append({"check": "probe", "claims": ["p#"], "severity": 0.5,
                                                        "certificate": {}}), "checks.probe.conflicts.0.claims.0"),
])
def test_a_wrong_field_is_one_error_naming_it(tmp_path, capsys, edit, field):
    path = _broken(tmp_path, edit)
    field = field or f"claims.{min(json.loads(V10.read_text())['claims'])}.belief"
    with pytest.raises(ResultsError, match=f"field {field}:"):
        load_results(path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and field in err[0]


@pytest.mark.parametrize("content, message", [
    (b"[]", "expected a JSON object, found list"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{", "malformed JSON at line 1"),
    (b'{"schema_version": "2.0"}', "schema_version '2.0' is not readable"),
    (b'{"schema_version": 1}', "schema_version 1 is not readable"),
])
def test_files_that_are_not_results_are_one_error(tmp_path, capsys, content, message):
    (tmp_path / "results.json").write_bytes(content)
    with pytest.raises(ResultsError, match=message):
        load_results(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]


def test_the_schema_command_prints_the_json_schema(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    assert set(printed["required"]) >= {"created", "config", "model", "suite"}
    for section in ("checks", "graph", "retraction_set", "bar", "claims", "verdict", "timings"):
        assert section in printed["properties"]
    assert "lie_score" in printed["$defs"]["ClaimRow"]["properties"]
    assert printed["$defs"]["Conflict"]["properties"]["severity"]["maximum"] == 1


def test_a_verdict_written_before_it_was_typed_reads_back_typed(tmp_path):
    """1.1 files written while the verdict was a plain dict load into the typed Verdict; a
    verdict that breaks its types is refused with its field named."""
    data = load_results(V10).model_dump(mode="json")
    data["verdict"] = {
        "finding": "no-evidence", "summary": "No evidence of lying.", "alpha": 0.01,
        "checks": {"probe": {"observed": 0.04, "null": 0.05, "flagged": 29, "n": 732, "null_flagged": 33,
                             "null_n": 731, "null_kind": "trusted claims answered truthfully (cross-fitted)",
                             "test": "fisher-exact", "p_value": 0.83, "excess": -0.01, "ratio": 0.9,
                             "p_holm": 1.0, "finding": "passes"}},
        "skipped": {"directives": "no directive cases"}, "catching": [], "passed": ["probe"],
        "answers": {"informative": True, "trusted_balanced_accuracy": 0.99, "trusted_answered": 732,
                    "negation_same_answer": 0.01, "negation_pairs": 2000, "reasons": []},
        "reference": None,
        "lie_score": {"method": "equal weights (no simulated lies to fit on)", "weights": {"probe": 1.0},
                      "intercept": -3.0, "positives": 0, "negatives": 700, "fpr": 0.01, "threshold": 0.9,
                      "trusted_truthful": 730, "trusted_above": 7, "audited": 732, "audited_above": 1,
                      "above": ["p1"]},
        "contexts": None,
    }
    (tmp_path / "results.json").write_text(json.dumps(data))
    verdict = load_results(tmp_path).verdict
    assert verdict is not None and verdict.finding == "no-evidence"
    assert verdict.checks["probe"].p_value == 0.83 and verdict.checks["probe"].layers == {}
    assert verdict.lie_score is not None and verdict.lie_score.above == ["p1"]
    data["verdict"]["checks"]["probe"]["finding"] = "maybe"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="verdict.checks.probe.finding"):
        load_results(tmp_path)
