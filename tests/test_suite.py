import json

import pytest
from hypothesis import given, settings, strategies as st

from consistency.errors import UserError
from consistency.generators import builtin_suite
from consistency.suite import SuiteError, load_csv, load_jsonl, parse_records

HEADER = {"kind": "suite", "name": "demo", "format": 1}
GOOD = [
    HEADER,
    {"kind": "proposition", "id": "p1", "text": "Paris is in France", "variants": ["France contains Paris"],
     "truth": True, "weak": 0.8, "split": "train", "tags": ["geo"]},
    {"kind": "proposition", "id": "p2", "text": "Paris is in Europe", "truth": True},
    {"kind": "proposition", "id": "p3", "text": "Paris is in France and in Europe", "truth": True},
    {"kind": "relation", "id": "r1", "formula": "p3 <-> (p1 & p2)", "source": "conjunction"},
    {"kind": "conditional", "id": "c1", "given": "p1", "then": "p2"},
    {"kind": "decomposition", "id": "d1", "composite": "p3", "parts": ["p1", "p2"], "formula": "p3 <-> (p1 & p2)"},
]

# Each bad record, placed on line 3 of an otherwise valid file, and the field its error must name.
BAD_RECORDS = [
    ({"kind": "proposition", "id": "p1", "text": "again"}, "id"),  # duplicate id
    ({"kind": "proposition", "id": "bad id!", "text": "x"}, "id"),
    ({"kind": "proposition", "id": "p9", "text": "x", "weak": 1.5}, "weak"),
    ({"kind": "proposition", "id": "p9", "text": "x", "weak": -0.1}, "weak"),
    ({"kind": "proposition", "id": "p9", "text": "x", "truth": "yes"}, "truth"),
    ({"kind": "proposition", "id": "p9", "text": "x", "split": "dev"}, "split"),
    ({"kind": "proposition", "id": "p9"}, "text"),
    ({"kind": "relation", "id": "r9", "formula": "p1 & nope"}, "formula"),
    ({"kind": "relation", "id": "r9", "formula": "p1 &"}, "formula"),
    ({"kind": "conditional", "id": "c9", "given": "p1", "then": "ghost"}, "then"),
    ({"kind": "decomposition", "id": "d9", "composite": "p1", "parts": [], "formula": "p1"}, "parts"),
    ({"kind": "decomposition", "id": "d9", "composite": "p1", "parts": ["p2"], "formula": "p1 <-> p3"}, "formula"),
    ({"kind": "relatoin", "id": "r9"}, "kind"),
    ("not an object", "kind"),
]


def write(tmp_path, records, raw_lines=()):
    path = tmp_path / "suite.jsonl"
    lines = [json.dumps(r) for r in records] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_valid_suite_loads_and_round_trips(tmp_path):
    suite = load_jsonl(write(tmp_path, GOOD))
    assert suite.propositions["p1"].variants == ("France contains Paris",)
    assert suite.propositions["p1"].split == "train" and suite.propositions["p2"].split == "test"
    assert suite.relations[0].source == "conjunction"
    again = tmp_path / "again.jsonl"
    suite.save(again)
    assert list(load_jsonl(again).records()) == list(suite.records())


@pytest.mark.parametrize("record, field", BAD_RECORDS)
def test_every_malformed_record_names_its_line_and_field(tmp_path, record, field):
    with pytest.raises(SuiteError) as info:
        load_jsonl(write(tmp_path, GOOD[:2] + [record] + GOOD[2:]))
    assert any(issue.line == 3 and issue.field == field for issue in info.value.issues), info.value.issues
    assert str(tmp_path / "suite.jsonl") in str(info.value)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(range(len(BAD_RECORDS))), min_size=1, max_size=5))
def test_every_error_is_reported_not_just_the_first(tmp_path_factory, picks):
    tmp_path = tmp_path_factory.mktemp("suite")
    # bad records get distinct ids so each fails for its own reason only
    records, expected_lines = list(GOOD), set()
    for offset, pick in enumerate(picks):
        record = BAD_RECORDS[pick][0]
        if isinstance(record, dict) and record.get("id") not in (None, "p1", "bad id!"):
            record = {**record, "id": f"{record['id']}x{offset}"}
        records.append(record)
        expected_lines.add(len(records))
    with pytest.raises(SuiteError) as info:
        load_jsonl(write(tmp_path, records))
    assert expected_lines <= {issue.line for issue in info.value.issues}


def test_malformed_json_and_missing_header(tmp_path):
    with pytest.raises(SuiteError) as info:
        load_jsonl(write(tmp_path, GOOD[1:3], raw_lines=["{not json"]))
    fields = {(i.line, i.field) for i in info.value.issues}
    assert (3, "json") in fields and (1, "kind") in fields


def test_unsupported_format_version(tmp_path):
    with pytest.raises(SuiteError, match="format"):
        load_jsonl(write(tmp_path, [{**HEADER, "format": 2}] + GOOD[1:]))


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(SuiteError, match="no such file"):
        load_jsonl(tmp_path / "absent.jsonl")


def test_framings_render_prompts_and_mark_the_statement_end():
    suite = parse_records(list(enumerate(GOOD, 1)), "mem")
    q = suite.query("p1", 1, "is-false")
    assert q.negated and q.prompt[: q.statement_end].endswith("France contains Paris")
    cq = suite.conditional_query(suite.conditionals[0])
    assert cq.prompt.startswith("Suppose that Paris is in France.")
    assert cq.prompt[: cq.statement_end].endswith("Paris is in Europe") and cq.given == "p1"


def test_csv_import(tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text('statement,label\n"The sky is blue",1\nGrass is red,0\nWater is wet,true\n')
    suite = load_csv(path)
    assert [p.truth for p in suite.propositions.values()] == [True, False, True]
    path.write_text("statement,label\nA,maybe\n")
    with pytest.raises(SuiteError) as info:
        load_csv(path)
    assert info.value.issues[0].line == 2 and info.value.issues[0].field == "label"


@pytest.mark.parametrize("name", ["arithmetic", "comparisons"])
def test_builtin_suites_are_valid_and_true_to_their_relations(tmp_path, name):
    from consistency import formula as fm

    suite = builtin_suite(name)
    path = tmp_path / "s.jsonl"
    suite.save(path)
    assert len(load_jsonl(path).propositions) == len(suite.propositions)
    truth = {pid: p.truth for pid, p in suite.propositions.items()}
    formulas = [r.tree for r in suite.relations] + [d.tree for d in suite.decompositions]
    assert formulas and all(fm.evaluate(tree, truth) for tree in formulas)
    assert {p.split for p in suite.propositions.values()} == {"train", "test"}
    assert all(p.weak is not None for p in suite.propositions.values())


@pytest.mark.parametrize("name", ["facts", "commonsense"])
def test_real_model_suites_are_balanced_and_true_to_their_relations(tmp_path, name):
    """The suites written for small real models: every relation holds under the ground truth, and
    each split has as many true statements as false ones, each with its negation."""
    from consistency import formula as fm

    suite = builtin_suite(name)
    path = tmp_path / "s.jsonl"
    suite.save(path)
    assert len(load_jsonl(path).propositions) == len(suite.propositions)
    truth = {pid: p.truth for pid, p in suite.propositions.items()}
    assert all(fm.evaluate(r.tree, truth) for r in suite.relations)
    for split in ("train", "test"):
        values = [p.truth for p in suite.split(split)]
        assert values.count(True) == values.count(False) > 0
    for pid, prop in suite.propositions.items():
        if "negation" in prop.tags:
            assert suite.propositions[pid.removesuffix(".not")].truth is not prop.truth and " not " in prop.text


def test_limit_keeps_only_records_about_kept_propositions():
    suite = builtin_suite("comparisons").limited(5)
    assert len(suite.propositions) == 10
    for relation in suite.relations:
        from consistency import formula as fm

        assert fm.variables(relation.tree) <= set(suite.propositions)


def test_the_audit_seed_does_not_move_the_organisms_world():
    """The bundled organisms know world 0: --seed must not audit them on another world."""
    world0 = builtin_suite("organism", seed=0)
    assert sorted(builtin_suite("organism", seed=3).propositions) == sorted(world0.propositions)
    assert builtin_suite("organism", seed=3).metadata.get("seed", 0) == 0
    named = builtin_suite("organism:1", seed=0)
    assert named.metadata.get("seed") == 1
    assert sorted(named.propositions) != sorted(world0.propositions)


def test_a_named_suite_seed_wins_over_the_audit_seed():
    assert sorted(builtin_suite("arithmetic:5", seed=0).propositions) == sorted(builtin_suite("arithmetic", 5).propositions)
    with pytest.raises(UserError, match=r"builtin:organism:one: the suite's seed"):
        builtin_suite("organism:one")
    with pytest.raises(UserError, match="unknown built-in suite 'builtin:nosuch'"):
        builtin_suite("nosuch:2")
