import itertools

import pytest
from hypothesis import given, strategies as st

from consistency import formula as fm

ids = st.sampled_from(["p1", "p2", "q", "a_b", "x.y", "7"])
formulas = st.recursive(
    ids.map(fm.Var),
    lambda sub: st.one_of(
        sub.map(fm.Not),
        st.tuples(st.sampled_from(["&", "|", "->", "<->"]), sub, sub).map(lambda t: fm.BinOp(*t)),
    ),
    max_leaves=12,
)


@given(formulas)
def test_print_then_parse_is_identity(tree):
    assert fm.parse(fm.to_string(tree)) == tree


def _grouped(op, operands, cuts):
    """``operands`` joined by ``op`` in a grouping chosen by ``cuts`` (any binary tree shape)."""
    if len(operands) == 1:
        return operands[0]
    cut = 1 + cuts[0] % (len(operands) - 1)
    rest = cuts[1:] or [0]
    return fm.BinOp(op, _grouped(op, operands[:cut], rest), _grouped(op, operands[cut:], rest[1:] or [0]))


@given(
    st.sampled_from(["&", "|"]),
    st.lists(formulas, min_size=1, max_size=80),
    st.lists(st.integers(0, 100), min_size=1, max_size=8),
)
def test_long_and_or_chains_of_any_shape_print_and_parse_back(op, operands, cuts):
    """Past LEFT_DEEP_OPERANDS the parser halves a chain; the printer must bracket every other shape."""
    for tree in (fm.chain(op, operands), _grouped(op, operands, cuts)):
        assert fm.parse(fm.to_string(tree)) == tree


@given(formulas)
def test_printed_form_means_the_same_under_every_assignment(tree):
    names = sorted(fm.variables(tree))
    reparsed = fm.parse(fm.to_string(tree))
    for values in itertools.product([False, True], repeat=len(names)):
        assignment = dict(zip(names, values))
        assert fm.evaluate(reparsed, assignment) == fm.evaluate(tree, assignment)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a | b & c", "a | (b & c)"),
        ("!a & b", "(!a) & b"),
        ("a -> b -> c", "a -> (b -> c)"),
        ("a <-> b -> c", "a <-> (b -> c)"),
        ("a | b -> c <-> d", "((a | b) -> c) <-> d"),
        ("a & b & c", "(a & b) & c"),
    ],
)
def test_precedence_and_associativity(text, expected):
    assert fm.parse(text) == fm.parse(expected)


@pytest.mark.parametrize("text, position", [("a &", 3), ("(a | b", 6), ("a $ b", 2), ("", 0), ("a b", 2), ("&a", 0)])
def test_malformed_formulas_name_the_position(text, position):
    with pytest.raises(fm.FormulaError) as info:
        fm.parse(text)
    assert info.value.position == position


def test_exactly_one_holds_for_exactly_one_true_atom():
    tree = fm.parse(fm.exactly_one("a", "b", "c"))
    for values in itertools.product([False, True], repeat=3):
        assert fm.evaluate(tree, dict(zip("abc", values))) == (sum(values) == 1)


@given(st.lists(ids, min_size=2, max_size=6, unique=True))
def test_exactly_one_is_recognised_and_shown_short(names):
    tree = fm.parse(fm.exactly_one(*names))
    assert fm.exactly_one_of(tree) == names
    assert fm.to_short_string(tree) == f"exactly_one({', '.join(names)})"


@pytest.mark.parametrize("text", ["(a | b) & !(a & c)", "(a | b | c) & !(a & b) & !(a & c)", "a & b", "a | b",
                                  "(a | b) & !(a | b)", "(a | !b) & !(a & b)"])
def test_near_misses_are_not_exactly_one(text):
    tree = fm.parse(text)
    assert fm.exactly_one_of(tree) is None
    assert fm.to_short_string(tree) == fm.to_string(tree)


def test_to_z3_agrees_with_evaluate():
    z3 = pytest.importorskip("z3")
    tree = fm.parse("p3 <-> (p1 & !p2) | p1 -> p2")
    atoms = {n: z3.Bool(n) for n in fm.variables(tree)}
    expr = fm.to_z3(tree, atoms)
    for values in itertools.product([False, True], repeat=3):
        assignment = dict(zip(["p1", "p2", "p3"], values))
        substituted = z3.substitute(expr, *[(atoms[n], z3.BoolVal(v)) for n, v in assignment.items()])
        assert z3.is_true(z3.simplify(substituted)) == fm.evaluate(tree, assignment)


_SPACES = st.sampled_from(["", " ", "  ", "\t"])


@given(
    st.lists(st.tuples(_SPACES, st.sampled_from(["", "!", "! "]), st.from_regex(r"[A-Za-z0-9_.]{1,4}", fullmatch=True), _SPACES), min_size=1, max_size=3),
    st.lists(st.sampled_from(["<->", "->", "&", "|"]), min_size=2, max_size=2),
)
def test_the_fast_path_builds_the_parsers_tree(operands, operators):
    """Formulas of up to three (negated) ids and no brackets skip the tokenizer: the tree is the
    one the recursive-descent parser builds, precedence and associativity included."""
    parts = ["".join(operand) for operand in operands]
    text = parts[0] + "".join(op + part for op, part in zip(operators, parts[1:]))
    fast = fm._parse_simple(text)
    assert fast is not None and fast == fm._Parser(text).parse()


@pytest.mark.parametrize("text", ["!(a & b)", " ! ( a|b ) ", "!(a&b)"])
def test_the_fast_path_takes_a_negated_pair(text):
    assert fm._parse_simple(text) == fm._Parser(text).parse()


@pytest.mark.parametrize("text", ["a b", "a ->", "!!a", "(a)", "a & (b)", "a -> b -> c -> d", "a-b", "", "a <- b", "!(a & b & c)"])
def test_other_shapes_and_errors_are_left_to_the_parser(text):
    assert fm._parse_simple(text) is None
