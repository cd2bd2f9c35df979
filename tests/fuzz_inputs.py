"""Malformed inputs for the fuzz tests, and the in-process runners that feed them to the loaders.

Each input kind (suites, CSVs, answers files, results.json, command-line options) has a
hypothesis strategy of raw inputs, mostly small mutations of a valid input (so the
validators are reached) mixed with the kinds of input that once crashed: integers over
4,300 digits, JSON nested 1,000 deep, formulas with hundreds of nested parentheses or
operators, lone surrogates, non-UTF-8 and UTF-16 bytes, byte-order marks, fields over the
csv module's limit. Each runner returns normally or raises a ``UserError`` (the user's
input is wrong); anything else is a crash. ``bench/fuzz_count.py`` counts crashes per kind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import strategies as st

import checks as check_registry
from consistency.audit import load_suite
from consistency.config import ENV_PREFIX, audit_options
from consistency.suite import parse_records

# ----- shared pieces ---------------------------------------------------------------

# Deeper than the examples (1,000 levels): hypothesis raises the recursion limit while
# it runs a test, and these must exceed any limit.
HUGE_INT = "1" * 4301
DEEP_LIST = "[" * 50_000 + "]" * 50_000
DEEP_OBJECT = '{"a": ' * 50_000 + "1" + "}" * 50_000
CHAINS = [
    "(" * 5000 + "p1" + ")" * 5000,
    "!" * 5000 + "p1",
    *(f" {op} ".join(["p1", "p2"] * 2500) for op in ("->", "&", "|", "<->")),
]
SPECIAL_VALUES = [
    HUGE_INT, "-" + HUGE_INT, HUGE_INT + ".5", DEEP_LIST, DEEP_OBJECT, '"\\ud800"', '"a\\udfffb"', '"p1\\n"',
    '"false"', '"true"', "true", "false", "null", "[1, 2]", "{}", '""', '" "', "1e400", "-0.0", "NaN", "Infinity",
    '"{given} {x}"', '"{given}}"', '"{{given}}"', '"{statement}"', '"{statement} {x}"', '["p1"]', '{"p1": 1}',
    '"../../x"', "0", "1", "2", "-1", "0.5", *(json.dumps(chain) for chain in CHAINS),
]

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
# Mostly the special values (plain JSON values rarely reach a validator's corner cases).
value_texts = st.one_of(*[st.sampled_from(SPECIAL_VALUES)] * 3, json_values.map(lambda v: json.dumps(v, ensure_ascii=False)))


def _line(fields: dict[str, str]) -> str:
    """A JSON object line from already-encoded values (so values like a 4,301-digit integer survive)."""
    return "{" + ", ".join(f"{json.dumps(key)}: {value}" for key, value in fields.items()) + "}"


def _encoded(data: st.DataObject, text: str) -> bytes:
    encoding = data.draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "utf-16", "latin-1", "surrogates"]))
    if encoding == "surrogates":
        return text.encode("utf-8", "surrogatepass")
    return text.encode(encoding, "replace")


@st.composite
def mutated_lines(draw: Any, base: list[dict[str, Any]], keys: list[str]) -> bytes:
    """``base`` records as JSONL with a few fields set to odd values, removed, or lines replaced."""
    data = draw(st.data())
    lines = [{key: json.dumps(value) for key, value in record.items()} for record in base]
    raw: dict[int, str] = {}
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["set", "set", "set", "delete", "line"]))
        if action == "set":
            present = sorted(lines[index]) or keys
            key = draw(st.sampled_from(present) | st.sampled_from(keys) | st.text(max_size=5))
            lines[index][key] = draw(value_texts)
        elif action == "delete" and lines[index]:
            lines[index].pop(draw(st.sampled_from(sorted(lines[index]))))
        else:
            raw[index] = draw(st.sampled_from([DEEP_LIST, DEEP_OBJECT, HUGE_INT, "[]", "{", "", "\x00"]) | st.text(max_size=20))
    text = "\n".join(raw.get(i, _line(fields)) for i, fields in enumerate(lines)) + "\n"
    return _encoded(data, text)


# ----- suites ----------------------------------------------------------------------

SUITE_RECORDS: list[dict[str, Any]] = [
    {"kind": "suite", "name": "fuzz", "format": 1,
     "framings": [{"name": "is-true", "template": "Is it true that {statement}?"},
                  {"name": "is-false", "template": "Is it false that {statement}?", "negated": True}],
     "condition_template": "Suppose {given}. ", "answer_words": {"yes": ["Yes"], "no": ["No"]}, "metadata": {"by": "fuzz"}},
    {"kind": "proposition", "id": "p1", "text": "one is one", "variants": ["1 = 1"], "truth": True, "split": "train"},
    {"kind": "proposition", "id": "p2", "text": "two is two", "truth": True, "weak": 0.8, "tags": ["t"], "difficulty": 1},
    {"kind": "proposition", "id": "p3", "text": "one and two", "truth": True},
    {"kind": "relation", "id": "r1", "formula": "p1 -> p2", "source": "fuzz"},
    {"kind": "conditional", "id": "c1", "given": "p1", "then": "p2"},
    {"kind": "decomposition", "id": "d1", "composite": "p3", "parts": ["p1", "p2"], "formula": "p3 <-> p1 & p2"},
]
SUITE_KEYS = ["kind", "id", "text", "variants", "truth", "weak", "split", "tags", "difficulty", "formula", "source",
              "given", "then", "composite", "parts", "name", "format", "framings", "condition_template",
              "answer_words", "metadata", "negated"]
suite_files = st.one_of(*[mutated_lines(SUITE_RECORDS, SUITE_KEYS)] * 9, st.binary(max_size=64))


def exercise_suite(suite: Any) -> None:
    """What an audit does with a loaded suite before asking a model: limit it, build every
    check's queries, and encode it as results.json and ``suite export`` would."""
    for view in (suite, suite.limited(1)):
        for name in check_registry.available():
            list(check_registry.get(name).queries(view))
        json.dumps(list(view.records()), ensure_ascii=False).encode("utf-8")


def run_suite_file(content: bytes, suffix: str = ".jsonl") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"suite{suffix}"
        path.write_bytes(content)
        exercise_suite(load_suite(str(path)))


formula_texts = st.one_of(
    st.sampled_from(CHAINS),
    st.lists(st.sampled_from(["p1", "p2", "!", "&", "|", "->", "<->", "(", ")", " ", "p1\n", "$", "1"]), max_size=30).map("".join),
    st.text(max_size=20),
)


def run_formula(text: str) -> None:
    """Parse, print, re-parse and evaluate (what validation, the logic check and the report do)."""
    from consistency import formula as fm
    from consistency.errors import UserError

    try:
        tree = fm.parse(text)
    except fm.FormulaError as error:  # what suite validation reports as file:line: formula: ...
        raise UserError(str(error)) from None
    assert fm.parse(fm.to_string(tree)) == tree
    fm.evaluate(tree, {name: True for name in fm.variables(tree)})
    fm.to_short_string(tree)


# ----- CSV -------------------------------------------------------------------------


@st.composite
def csv_files(draw: Any) -> bytes:
    data = draw(st.data())
    header = draw(st.sampled_from(["statement,label", "label,statement", "statement", "text,label", "", '"statement","label"']) | st.text(max_size=12))
    cell = st.sampled_from(["1", "0", "true", "FALSE", "", "yes", '"a, quoted ""cell"""', "x" * 131_073, "\ud800"]) | st.text(max_size=15)
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=3), max_size=4))
    text = header + "\n" + "\n".join(",".join(row) for row in rows)
    return _encoded(data, text)


def run_csv_file(content: bytes) -> None:
    run_suite_file(content, ".csv")


# ----- answers files ----------------------------------------------------------------

ANSWER_SUITE = parse_records(enumerate(SUITE_RECORDS, start=1), "fuzz-suite.jsonl")
ANSWER_RECORDS = [
    {"proposition": "p1", "credence": 0.9}, {"proposition": "p1", "variant": 1, "credence": 0.8},
    {"proposition": "p2", "credence": 0.7}, {"proposition": "p3", "credence": 0.6}, {"conditional": "c1", "credence": 0.5},
]
answer_files = st.one_of(*[mutated_lines(ANSWER_RECORDS, ["proposition", "conditional", "credence", "variant"])] * 9, st.binary(max_size=64))


def run_answers_file(content: bytes) -> None:
    from consistency.adapters.recorded import load_recorded_answers

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "answers.jsonl"
        path.write_bytes(content)
        for suite in (ANSWER_SUITE, ANSWER_SUITE.limited(1)):
            load_recorded_answers(path, suite)


# ----- results.json -----------------------------------------------------------------


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists (capped, for speed)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in list(value.items())[:12]:
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def results_files(draw: Any, base: dict[str, Any]) -> bytes:
    """``base`` (a valid results.json) with a few values replaced, or a raw odd file."""
    data = draw(st.data())
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([b"[]", b"{}", b"\xff\xfe{", DEEP_LIST.encode(), DEEP_OBJECT.encode(), b"null"]) | st.binary(max_size=32))
    results = json.loads(json.dumps(base))
    paths = [p for p in _paths(results) if p]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent = results
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict) and isinstance(path[-1], str) and len(path) == 2 and path[0] == "checks":
                parent[draw(st.sampled_from(["../../x/secret", "/etc/passwd", "..", "a/b"]))] = parent.pop(path[-1])
            else:
                parent[path[-1]] = draw(json_values | st.sampled_from(["x", -1, 1e308, [], {}]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed the path
    return _encoded(data, json.dumps(results, ensure_ascii=False))


def run_results_file(content: bytes) -> None:
    from reports.html import render_report
    from reports.results import load_results

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "results.json").write_bytes(content)
        render_report(load_results(folder))


# ----- options ----------------------------------------------------------------------

FLAG_VALUES: dict[str, list[str]] = {
    "--layers": ["a", "1,2", "-1", "1,,2", "auto", "0", "1.5"],
    "--option": ["logic.nonsense=1", "probe.fpr=0.05", "bad", "logic.=1", "nope.x=1", "probe.fpr=abc", "probe.fpr=2", "logic.x"],
    "--limit": ["0", "-1", "a", "1", HUGE_INT],
    "--seed": ["abc", "1", "-3", "1.5"],
    "--batch-size": ["0", "a", "auto", "3", "-2"],
    "--ladder-fpr": ["2", "x", "nan", "0.01", "0"],
    "--ladder-targets": ["0", "x", "5"],
    "--min-severity": ["2", "x", "0.5", "inf"],
    "--weak-noise": ["0.6", "x", "0.1", "-1"],
    "--checks": ["logic,nope", "", ",", "logic", "all"],
    "--suite": ["", "{dir}", "{dir}/missing.jsonl", "builtin:nope", "{dir}/suite.jsonl", "{dir}/missing.csv"],
    "--template": ["{statement}", "no", "{statement}{statement}", "{x} {statement}"],
    "--negated-template": ["{statement}?", "no"],
    "--device": ["auto", "gpu"],
    "--dtype": ["int8", "auto"],
    "--answers": ["{dir}/answers.jsonl", "{dir}", "{dir}/missing.jsonl"],
    "--out": ["{dir}/file.txt", "{dir}/run", "{dir}/suite.jsonl"],
    "--yes": ["", "Yes,,"],
}
ENV_VALUES = ["abc", "1", "-1", "x", "nan", "", "1e400", "0.5", "a,b", "auto", "true", "{statement}?\nno", "probe.fpr=2"]
# every audit option's variable, less the prefix (the settings enumerate them)
ENV_NAMES = [option.env.removeprefix(ENV_PREFIX) for option in audit_options()]


@st.composite
def option_sets(draw: Any) -> tuple[list[str], dict[str, str]]:
    flags = draw(st.lists(st.sampled_from(sorted(FLAG_VALUES)), max_size=3))
    argv = ["audit", "--out", "{dir}/run", "--suite", "{dir}/suite.jsonl"]
    for flag in flags:
        argv += [flag, draw(st.sampled_from(FLAG_VALUES[flag]))]
    env = draw(st.dictionaries(st.sampled_from(ENV_NAMES), st.sampled_from(ENV_VALUES), max_size=2))
    return argv, {f"CONSISTENCY_{name}": value for name, value in env.items()}


def _validate_only(config: Any, log: Any = None, progress: bool = True) -> None:
    """``run_audit`` up to the model load: everything the command line can get wrong."""
    from consistency.audit import build_checks, prepare_suite
    from consistency.rundir import claim_run_directory

    suite = prepare_suite(config)
    build_checks(config)
    claim_run_directory(config)
    if config.answers:
        from consistency.adapters.recorded import load_recorded_answers

        load_recorded_answers(config.answers, suite)


def run_options(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """``consistency`` in-process with ``argv`` and ``env`` (the audit stopped before any model
    loads); returns the exit status and stderr, and raises what the CLI does not handle."""
    from consistency import cli

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "file.txt").write_text("not a directory\n")
        (base / "suite.jsonl").write_text("\n".join(json.dumps(r) for r in SUITE_RECORDS) + "\n")
        (base / "answers.jsonl").write_text("\n".join(json.dumps(r) for r in ANSWER_RECORDS) + "\n")
        argv = [arg.replace("{dir}", folder) for arg in argv]
        env = {key: value.replace("{dir}", folder) for key, value in env.items()}
        clean = {key: value for key, value in os.environ.items() if not key.startswith("CONSISTENCY_")}
        stderr = io.StringIO()
        with mock.patch.dict(os.environ, {**clean, **env}, clear=True), \
                mock.patch("consistency.audit.run_audit", _validate_only), \
                mock.patch("consistency.cli._print_summary", lambda results: None), \
                contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = cli.main(argv)
            except SystemExit as exit_:  # argparse's own usage errors
                status = exit_.code if isinstance(exit_.code, int) else 1
        return status, stderr.getvalue()


def clean_exit(status: int, stderr: str) -> bool:
    """Exit 0, or exit 2 whose last line says ``error:`` (argparse's usage errors end so too)."""
    lines = stderr.strip().splitlines()
    return status == 0 or (status == 2 and bool(lines) and "error:" in lines[-1] and "Traceback" not in stderr)
