import json

import pytest

from consistency.adapters.recorded import AnswersFileError, load_recorded_answers
from consistency.generators import builtin_suite


def write(tmp_path, lines):
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n")
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
