"""The boolean formula language of relations and decompositions.

Grammar (lowest precedence first; ``->`` is right-associative, the others left)::

    iff     := implies ("<->" implies)*
    implies := or ("->" implies)?
    or      := and ("|" and)*
    and     := unary ("&" unary)*
    unary   := "!" unary | atom
    atom    := ID | "(" iff ")"

Ids are letters, digits, ``_`` and ``.``. Formulas are immutable trees that print back
to a string that parses to the same tree, evaluate under an assignment, and convert to z3.

``&`` and ``|`` are associative, so a chain of either parses into a tree of logarithmic depth
(:func:`chain`): a disjunction of 900 claims is 34 levels deep, not 900. The functions that walk
a tree recurse, so the parser refuses a formula still nested deeper than :data:`MAX_DEPTH` (a
long chain of ``!``, ``->`` or ``<->``, or more than :data:`MAX_PARENTHESES` nested
parentheses) with a :class:`FormulaError` instead of letting a walk run out of stack later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, Union

ID_PATTERN = re.compile(r"[A-Za-z0-9_.]+")  # use with fullmatch ("$" would let "p1\\n" through)
MAX_DEPTH = 400  # tree levels: every walker recurses once per level, under Python's 1,000-frame limit
MAX_PARENTHESES = 50  # nested groups: the parser recurses five frames per group
# '&'/'|' chains up to this many operands keep the left-deep shape they always had (so short
# formulas print, compare and cache as before); longer ones are split in halves (see chain)
LEFT_DEEP_OPERANDS = 32
_TOKEN = re.compile(r"\s*(<->|->|[!&|()]|[A-Za-z0-9_.]+)")


class FormulaError(ValueError):
    """A formula that does not parse; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} at character {position}")
        self.position = position


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Not:
    arg: "Formula"


@dataclass(frozen=True)
class BinOp:
    op: str  # one of "&", "|", "->", "<->"
    left: "Formula"
    right: "Formula"


Formula = Union[Var, Not, BinOp]

# Binding strength: higher binds tighter.
_PRECEDENCE = {"<->": 1, "->": 2, "|": 3, "&": 4}


def _tokenize(text: str) -> list[tuple[str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            bad = len(text) - len(text[pos:].lstrip())
            raise FormulaError(f"unexpected character {text[bad]!r}", bad)
        tokens.append((match.group(1), match.start(1)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def position(self) -> int:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.text)

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FormulaError("unexpected end of formula", len(self.text))
        self.i += 1
        return token

    def parse(self) -> Formula:
        if not self.tokens:
            raise FormulaError("empty formula", 0)
        self.check_parentheses()
        tree = self.iff()
        if self.peek() is not None:
            raise FormulaError(f"unexpected {self.peek()!r}", self.position())
        if depth(tree) > MAX_DEPTH:
            raise FormulaError(
                f"formula nests deeper than {MAX_DEPTH} levels (a long chain of '!', '->' or '<->', "
                "or of bracketed groups); split it into several relations",
                0,
            )
        return tree

    def check_parentheses(self) -> None:
        level = 0
        for token, position in self.tokens:
            level += (token == "(") - (token == ")")
            if level > MAX_PARENTHESES:
                raise FormulaError(f"parentheses nested deeper than {MAX_PARENTHESES}", position)

    def iff(self) -> Formula:
        left = self.implies()
        while self.peek() == "<->":
            self.take()
            left = BinOp("<->", left, self.implies())
        return left

    def implies(self) -> Formula:
        operands = [self.disjunction()]
        while self.peek() == "->":  # a loop, not recursion: a chain of 1,000 '->' must not overflow
            self.take()
            operands.append(self.disjunction())
        tree = operands.pop()
        while operands:  # right-associative
            tree = BinOp("->", operands.pop(), tree)
        return tree

    def disjunction(self) -> Formula:
        operands = [self.conjunction()]
        while self.peek() == "|":
            self.take()
            operands.append(self.conjunction())
        return chain("|", operands)

    def conjunction(self) -> Formula:
        operands = [self.unary()]
        while self.peek() == "&":
            self.take()
            operands.append(self.unary())
        return chain("&", operands)

    def unary(self) -> Formula:
        negations = 0
        while self.peek() == "!":  # a loop, not recursion (see implies)
            self.take()
            negations += 1
        tree = self.atom()
        for _ in range(negations):
            tree = Not(tree)
        return tree

    def atom(self) -> Formula:
        position = self.position()
        token = self.take()
        if token == "(":
            inner = self.iff()
            if self.peek() != ")":
                raise FormulaError("missing ')'", self.position())
            self.take()
            return inner
        if ID_PATTERN.fullmatch(token):
            return Var(token)
        raise FormulaError(f"unexpected {token!r}", position)


def parse(text: str) -> Formula:
    """Parse a formula string; raises :class:`FormulaError` naming the offending position."""
    simple = _parse_simple(text)
    return simple if simple is not None else _Parser(text).parse()


_OPERAND = r"\s*(!?)\s*([A-Za-z0-9_.]+)\s*"
_OPERATOR = r"(<->|->|&|\|)"
# up to three operands, each an id or a negated id, and no brackets: what suites mostly hold
# (a -> b, a <-> !b, a <-> b & c, ...), built here without the tokenizer and the recursive
# descent (~20 us a formula; 1.7 s of the logic check at 100k claims)
_SIMPLE = re.compile(f"{_OPERAND}(?:{_OPERATOR}{_OPERAND}(?:{_OPERATOR}{_OPERAND})?)?")
_NOT_PAIR = re.compile(r"\s*!\s*\(\s*([A-Za-z0-9_.]+)\s*([&|])\s*([A-Za-z0-9_.]+)\s*\)\s*")  # !(a & b)


def _parse_simple(text: str) -> Formula | None:
    """The tree :class:`_Parser` would build for a formula of the common shapes, else None."""
    match = _SIMPLE.fullmatch(text)
    if match is None:
        pair = _NOT_PAIR.fullmatch(text)
        return None if pair is None else Not(BinOp(pair[2], Var(pair[1]), Var(pair[3])))
    neg_a, a, op1, neg_b, b, op2, neg_c, c = match.groups()
    first: Formula = Not(Var(a)) if neg_a else Var(a)
    if op1 is None:
        return first
    second: Formula = Not(Var(b)) if neg_b else Var(b)
    if op2 is None:
        return BinOp(op1, first, second)
    third: Formula = Not(Var(c)) if neg_c else Var(c)
    # the tighter operator takes its operands first; between equals, '->' groups to the right
    if _PRECEDENCE[op2] > _PRECEDENCE[op1] or (op1 == op2 == "->"):
        return BinOp(op1, first, BinOp(op2, second, third))
    return BinOp(op2, BinOp(op1, first, second), third)


def chain(op: str, operands: Sequence[Formula]) -> Formula:
    """The canonical tree of ``operands`` joined by the associative ``op`` ("&" or "|").

    Left-deep up to :data:`LEFT_DEEP_OPERANDS` operands (``a | b | c`` is ``(a | b) | c``), else
    the two halves' chains joined, so depth grows with the logarithm of a long chain's length
    and every recursive walk of the tree stays far from Python's stack limit.
    """
    if len(operands) <= LEFT_DEEP_OPERANDS:
        tree = operands[0]
        for operand in operands[1:]:
            tree = BinOp(op, tree, operand)
        return tree
    half = len(operands) // 2
    return BinOp(op, chain(op, operands[:half]), chain(op, operands[half:]))


def depth(formula: Formula) -> int:
    """Levels of the tree (a variable is 1), computed without recursion."""
    deepest, stack = 0, [(formula, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Not):
            stack.append((node.arg, level + 1))
        elif isinstance(node, BinOp):
            stack += [(node.left, level + 1), (node.right, level + 1)]
    return deepest


def to_string(formula: Formula) -> str:
    """Print with the fewest parentheses that still parse back to the same tree."""
    return _print(formula, 0)


def _print(node: Formula, parent: int) -> str:
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Not):
        return "!" + _print(node.arg, 5)
    prec = _PRECEDENCE[node.op]
    if node.op in ("&", "|"):
        parts = chain_operands(node, node.op)
        if chain(node.op, parts) == node:  # the parser rebuilds exactly this tree from a flat chain
            text = f" {node.op} ".join(_print(operand, prec + 1) for operand in parts)
        else:  # any other shape: a chain of two operands, each bracketed if it is a chain itself
            text = f"{_print(node.left, prec + 1)} {node.op} {_print(node.right, prec + 1)}"
        return f"({text})" if prec < parent else text
    if node.op == "->":  # right-associative: a left child of equal precedence needs brackets
        text = f"{_print(node.left, prec + 1)} -> {_print(node.right, prec)}"
    else:  # "<->", left-associative
        text = f"{_print(node.left, prec)} {node.op} {_print(node.right, prec + 1)}"
    return f"({text})" if prec < parent else text


def variables(formula: Formula) -> set[str]:
    """The ids a formula mentions (a loop, not recursion: one set, not one per node)."""
    found: set[str] = set()
    stack = [formula]
    while stack:
        node = stack.pop()
        if isinstance(node, Var):
            found.add(node.name)
        elif isinstance(node, Not):
            stack.append(node.arg)
        else:
            stack.append(node.left)
            stack.append(node.right)
    return found


_BOOL_OPS: dict[str, Callable[[bool, bool], bool]] = {
    "&": lambda a, b: a and b,
    "|": lambda a, b: a or b,
    "->": lambda a, b: (not a) or b,
    "<->": lambda a, b: a == b,
}


def evaluate(formula: Formula, assignment: Mapping[str, bool]) -> bool:
    if isinstance(formula, Var):
        return bool(assignment[formula.name])
    if isinstance(formula, Not):
        return not evaluate(formula.arg, assignment)
    return _BOOL_OPS[formula.op](evaluate(formula.left, assignment), evaluate(formula.right, assignment))


def to_z3(formula: Formula, atoms: Mapping[str, object]):
    """Convert to a z3 BoolRef; ``atoms`` maps ids to z3 Bool constants."""
    import z3

    if isinstance(formula, Var):
        return atoms[formula.name]
    if isinstance(formula, Not):
        return z3.Not(to_z3(formula.arg, atoms))
    left, right = to_z3(formula.left, atoms), to_z3(formula.right, atoms)
    if formula.op == "&":
        return z3.And(left, right)
    if formula.op == "|":
        return z3.Or(left, right)
    if formula.op == "->":
        return z3.Implies(left, right)
    return left == right


def exactly_one(*ids: str) -> str:
    """Formula text saying exactly one of ``ids`` holds (e.g. one home city per entity)."""
    at_least = " | ".join(ids)
    at_most = [f"!({a} & {b})" for i, a in enumerate(ids) for b in ids[i + 1 :]]
    return " & ".join([f"({at_least})", *at_most]) if at_most else ids[0]


def exactly_one_of(formula: Formula) -> list[str] | None:
    """The ids of an :func:`exactly_one` formula, else None.

    An exclusivity over n claims expands to n(n-1)/2 clauses (over 2,900 characters for twelve
    cities), far too long to show a reader; recognising the shape lets it be said in one line.
    """
    if not (isinstance(formula, BinOp) and formula.op == "&"):
        return None  # the describer asks at every node of every relation: most are not '&'
    conjuncts = chain_operands(formula, "&")
    at_least = chain_operands(conjuncts[0], "|")
    if not all(isinstance(v, Var) for v in at_least) or len(at_least) < 2:
        return None
    ids = [v.name for v in at_least if isinstance(v, Var)]  # all are (checked above)
    if len(conjuncts) != len(ids) * (len(ids) - 1) // 2 + 1:
        return None  # decided in linear time: a plain chain of n '|' is not expanded into n^2/2 pairs
    pairs = {frozenset((a, b)) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    seen = set()
    for clause in conjuncts[1:]:
        if not (isinstance(clause, Not) and isinstance(clause.arg, BinOp) and clause.arg.op == "&"):
            return None
        left, right = clause.arg.left, clause.arg.right
        if not (isinstance(left, Var) and isinstance(right, Var)):
            return None
        seen.add(frozenset((left.name, right.name)))
    return ids if seen == pairs and len(conjuncts) == len(pairs) + 1 else None


def to_short_string(formula: Formula) -> str:
    """:func:`to_string`, but an exactly-one formula as ``exactly_one(a, b, ...)`` (for display)."""
    ids = exactly_one_of(formula)
    return f"exactly_one({', '.join(ids)})" if ids else to_string(formula)


def chain_operands(formula: Formula, op: str) -> list[Formula]:
    """The operands of a chain of ``op`` (``a | b | c`` -> [a, b, c]) whatever its grouping, left
    to right, in linear time without recursion; anything else is its own single operand."""
    found, stack = [], [formula]
    while stack:
        node = stack.pop()
        if isinstance(node, BinOp) and node.op == op:
            stack += [node.right, node.left]
        else:
            found.append(node)
    return found
