"""No traceback on any bad input: fuzz tests over every input kind, and one regression test per
crash class that was found (each a clean exit 2 with an ``error:`` line naming file, line, field).

The fuzz tests run in-process (tests/fuzz_inputs.py); bench/fuzz_count.py counts crashes per kind.
"""

from __future__ import annotations

import json
import time

import fuzz_inputs as fz
import pytest
from hypothesis import HealthCheck, given, settings

from consistency import formula as fm
from consistency.adapters.recorded import load_recorded_answers
from consistency.cli import main
from consistency.errors import UserError
from consistency.suite import load_csv, load_jsonl


def fuzz(examples: int) -> settings:
    # derandomized: a fixed 1,150 inputs, so the fast suite cannot turn red on an unrelated commit;
    # bench/fuzz_count.py --seed N explores further
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def clean(runner, *args) -> None:
    """Run; a ``UserError`` is a clean refusal, anything else fails the test."""
    try:
        runner(*args)
    except UserError:
        pass


# ----- fuzz (1,150 examples) -----------------------------------------------------------


@fuzz(250)
@given(fz.suite_files)
def test_fuzzed_suites_load_or_fail_cleanly(content):
    clean(fz.run_suite_file, content)


@fuzz(200)
@given(fz.formula_texts)
def test_fuzzed_formulas_parse_or_fail_cleanly(text):
    clean(fz.run_formula, text)


@fuzz(150)
@given(fz.csv_files())
def test_fuzzed_csvs_load_or_fail_cleanly(content):
    clean(fz.run_csv_file, content)


@fuzz(250)
@given(fz.answer_files)
def test_fuzzed_answers_files_load_or_fail_cleanly(content):
    clean(fz.run_answers_file, content)


@fuzz(200)
@given(fz.option_sets())
def test_fuzzed_options_exit_0_or_2_with_an_error_line(options):
    status, stderr = fz.run_options(*options)
    assert fz.clean_exit(status, stderr), (status, stderr)


@fuzz(100)
@given(fz.results_files(__import__("test_report").results_fixture(4)))
def test_fuzzed_results_json_renders_or_fails_cleanly(content):
    clean(fz.run_results_file, content)


# ----- regression: one per crash class -------------------------------------------------

HEADER = {"kind": "suite", "name": "t", "format": 1}
P1 = {"kind": "proposition", "id": "p1", "text": "one", "truth": True}
P2 = {"kind": "proposition", "id": "p2", "text": "two", "truth": False}


def write_lines(path, lines: list) -> str:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


def refused(capsys, argv: list[str]) -> str:
    """Run the CLI; assert exit 2 and a last line saying ``error:``; return stderr."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's usage errors: "consistency audit: error: ..."
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and "error: " in err.strip().splitlines()[-1] and "Traceback" not in err, err
    return err


def relation(formula: str) -> dict:
    return {"kind": "relation", "id": "r1", "formula": formula}


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"kind": ["suite"]}, ":3: kind: unknown kind"),
        ('{"kind": "proposition", "id": "p2", "text": "two", "difficulty": ' + fz.HUGE_INT + "}", ":3: json: unreadable JSON value"),
        ('{"kind": "proposition", "x": ' + "[" * 1000 + "]" * 1000 + "}", ":3: json: JSON nested too deeply"),
        (relation("(" * 200 + "p1" + ")" * 200), ":3: formula: parentheses nested deeper"),
        (relation("!" * 1000 + "p1"), ":3: formula: formula nests deeper"),
        (relation(" -> ".join(["p1"] * 1000)), ":3: formula: formula nests deeper"),
        (relation(" <-> ".join(["p1"] * 1000)), ":3: formula: formula nests deeper"),
        ({**P2, "text": "two \ud800"}, ":3: text: holds a lone surrogate"),
        ({**P2, "id": "p2\n"}, ":3: id: 'p2\\n' is not an id"),
    ],
)
def test_bad_suite_records_are_one_clean_error(tmp_path, capsys, record, expected):
    if isinstance(record, dict) and "\ud800" in record.get("text", ""):
        line = json.dumps(record)  # ensure_ascii: the file is valid UTF-8 holding "\ud800" as an escape
    else:
        line = record
    path = write_lines(tmp_path / "s.jsonl", [HEADER, P1, line])
    err = refused(capsys, ["suite", "validate", path])
    assert expected in err


@pytest.mark.parametrize(
    "header_field, expected",
    [
        ({"condition_template": "{given} {x}"}, "condition_template:"),
        ({"condition_template": "{given}}"}, "condition_template:"),
        ({"metadata": [1, 2]}, "metadata: must be a JSON object"),
        ({"format": True}, "format: unsupported suite format True"),
        ({"framings": [{"name": "a", "template": "{statement}?", "negated": "false"}]}, "framings[0].negated: must be true or false"),
    ],
)
def test_bad_suite_headers_are_rejected(tmp_path, capsys, header_field, expected):
    path = write_lines(tmp_path / "s.jsonl", [{**HEADER, **header_field}, P1])
    assert f":1: {expected}" in refused(capsys, ["suite", "validate", path])


def test_header_options_given_as_null_take_their_defaults(tmp_path):
    nulls = {"framings": None, "condition_template": None, "answer_words": None, "metadata": None}
    suite = load_jsonl(write_lines(tmp_path / "s.jsonl", [{**HEADER, **nulls}, P1, P2, {"kind": "conditional", "id": "c1", "given": "p1", "then": "p2"}]))
    assert suite.conditional_query(suite.conditionals[0]).prompt.startswith("Suppose that one. ")
    assert suite.answer_words["yes"] == ["Yes", "yes"] and suite.metadata == {}


def test_metadata_list_with_limit_is_a_clean_error(tmp_path, capsys):
    suite = write_lines(tmp_path / "s.jsonl", [{**HEADER, "metadata": [1, 2]}, P1])
    answers = write_lines(tmp_path / "a.jsonl", [{"proposition": "p1", "credence": 0.9}])
    err = refused(capsys, ["audit", "--answers", answers, "--suite", suite, "--limit", "1", "--out", str(tmp_path / "run")])
    assert "metadata" in err


@pytest.mark.parametrize("path, message", [("", "'':0: file: the path is empty"), ("{dir}", "file: is a directory")])
def test_a_directory_or_empty_path_as_suite(tmp_path, capsys, path, message):
    err = refused(capsys, ["suite", "validate", path.replace("{dir}", str(tmp_path))])
    assert message in err and "error: :" not in err


def test_a_deep_formula_chain_is_refused_before_any_walk_recurses():
    with pytest.raises(fm.FormulaError, match="nests deeper than"):
        fm.parse(" -> ".join(f"p{i}" for i in range(fm.MAX_DEPTH + 1)))
    with pytest.raises(fm.FormulaError, match="nests deeper than"):
        fm.parse("!" * (fm.MAX_DEPTH + 1) + "a")
    fm.parse(" -> ".join(f"p{i}" for i in range(fm.MAX_DEPTH - 1)))  # just under the limit parses
    assert fm.parse("!!!a") == fm.Not(fm.Not(fm.Not(fm.Var("a"))))
    assert fm.parse("a -> b -> c") == fm.BinOp("->", fm.Var("a"), fm.BinOp("->", fm.Var("b"), fm.Var("c")))


@pytest.mark.parametrize("op", ["|", "&"])
def test_a_chain_of_a_thousand_and_or_parses_shallow(op):
    """'&' and '|' chains are associative: 1,000 operands parse into a tree under 40 levels deep."""
    tree = fm.parse(f" {op} ".join(f"p{i}" for i in range(1000)))
    assert fm.depth(tree) <= fm.LEFT_DEEP_OPERANDS + 10
    assert fm.variables(tree) == {f"p{i}" for i in range(1000)}
    assert fm.parse(fm.to_string(tree)) == tree
    only_p7 = {f"p{i}": i == 7 for i in range(1000)}
    assert fm.evaluate(tree, only_p7) is (op == "|")


def test_exactly_one_recognition_is_linear_on_a_long_disjunction():
    """A chain of n '|' was expanded into n^2/2 pairs on every call (~1 s at 400 terms)."""
    tree = fm.parse(" | ".join(f"p{i}" for i in range(900)))
    start = time.perf_counter()
    for _ in range(20):
        assert fm.exactly_one_of(tree) is None
    assert time.perf_counter() - start < 0.5
    assert fm.exactly_one_of(fm.parse(fm.exactly_one("a", "b", "c"))) == ["a", "b", "c"]


# ----- CSV ---------------------------------------------------------------------------------


def test_csv_missing_non_utf8_and_oversized_field(tmp_path, capsys):
    assert "no such file" in refused(capsys, ["suite", "validate", str(tmp_path / "missing.csv")])
    (tmp_path / "latin.csv").write_bytes("statement,label\ncaf\xe9 is open,1\n".encode("latin-1"))
    assert "file: not UTF-8" in refused(capsys, ["suite", "validate", str(tmp_path / "latin.csv")])
    (tmp_path / "big.csv").write_text("statement,label\n" + "x" * 131_073 + ",1\n")
    assert "big.csv:2: csv: field larger than field limit" in refused(capsys, ["suite", "validate", str(tmp_path / "big.csv")])


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "bom.csv").write_bytes("statement,label\nthe sky is blue,1\ngrass is red,0\n".encode("utf-8-sig"))
    suite = load_csv(tmp_path / "bom.csv")
    assert [(p.text, p.truth) for p in suite.propositions.values()] == [("the sky is blue", True), ("grass is red", False)]


# ----- answers -------------------------------------------------------------------------------


@pytest.fixture
def two_claims(tmp_path):
    return load_jsonl(write_lines(tmp_path / "s.jsonl", [HEADER, P1, {**P2, "split": "train"}, {**P2, "id": "p3", "text": "three"}]))


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"proposition": "p1", "credence": 0.5}\n'.encode("utf-16"), "file: not UTF-8"),
        (b'{"proposition": "p1", "credence": 0.5}\xff\n', "file: not UTF-8"),
        (b'{"proposition": ["p1"], "credence": 0.5}\n', ":1: proposition: must be an id string"),
        (('{"proposition": "p1", "credence": ' + fz.HUGE_INT + "}\n").encode(), ":1: json: unreadable JSON value"),
        (("[" * 1000 + "]" * 1000 + "\n").encode(), ":1: json: JSON nested too deeply"),
        (b'{"proposition": "p1", "conditional": "c1", "credence": 0.5}\n', ":1: conditional: a line answers a 'proposition' or a 'conditional', not both"),
        (b'{"proposition": "p1\\n", "credence": 0.5}\n', ":1: proposition: unknown proposition id"),
    ],
)
def test_bad_answers_files_are_one_clean_error(tmp_path, two_claims, content, expected):
    (tmp_path / "a.jsonl").write_bytes(content)
    with pytest.raises(UserError) as error:
        load_recorded_answers(tmp_path / "a.jsonl", two_claims)
    assert expected in str(error.value)


def test_limit_with_answers_accepts_answers_to_claims_left_out(tmp_path, two_claims):
    answers = write_lines(tmp_path / "a.jsonl", [{"proposition": p, "credence": 0.7} for p in ("p1", "p2", "p3")])
    limited = two_claims.limited(1)
    assert set(limited.propositions) == {"p1", "p2"}
    recorded = load_recorded_answers(answers, limited)
    assert set(recorded.per_query) == {limited.query("p1").key, limited.query("p2").key}
    with pytest.raises(UserError, match="unknown proposition id 'p4'"):  # a real unknown id still is one
        load_recorded_answers(write_lines(tmp_path / "b.jsonl", [{"proposition": "p4", "credence": 0.7}]), limited)


# ----- options and environment (CLI-level) ------------------------------------------------------


@pytest.fixture
def small_run(tmp_path):
    suite = write_lines(tmp_path / "s.jsonl", [HEADER, P1, P2])
    answers = write_lines(tmp_path / "a.jsonl", [{"proposition": "p1", "credence": 0.9}, {"proposition": "p2", "credence": 0.2}])
    return ["audit", "--answers", answers, "--suite", suite, "--quiet", "--no-ladder"]


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--layers", "a"], "--layers: expected 'auto' or comma-separated layer numbers"),
        (["--option", "logic.nonsense=1"], "check 'logic' has no option 'nonsense'"),
        (["--option", "probe.fpr=abc"], "option probe.fpr:"),
        (["--seed", "abc"], "--seed: expected an integer"),
    ],
)
def test_bad_options_are_one_clean_error(tmp_path, capsys, small_run, extra, expected):
    assert expected in refused(capsys, [*small_run, "--out", str(tmp_path / "run"), *extra])


def test_out_naming_a_file_is_refused_before_the_audit(tmp_path, capsys, small_run, monkeypatch):
    from consistency import audit

    monkeypatch.setattr(audit, "run_checks", lambda *a, **k: pytest.fail("the audit ran before --out was checked"))
    (tmp_path / "file.txt").write_text("x")
    assert "is a file" in refused(capsys, [*small_run, "--out", str(tmp_path / "file.txt")])


@pytest.mark.parametrize(
    "name, value",
    [("SEED", "abc"), ("LIMIT", "x"), ("LADDER_TARGETS", "x"), ("LADDER_FPR", "x"), ("MIN_SEVERITY", "x"),
     ("WEAK_NOISE", "x"), ("LAYERS", "x"), ("BATCH_SIZE", "x")],
)
def test_bad_numeric_environment_variables(tmp_path, capsys, monkeypatch, small_run, name, value):
    monkeypatch.setenv(f"CONSISTENCY_{name}", value)
    assert main(["checks"]) == 0  # other commands are unaffected
    capsys.readouterr()
    refused(capsys, [*small_run, "--out", str(tmp_path / "run")])


def test_checkpoint_whose_config_is_not_an_object(tmp_path, capsys):
    pytest.importorskip("transformers")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("[]")
    suite = write_lines(tmp_path / "s.jsonl", [HEADER, P1, P2])
    err = refused(capsys, ["audit", str(model), "--suite", suite, "--out", str(tmp_path / "run"), "--quiet", "--no-cache"])
    assert "config.json: must hold a JSON object" in err


# ----- report: path traversal --------------------------------------------------------------------


def test_report_never_reads_a_doc_named_by_results_json(tmp_path):
    from test_report import results_fixture, typed

    from reports.html import metric_definitions, render_report

    docs = tmp_path / "checks" / "docs"
    docs.mkdir(parents=True)
    (tmp_path / "secret.md").write_text('<a id="r1"></a>\n- **r1**: TOP SECRET\n')
    assert metric_definitions("../../secret", docs) == {}
    assert metric_definitions("../secret", docs) == {}
    results = results_fixture(4)
    results["checks"]["../../x/secret"] = results["checks"].pop("logic")
    (tmp_path / "x").mkdir()
    assert "TOP SECRET" not in render_report(typed(results))
