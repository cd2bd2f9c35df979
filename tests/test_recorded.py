import json

import pytest

from consistency.adapters.recorded import AnswersFileError, load_recorded_answers
from consistency.generators import builtin_suite


def write(tmp_path, lines):
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_recorded_credences_land_on_their_queries(tmp_path):
    suite = builtin_suite("comparisons").limited(2)
    pid = next(iter(suite.propositions))
    cond = suite.conditionals[0] if suite.conditionals else None
    lines = [{"proposition": pid, "credence": 0.83}, {"proposition": pid, "variant": 1, "credence": 0.2}]
    answers = load_recorded_answers(write(tmp_path, lines), suite)
    assert answers.belief(suite.query(pid)) == pytest.approx(0.83)
    assert answers.belief(suite.query(pid, 1)) == pytest.approx(0.2)
    assert answers.belief(suite.query(pid, 2)) is None
    assert not answers.has_hidden
    assert cond is None or answers.belief(suite.conditional_query(cond)) is None


@pytest.mark.parametrize(
    "line, field",
    [
        ("{oops", "json"),
        ({"proposition": "nope", "credence": 0.5}, "proposition"),
        ({"proposition": "FIRST", "credence": 1.5}, "credence"),
        ({"proposition": "FIRST", "credence": "high"}, "credence"),
        ({"proposition": "FIRST", "credence": 0.5, "variant": 99}, "variant"),
        ({"conditional": "ghost", "credence": 0.5}, "conditional"),
        ({"credence": 0.5}, "proposition"),
    ],
)
def test_each_bad_line_is_named(tmp_path, line, field):
    suite = builtin_suite("comparisons").limited(2)
    first = next(iter(suite.propositions))
    if isinstance(line, dict) and line.get("proposition") == "FIRST":
        line = {**line, "proposition": first}
    with pytest.raises(AnswersFileError) as info:
        load_recorded_answers(write(tmp_path, [{"proposition": first, "variant": 1, "credence": 0.4}, line]), suite)
    issue = info.value.issues[0]
    assert (issue.line, issue.field) == (2, field)


# ----- one answer per proposition, even where texts repeat (issue 12) -------------------------


def forecasting_line(**components):
    """One consistency-forecasting tuple: component key -> (title, forecast)."""
    return json.dumps({"line": {k: {"question": {"title": t}, "forecast": {"prob": p}} for k, (t, p) in components.items()}})


# Two negation tuples over one question, forecast differently each time: per tuple, the first is
# off by |0.3 + 0.8 - 1| = 0.1 and the second coherent; read by text (last answer wins) both
# become (0.6, 0.4) and the 0.1 vanishes.
TUPLES = [
    forecasting_line(P=("Will A happen?", 0.3), not_P=("Will A not happen?", 0.8)),
    forecasting_line(P=("Will A happen?", 0.6), not_P=("Will A not happen?", 0.4)),
    forecasting_line(P=("Will B happen?", 0.5), Q=("Will C happen?", 0.5), P_and_Q=("Will B and C happen?", 0.7)),
]


def audit_tuples(tmp_path, keep_last_per_text=False):
    from bench.forecasting_tuples import convert, keep_last_per_text as collapse
    from consistency.cli import main

    suite, answers, counts = convert(("f.jsonl", n, raw) for n, raw in enumerate(TUPLES, start=1))
    assert counts == {"tuples": 3, "skipped": 0}
    if keep_last_per_text:
        answers = collapse(suite, answers)
    suite.save(tmp_path / "suite.jsonl")
    write(tmp_path, answers)
    out = tmp_path / "run"
    argv = ["audit", "--answers", str(tmp_path / "answers.jsonl"), "--suite", str(tmp_path / "suite.jsonl"),
            "--checks", "logic,cross-examination", "--no-ladder", "--no-report", "--no-cache", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text())["checks"]


def test_same_text_answered_differently_keeps_both_answers_and_is_reported(tmp_path):
    checks = audit_tuples(tmp_path)
    # 0.1 from the first negation tuple, 0.2 from P(B and C) = 0.7 > min(P(B), P(C)) = 0.5
    assert checks["logic"]["metrics"]["r1"] == pytest.approx(0.3)
    cross = checks["cross-examination"]
    assert cross["metrics"]["asked_twice"] == 2
    assert cross["metrics"]["asked_twice_answered_differently"] == 2
    twice = [c for c in cross["conflicts"] if c["certificate"]["kind"] == "asked-twice"]
    by_prompt = {c["certificate"]["prompt"]: c for c in twice}
    a = next(c for p, c in by_prompt.items() if "Will A happen?" in p)
    assert a["claims"] == ["t1.P#v0:is-true", "t0.P#v0:is-true"]
    assert a["severity"] == pytest.approx(0.3)
    assert sorted(r["p_yes"] for r in a["certificate"]["answers"]) == [0.3, 0.6]
    assert "asked twice, answered differently" in a["certificate"]["summary"].lower()


def test_answers_read_by_text_lose_the_incoherence(tmp_path):
    # The figure before answers were kept per proposition: the negation tuple's 0.1 is lost.
    checks = audit_tuples(tmp_path, keep_last_per_text=True)
    assert checks["logic"]["metrics"]["r1"] == pytest.approx(0.2)
    assert checks["cross-examination"]["metrics"]["asked_twice_answered_differently"] == 0


def test_a_simulated_lie_moves_only_its_own_proposition(tmp_path):
    from bench.forecasting_tuples import convert

    suite, records, _ = convert(("f.jsonl", n, raw) for n, raw in enumerate(TUPLES, start=1))
    suite.save(tmp_path / "suite.jsonl")
    answers = load_recorded_answers(write(tmp_path, records), suite)
    first, second = suite.query("t0.P"), suite.query("t1.P")
    assert first.prompt == second.prompt
    lied = answers.with_beliefs({first: 0.9})
    assert (lied.belief(first), lied.belief(second)) == (0.9, 0.6)
    assert (answers.belief(first), answers.belief(second)) == (0.3, 0.6)


def test_the_ladder_lies_about_each_proposition_that_shares_a_text(tmp_path):
    import checks
    from bench.forecasting_tuples import convert
    from consistency.ladder import Ladder

    suite, records, _ = convert(("f.jsonl", n, raw) for n, raw in enumerate(TUPLES, start=1))
    answers = load_recorded_answers(write(tmp_path, records), suite)
    ladder = Ladder(suite, answers, [checks.get("logic")])
    # Both propositions asked "Will A happen?" are liable to a lie, each with its own answer.
    assert [q.key for q in ladder.queries["t0.P"]] == ["t0.P#v0:is-true"]
    assert [q.key for q in ladder.queries["t1.P"]] == ["t1.P#v0:is-true"]
    lie = ladder.lie("t1.P", 2)
    lied = answers.with_beliefs(lie.beliefs)
    assert lied.belief(suite.query("t1.P")) < 0.5 and lied.belief(suite.query("t0.P")) == 0.3


def test_the_converter_counts_tuples_per_checker_file(tmp_path, capsys):
    # Two files: a negation file and an AndOr file (two relations per tuple) with one line of a
    # shape the converter does not take; the summary counts tuples per file, not relations.
    from bench.forecasting_tuples import convert, main, tuples_per_source

    neg = tmp_path / "NegChecker.jsonl"
    neg.write_text("\n".join(TUPLES[:2]) + "\n")
    andor = tmp_path / "AndOrChecker.jsonl"
    andor.write_text("\n".join([
        forecasting_line(P=("Will B happen?", 0.5), Q=("Will C happen?", 0.4),
                         P_and_Q=("Will B and C happen?", 0.3), P_or_Q=("Will B or C happen?", 0.6)),
        forecasting_line(P=("Will D happen?", 0.5), Q=("Will E happen?", 0.4), R=("Will F happen?", 0.1)),
    ]) + "\n")
    lines = [(str(f), n, raw) for f in (neg, andor)
             for n, raw in enumerate(f.read_text().splitlines(), start=1)]
    suite, answers, counts = convert(lines)
    assert counts == {"tuples": 3, "skipped": 1}
    assert len(suite.relations) == 4
    assert tuples_per_source(suite) == {"NegChecker": 2, "AndOrChecker": 1}

    assert main([str(neg), str(andor), "--out", str(tmp_path / "out")]) == 0
    summary = capsys.readouterr().err
    assert "3 tuples (NegChecker 2, AndOrChecker 1; 1 of other shapes skipped)" in summary
    # "Will A happen?" (0.3, 0.6) and "Will A not happen?" (0.8, 0.4)
    assert "8 propositions, 6 distinct texts, 2 answered differently in different tuples" in summary
