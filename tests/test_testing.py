"""consistency.testing: structures with known logic, the claim pool, strategies, assert_consistent."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consistency import formula as fm
from checks.base import CheckResult, Conflict
from consistency.adapters.scripted import ScriptedAdapter
from consistency.answers import Answers
from consistency.engine import elicit
from consistency.generators import builtin_suite
from consistency.suite import Proposition, Relation
from consistency.testing import (
    KINDS,
    CachedAdapter,
    ClaimPool,
    Claims,
    ConsistencyError,
    Connectives,
    BudgetExceeded,
    ModelRef,
    Structure,
    Template,
    assert_consistent,
    assert_within_budget,
    claims,
    read_baseline,
    write_baseline,
)
from consistency.errors import UserError
from consistency.testing.assertions import metric_value
from consistency.testing.generators import compose, number_world
from consistency.testing.models import ModelError
from consistency.testing.structures import combine, split_suite

NUMBERS = ClaimPool.numbers(range(1, 13))
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def honest(suite) -> ScriptedAdapter:
    """A confident honest model: credences of 0.9 and 0.1 would not be coherent, e.g. on
    exactly one of three (0.9 + 0.1 + 0.1 = 1.1) or on P(div4 | even) for odd numbers."""
    return ScriptedAdapter(suite, confidence=0.999, jitter=0.0)


def truth_holds(structure: Structure) -> bool:
    """Every relation and decomposition of the structure is true under the ground truth."""
    truth = {p.id: p.truth for p in structure.propositions}
    formulas = [r.tree for r in structure.relations] + [d.tree for d in structure.decompositions]
    return all(fm.evaluate(tree, truth) for tree in formulas)


class CountingAdapter:
    """Wraps an adapter and counts calls and prompts (to prove answers are batched)."""

    def __init__(self, inner):
        self.inner, self.calls, self.prompts = inner, 0, 0
        self.fingerprint, self.layers, self.supports_hidden = inner.fingerprint, inner.layers, inner.supports_hidden

    def answer(self, prompts, progress=None):
        self.calls += 1
        self.prompts += len(prompts)
        return self.inner.answer(prompts, progress)


# ----- generators: the logic they promise holds ---------------------------------------------
def test_number_world_relations_hold_under_ground_truth():
    structures = number_world(range(1, 41))
    assert {s.kind for s in structures} == set(KINDS) - {"relation"}
    assert all(truth_holds(s) for s in structures)


@given(st.lists(st.booleans(), min_size=3, max_size=6), st.integers(0, 10))
def test_composed_structures_follow_the_truth_of_their_atoms(values, seed):
    atoms = [Proposition(f"a{i}", f"statement {i}", truth=v) for i, v in enumerate(values)]
    structures = compose(atoms, per_kind=5, seed=seed)
    # no paraphrases (the atoms have none), no exclusivity (connectives cannot word one)
    assert {s.kind for s in structures} == set(KINDS) - {"paraphrase", "exclusivity", "relation"}
    assert all(truth_holds(s) for s in structures)


def test_compose_words_compound_claims_with_the_connectives():
    a, b = Proposition("a", "snow is white", truth=True), Proposition("b", "grass is red", truth=False)
    words = Connectives(negation="not: {a}", conjunction="both {a} and {b}", disjunction="{a} or else {b}")
    texts = {p.id: (p.text, p.truth) for s in compose([a, b], words, seed=1) for p in s.propositions}
    assert texts["not.a"] == ("not: snow is white", False)
    assert texts["a.and.b"] == ("both snow is white and grass is red", False)
    assert texts["a.or.b"] == ("snow is white or else grass is red", True)


def test_template_fills_every_slot_combination_with_paraphrases_and_truth():
    capitals = {"France": "Paris", "Italy": "Rome"}
    template = Template(
        ("{city} is the capital of {country}", "the capital of {country} is {city}"),
        {"city": ["Paris", "Rome"], "country": ["France", "Italy"]},
        truth=lambda city, country: capitals[country] == city,
        prefix="cap",
    )
    props = template.propositions()
    assert [p.id for p in props] == ["cap0", "cap1", "cap2", "cap3"]
    assert props[1].text == "Paris is the capital of Italy" and props[1].truth is False
    assert props[0].variants == ("the capital of France is Paris",) and props[0].truth is True
    pool = ClaimPool.compose([template], per_kind=3)
    assert {s.kind for s in pool.structures} == set(KINDS) - {"exclusivity", "relation"}


def test_template_names_a_slot_without_values():
    with pytest.raises(ValueError, match="slot 'town'"):
        Template(("{town} is big",), {"city": ["Paris"]}).propositions()


def test_structure_rejects_unknown_kinds_and_propositions():
    p = Proposition("p", "it rains")
    with pytest.raises(ValueError, match="unknown structure kind 'xor'"):
        Structure("xor", (p,))
    with pytest.raises(ValueError, match=r"unknown propositions \['q'\]"):
        Structure("negation", (p,), (Relation("r", "q <-> !p"),))


def test_combine_refuses_one_id_for_two_propositions():
    one = Structure("paraphrase", (Proposition("p", "it rains", ("rain falls",)),))
    other = Structure("paraphrase", (Proposition("p", "it snows", ("snow falls",)),))
    with pytest.raises(ValueError, match="'p' is used for two different propositions"):
        combine([one, other])


# ----- the pool --------------------------------------------------------------------------------
def test_pool_orders_structures_simplest_first():
    sizes = [s.size for s in NUMBERS.structures]
    assert sizes == sorted(sizes)
    assert NUMBERS.structures[0].kind == "paraphrase"


def test_pool_from_a_suite_keeps_every_relation_conditional_and_decomposition():
    suite = builtin_suite("comparisons")
    pool = ClaimPool.from_suite(suite)
    assert sorted(r.id for s in pool.structures for r in s.relations) == sorted(r.id for r in suite.relations)
    assert len([s for s in pool.structures if s.kind == "conditional"]) == len(suite.conditionals)
    kinds = {s.kind for s in split_suite(suite)}
    assert {"negation", "implication", "conditional", "paraphrase"} <= kinds  # antisymmetry reads as negation
    assert pool.suite.framings == suite.framings


def test_suite_relations_get_the_kind_their_source_or_formula_says():
    p = {name: Proposition(name, f"statement {name}") for name in "abc"}
    suite = combine([Structure("paraphrase", (p["a"],))])
    suite.propositions.update(p)
    suite.relations = [
        Relation("r1", "a -> b", "made-up"),
        Relation("r2", fm.exactly_one("a", "b", "c"), "exclusivity"),
        Relation("r3", "c <-> a | b", "made-up"),
        Relation("r4", "!(a & b)", "made-up"),
    ]
    kinds = [s.kind for s in split_suite(suite) if s.relations]
    assert kinds == ["implication", "exclusivity", "or", "relation"]


def test_pool_is_elicited_once_per_model_for_all_examples():
    model = CountingAdapter(honest(NUMBERS.suite))

    @settings(FAST, max_examples=20)
    @given(claims(NUMBERS))
    def prop(drawn):
        assert_consistent(model, drawn)

    prop()
    assert model.calls == 1  # one batched pass over the pool, whatever hypothesis drew
    asked = model.prompts
    assert_consistent(model, Claims(NUMBERS, (0, 1)), checks=["cross-examination"])
    assert (model.calls, model.prompts) == (1, asked)


def test_cached_adapter_forwards_each_prompt_once():
    inner = CountingAdapter(ScriptedAdapter(NUMBERS.suite))
    cached = CachedAdapter(inner)
    first = [NUMBERS.suite.query(pid) for pid in list(NUMBERS.suite.propositions)[:5]]
    more = first + [NUMBERS.suite.query(pid) for pid in list(NUMBERS.suite.propositions)[5:8]]
    a, b = elicit(cached, first), elicit(cached, more)
    assert inner.prompts == 8 and inner.calls == 2
    assert a.credences.items() <= b.credences.items()


# ----- strategies ---------------------------------------------------------------------------
@FAST
@given(claims(NUMBERS, kinds=["negation", "implication"], max_size=3))
def test_claims_draw_only_the_kinds_asked_for(drawn):
    assert 1 <= len(drawn.indices) <= 3
    assert {s.kind for s in drawn.structures} <= {"negation", "implication"}


def test_claims_reject_bad_arguments():
    with pytest.raises(ValueError, match="unknown structure kinds"):
        claims(NUMBERS, kinds=["xor"])
    with pytest.raises(ValueError, match="min_size <= max_size"):
        claims(NUMBERS, min_size=3, max_size=2)


def test_shrinking_ends_at_a_single_structure_around_the_lie():
    liar = ScriptedAdapter(NUMBERS.suite, lies={"n4.even": "naive"}, jitter=0.0)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(claims(NUMBERS))
    def prop(drawn):
        assert_consistent(liar, drawn)

    with pytest.raises(ConsistencyError) as failure:
        prop()
    message = str(failure.value)
    header = message.splitlines()[:2]
    assert header[0] == "inconsistent answers to 1 structure(s):"
    assert "n4.even = '4 is an even number'" in header[1]
    assert '"4 is an even number" [is-true] -> false (credence 0.10)' in message


# ----- assert_consistent --------------------------------------------------------------------
def test_an_honest_model_passes_every_structure():
    results = assert_consistent(honest(NUMBERS.suite), Claims(NUMBERS, tuple(range(len(NUMBERS)))))
    assert results["cross-examination"].metrics["flip_rate"] == 0.0
    assert results["decomposition"].metrics["disagreement_rate"] == 0.0
    assert 0 < metric_value(results["logic"], "max_r1") < 0.01  # confident, not certain


def test_a_naive_liar_fails_with_the_phrasings_that_disagree():
    liar = ScriptedAdapter(NUMBERS.suite, lies={"n4.even": "naive"}, jitter=0.0)
    with pytest.raises(ConsistencyError) as failure:
        assert_consistent(liar, Claims(NUMBERS, (NUMBERS.containing["n4.even"][0],)))
    message = str(failure.value)
    assert "cross-examination failed: flip_rate = 1.000 > 0" in message
    assert "\"4 is an even number\" [is-true] -> false (credence 0.10)" in message
    assert "\"the number 4 is even\" [is-true] -> true (credence 0.90)" in message
    assert set(failure.value.results) == {"logic", "cross-examination", "decomposition"}


def test_a_consistent_liar_fails_logic_with_the_contradicting_answers_and_a_dutch_book():
    liar = ScriptedAdapter(NUMBERS.suite, lies={"n4.even": "consistent"}, jitter=0.0)
    negation = next(i for i in NUMBERS.containing["n4.even"] if NUMBERS.structures[i].kind == "negation")
    with pytest.raises(ConsistencyError) as failure:
        assert_consistent(liar, Claims(NUMBERS, (negation,)))
    message = str(failure.value)
    assert "cross-examination" not in message  # it lies the same way in every phrasing
    assert "logic failed: max_r1 = 0.800 > 0.1" in message
    assert "unsat-core: these answers cannot all be true:" in message
    assert '"4 is an even number" -> false (credence 0.10)' in message
    assert '"4 is an odd number" -> false (credence 0.10)' in message
    assert "bets at the model's own prices lose at least 0.800 whatever is true" in message


def test_limits_set_how_much_inconsistency_passes():
    noisy = ScriptedAdapter(NUMBERS.suite, jitter=0.05)
    conditional = next(i for i, s in enumerate(NUMBERS.structures) if s.kind == "conditional")
    drawn = Claims(NUMBERS, (conditional,))
    with pytest.raises(ConsistencyError, match="logic failed: 1 conflict"):
        assert_consistent(noisy, drawn, max_r1=None)  # no limit: any incoherence fails
    results = assert_consistent(noisy, drawn, max_r1=0.2)
    assert 0 < results["logic"].metrics["r1"] <= 0.2
    liar = ScriptedAdapter(NUMBERS.suite, lies={"n4.even": "naive"}, jitter=0.0)
    assert_consistent(liar, Claims(NUMBERS, (3,)), checks=["cross-examination"], limits={"cross-examination.flip_rate": 1.0})


# ----- budgets and baselines ----------------------------------------------------------------
def fresh_numbers() -> ClaimPool:
    """A pool of its own: baselines and sweeps are remembered on the pool."""
    return ClaimPool.numbers(range(1, 13))


def test_structure_keys_name_each_structure_of_a_pool_once():
    keys = [s.key for s in NUMBERS.structures]
    assert len(set(keys)) == len(keys) == 96
    assert {"paraphrase:n4.even", "negation:n4.r.odd", "conditional:n4.r.div4+n4.c.div4", "decomposition:n4.d.div6"} <= set(keys)
    cities = [Proposition(f"c{i}", f"Ada lives in city {i}") for i in range(12)]
    one_city = Structure("exclusivity", tuple(cities), (Relation("one", fm.exactly_one(*(c.id for c in cities)), "exclusivity"),))
    assert one_city.key == "exclusivity:one"
    assert one_city.describe().endswith("...]") and len(one_city.describe()) < 600  # not the 1,000-character formula
    twice = NUMBERS.structures[0]
    with pytest.raises(ValueError, match="holds the same structure twice"):
        ClaimPool([twice, twice])


def test_the_budget_is_the_share_of_structures_inconsistent_on_their_own():
    pool = fresh_numbers()
    liar = ScriptedAdapter(pool.suite, lies={"n4.even": "naive", "n6.even": "naive"}, jitter=0.0)
    # Every structure around n4.even and n6.even, by kind; "exactly one remainder" and the
    # implication chain never mention evenness.
    found = assert_within_budget(liar, pool, max_inconsistent_share=12 / 96)
    assert sorted(found) == sorted(
        f"{kind}:n{n}.{key}" for n in (4, 6)
        for kind, key in [("paraphrase", "even"), ("negation", "r.odd"), ("and", "r.even_gt10"), ("or", "r.div2or3"),
                          ("conditional", "r.div4+n%d.c.div4" % n), ("decomposition", "d.div6")]
    )
    with pytest.raises(BudgetExceeded) as failure:
        assert_within_budget(liar, pool, max_inconsistent_share=0.1, show=1)
    message = str(failure.value)
    assert message.splitlines()[:2] == [
        "inconsistent on 12 of 96 structures (12.5%), over the budget of 10.0%",
        "  by kind: paraphrase 2 of 12; negation 2 of 12; and 2 of 12; or 2 of 12; conditional 2 of 12; decomposition 2 of 12",
    ]
    assert "#3 paraphrase: n4.even = '4 is an even number'" in message  # the smallest, in words
    assert '"4 is an even number" [is-true] -> false (credence 0.10)' in message
    assert failure.value.share == 0.125 and len(failure.value.inconsistent) == 12
    assert assert_within_budget(liar, pool, kinds=["implication", "exclusivity"], max_inconsistent_share=0.0) == {}
    with pytest.raises(ValueError, match="max_inconsistent_share must be in"):
        assert_within_budget(liar, pool, max_inconsistent_share=5)


def test_a_baseline_is_never_drawn_nor_judged_so_failures_are_new(tmp_path):
    pool = fresh_numbers()
    old = ScriptedAdapter(pool.suite, lies={"n4.even": "naive"}, jitter=0.0)
    path = tmp_path / "baseline.json"
    accepted = {key: "; ".join(why) for key, why in assert_within_budget(old, pool, max_inconsistent_share=1.0).items()}
    write_baseline(path, pool, accepted, "old", "numbers")
    assert read_baseline(path).keys() == accepted.keys()
    assert '"paraphrase:n4.even": "cross-examination: flip_rate = 1.000 > 0 -- paraphrase: 4 is an even number"' in path.read_text()

    pool = fresh_numbers()
    pool.accept(read_baseline(path))
    assert assert_within_budget(old, pool, max_inconsistent_share=0.0) == {}  # the old model: nothing new

    @FAST
    @given(claims(pool))
    def prop(drawn):
        assert not any(pool.is_accepted(i) for i in drawn.indices)
        assert_consistent(old, drawn)

    prop()
    assert assert_consistent(old, Claims(pool, (pool.by_key["paraphrase:n4.even"],))) == {}
    # A new checkpoint lies about 9 as well: the failure shrinks to a structure about 9.
    new = ScriptedAdapter(pool.suite, lies={"n4.even": "naive", "n9.even": "naive"}, jitter=0.0)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(claims(pool))
    def regression(drawn):
        assert_consistent(new, drawn)

    with pytest.raises(ConsistencyError) as failure:
        regression()
    header = str(failure.value).splitlines()[:2]
    assert header[0] == "inconsistent answers to 1 structure(s):" and "n9.even = '9 is an even number'" in header[1]


def test_a_recording_pool_accepts_what_fails_on_its_own():
    pool = fresh_numbers()
    pool.recording = True
    liar = ScriptedAdapter(pool.suite, lies={"n4.even": "naive"}, jitter=0.0)
    assert assert_consistent(liar, Claims(pool, (pool.by_key["paraphrase:n4.even"],))) == {}
    assert set(pool.accepted) == {k for k in pool.by_key if k.startswith(tuple(f"{kind}:n4." for kind in KINDS))} - {
        "implication:n4.r.gt20+n4.r.gt10", "exclusivity:n4.r.mod3"}
    assert pool.accepted["paraphrase:n4.even"] == "cross-examination: flip_rate = 1.000 > 0"


def test_bad_baselines_get_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_baseline(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not readable JSON"):
        read_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"accepted": []}')
    with pytest.raises(UserError, match="not a baseline file"):
        read_baseline(tmp_path / "other.json")
    with pytest.raises(ValueError, match="1 baseline structure\\(s\\) are not in claim pool 'numbers', e.g. 'negation:x'"):
        fresh_numbers().accept(["paraphrase:n4.even", "negation:x"])


def test_limits_must_name_a_check_that_runs_and_a_metric_it_reports():
    model = honest(NUMBERS.suite)
    with pytest.raises(ValueError, match="'<check>.<metric>'"):
        assert_consistent(model, Claims(NUMBERS, (0,)), limits={"flip_rate": 0.1})
    with pytest.raises(ValueError, match="'logic.r1' is on a check that is not run"):
        assert_consistent(model, Claims(NUMBERS, (0,)), checks=["cross-examination"], limits={"logic.r1": 0.1})
    with pytest.raises(ValueError, match="reports no metric 'accuracy'"):
        assert_consistent(model, Claims(NUMBERS, (0,)), checks=["cross-examination"],
                          limits={"cross-examination.accuracy": 0.1})


def test_answers_structures_and_suites_are_accepted_as_they_are():
    suite = builtin_suite("arithmetic").limited(6)
    liar = ScriptedAdapter(suite, lies={"sum0": "consistent"}, jitter=0.0)
    answers: Answers = elicit(liar, [suite.query(p, v, f.name) for p, prop in suite.propositions.items()
                                     for v in range(len(prop.phrasings)) for f in suite.framings])
    with pytest.raises(ConsistencyError, match="inconsistent answers to suite 'builtin:arithmetic'"):
        assert_consistent(answers, suite)
    negation = next(s for s in split_suite(suite) if s.kind == "negation" and "sum0" in {p.id for p in s.propositions})
    with pytest.raises(ConsistencyError, match="logic failed"):
        assert_consistent(liar, [negation])
    assert_consistent(honest(suite), negation)


def test_a_model_that_is_not_one_gets_a_one_line_error(tmp_path):
    with pytest.raises(ModelError, match="is not a checkpoint directory"):
        assert_consistent(str(tmp_path / "missing"), Claims(NUMBERS, (0,)))
    with pytest.raises(ModelError, match="cannot audit a int"):
        assert_consistent(42, Claims(NUMBERS, (0,)))
    with pytest.raises(ModelError, match="cannot import it"):
        ModelRef("no_such_module:make").validate()
    with pytest.raises(ModelError, match="unknown organism 'sneaky'"):
        ModelRef("organism:sneaky").validate()
    with pytest.raises(ModelError, match="the factory returned a str, not an adapter"):
        ModelRef("os:getcwd").adapter()


class Hunch:
    """A check of a kind assert_consistent has no special wording for."""

    name = "hunch"
    needs_hidden = False
    local = True

    def queries(self, suite):
        return [suite.query(pid) for pid in suite.propositions]

    def run(self, suite, answers, context):
        pid = next(iter(suite.propositions))
        certificate = {"kind": "hunch", "summary": "I do not believe it."}
        return CheckResult(self.name, conflicts=[Conflict(self.name, [pid, f"{pid}#v1:is-false"], 0.5, certificate)])


def test_other_certificates_show_their_summary_and_the_answers_to_their_claims():
    pool = ClaimPool.numbers([4])  # its own pool: NUMBERS holds answers other tests asked for
    with pytest.raises(ConsistencyError) as failure:
        assert_consistent(honest(pool.suite), Claims(pool, (0,)), checks=[Hunch()])
    assert str(failure.value).splitlines()[-4:] == [
        "hunch failed: 1 conflict(s)",
        "  - hunch: I do not believe it.",
        '    "4 is an even number" -> true (credence 1.00)',
        '    "the number 4 is even" [is-false] -> not answered',  # the check never asked that phrasing
    ]
