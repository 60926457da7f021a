"""The rule expression language: one-line conditions and values, type-checked at load, compiled once to polars.

Admins write ``when`` conditions and ``value`` formulas over per-account features; every rule is
evaluated over all accounts at once. Nothing is ever ``eval``-ed: a hand-written tokenizer and
parser build a typed tree, which compiles to one polars expression. ``interpret`` evaluates the
same tree over one row in plain Python and gives exactly the same results (a property test
holds the two to it).

Grammar, lowest precedence first::

    expr       := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not in") sum]   (no chaining)
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | NAME | NAME "(" [expr ("," expr)*] ")"
                | "(" expr ")" | "[" item ("," item)* [","] "]"
    item       := ["-"] NUMBER | STRING

- Numbers: ``12``, ``0.5``, ``1_000``; ``80%`` is 0.8. Strings: ``"…"`` or ``'…'``, with ``\\"``,
  ``\\'`` and ``\\\\`` escapes. Lists of literals (all numbers or all text) only right of ``in``.
- A name is a feature (a column of the features frame). A weekly series name on its own is its
  latest week (column ``name@w0``).
- Types: number, bool, text, date, list (of text). ``< <= > >=`` compare numbers or dates;
  ``== !=`` also text and bools; both sides have the same type. Arithmetic takes numbers,
  ``and or not`` take bools. ``x in [...]`` needs a list of x's type; ``"text" in list_feature``
  tests membership.
- Functions: ``rising(series, n)`` / ``falling(series, n)`` (strictly up / down each of the last n
  weeks), ``change(series, n)`` ((w0 - wn) / wn), ``days_since(date)``, ``days_until(date)``,
  ``uses("feature", days)``, ``min(a, b, …)``, ``max(a, b, …)``, ``abs(x)``,
  ``coalesce(x, y, …)``, ``missing(x)``, ``known(x)``, ``count(list)``.
- Unknown values (null) follow SQL: a comparison or calculation with null is null; ``and``/``or``
  are three-valued (false and null = false, true or null = true); ``min``/``max`` skip nulls.
  A calculation that is not a finite number (division by zero, overflow) is null. A condition
  that ends up null does not fire.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeAlias, assert_never

import polars as pl

from core.errors import did_you_mean

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "TODAY_COLUMN",
    "Binary",
    "Bool",
    "Call",
    "Compare",
    "Compiled",
    "ExprError",
    "In",
    "ListLit",
    "Name",
    "Node",
    "Number",
    "Schema",
    "String",
    "Type",
    "Unary",
    "check",
    "compile_condition",
    "compile_expr",
    "explain",
    "helper_names",
    "interpret",
    "parse",
    "to_source",
    "uses_column",
]

MAX_LENGTH = 2000
"""Longest accepted source, in characters: a rule condition is one line, not a program."""

MAX_DEPTH = 64
"""Deepest accepted tree: keeps checking, compiling and interpreting far from Python's recursion limit."""

_MAX_NESTING = 40
"""Deepest nesting of parentheses, unary operators and calls while parsing (each costs ~8 stack frames)."""

TODAY_COLUMN = "_today"
"""The Date column every features frame carries: the day the rules run as of (days_since, days_until)."""


class Type(StrEnum):
    number = "number"
    bool = "bool"
    text = "text"
    date = "date"
    list = "list"  # a list of text


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """What an expression may read: the features frame's columns and what the caller can compute."""

    features: Mapping[str, Type]
    """Frame column name → type."""
    series: Mapping[str, int] = field(default_factory=dict)
    """Weekly series name → points held, as columns ``f"{name}@w{i}"`` (w0 = the latest week)."""
    tracked: Sequence[str] = ()
    """Product features that ``uses("name", days)`` may ask for."""


class ExprError(Exception):
    """One problem in one expression, with the 1-based column it is at and maybe a hint."""

    def __init__(self, message: str, column: int, hint: str | None = None) -> None:
        super().__init__(message, column, hint)
        self.message = message
        self.column = column
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} at column {self.column}" + (f" ({self.hint})" if self.hint else "")

    def render(self, source: str) -> str:
        """The message, the source line with a caret under the column, and the hint."""
        offset = min(max(self.column - 1, 0), len(source))
        line_start = source.rfind("\n", 0, offset) + 1
        line_end = source.find("\n", offset)
        line = source[line_start : line_end if line_end >= 0 else len(source)]
        if line_start == 0 and line_end < 0:
            where = f"at column {self.column}"
        else:
            where = f"at line {source.count(chr(10), 0, offset) + 1}, column {offset - line_start + 1}"
        # Keep tabs in the caret line so the caret sits under the right character.
        pad = "".join("\t" if ch == "\t" else " " for ch in source[line_start:offset])
        lines = [f"{self.message} {where}", f"  {line}", f"  {pad}^"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------- nodes
# Positions, the source and annotations never take part in equality: two trees are equal when
# they mean the same thing, wherever they were written.


@dataclass(frozen=True, slots=True)
class _Node:
    start: int = field(default=0, kw_only=True, compare=False)
    """Offset of the node's first character in the source."""
    end: int = field(default=0, kw_only=True, compare=False)
    """Offset just past the node's last character."""
    source: str = field(default="", kw_only=True, compare=False, repr=False)
    """The whole source the node was parsed from ("" for hand-built nodes)."""

    @property
    def text(self) -> str:
        """The node as written (without enclosing parentheses), or pretty-printed if hand-built."""
        if self.source:
            return self.source[self.start : self.end]
        return to_source(self)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Number(_Node):
    value: float
    percent: bool = False
    """Written as a percentage (``80%``, value 0.8): kept so the printer writes it back that way."""


@dataclass(frozen=True, slots=True)
class String(_Node):
    value: str


@dataclass(frozen=True, slots=True)
class Bool(_Node):
    value: bool


@dataclass(frozen=True, slots=True)
class ListLit(_Node):
    items: tuple[Number | String, ...]


@dataclass(frozen=True, slots=True)
class Name(_Node):
    id: str
    type: Type | None = field(default=None, kw_only=True, compare=False)
    """Set by the checker (``Compiled.node``); None in a tree straight from ``parse``."""


@dataclass(frozen=True, slots=True)
class Unary(_Node):
    op: Literal["-", "not"]
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(_Node):
    op: Literal["+", "-", "*", "/", "and", "or"]
    left: Node
    right: Node
    op_start: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Compare(_Node):
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Node
    right: Node
    op_start: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class In(_Node):
    item: Node
    container: Node
    negated: bool = False
    op_start: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Call(_Node):
    name: str
    args: tuple[Node, ...]


Node: TypeAlias = Number | String | Bool | ListLit | Name | Unary | Binary | Compare | In | Call


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Number() | String() | Bool() | Name():
            return ()
        case ListLit(items=items):
            return items
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right) | Compare(left=left, right=right):
            return (left, right)
        case In(item=item, container=container):
            return (item, container)
        case Call(args=args):
            return args
        case _:
            assert_never(node)


# ------------------------------------------------------------------------------------ functions

_FUNCTIONS: dict[str, tuple[str, int]] = {
    # name: (usage shown in hints, number of arguments; 0 = two or more)
    "rising": ("rising(series, weeks)", 2),
    "falling": ("falling(series, weeks)", 2),
    "change": ("change(series, weeks)", 2),
    "days_since": ("days_since(date)", 1),
    "days_until": ("days_until(date)", 1),
    "uses": ('uses("feature", days)', 2),
    "min": ("min(a, b, ...)", 0),
    "max": ("max(a, b, ...)", 0),
    "abs": ("abs(x)", 1),
    "coalesce": ("coalesce(x, y, ...)", 0),
    "missing": ("missing(x)", 1),
    "known": ("known(x)", 1),
    "count": ("count(list)", 1),
}


def helper_names() -> tuple[str, ...]:
    """The functions expressions may call."""
    return tuple(_FUNCTIONS)


def uses_column(feature: str, days: int) -> str:
    """Frame column holding ``uses("feature", days)``: the caller computes it, the expression reads it."""
    return f"uses:{feature}:{days}d"


def _series_column(name: str, week: int) -> str:
    return f"{name}@w{week}"


# ------------------------------------------------------------------------------------ tokenizer

_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RUN = re.compile(r"[0-9][0-9_]*(?:\.[0-9_]*)?")
_NUMBER_OK = re.compile(r"[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?")
_DIGITS = frozenset("0123456789")
_SPACE = frozenset(" \t\r\n")
_ESCAPES = frozenset("\\\"'")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["num", "str", "name", "kw", "op", "end"]
    text: str
    start: int
    end: int
    number: float = 0.0
    percent: bool = False
    string: str = ""

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else f"'{self.text}'"


def _tokenize(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in _SPACE:
            i += 1
        elif _IDENT_START.match(c):
            m = _IDENT.match(src, i)
            assert m is not None
            kind: Literal["kw", "name"] = "kw" if m.group() in _KEYWORDS else "name"
            tokens.append(_Token(kind, m.group(), i, m.end()))
            i = m.end()
        elif c in _DIGITS:
            tokens.append(_number(src, i))
            i = tokens[-1].end
        elif c in "'\"":
            tokens.append(_string(src, i))
            i = tokens[-1].end
        else:
            two = src[i : i + 2]
            if two in _COMPARISONS:
                tokens.append(_Token("op", two, i, i + 2))
                i += 2
            elif c in "()[],+-*/<>":
                if two == "<>":
                    raise ExprError("'<>' is not an operator", i + 1, "use != to compare")
                tokens.append(_Token("op", c, i, i + 1))
                i += 1
            else:
                raise _bad_character(src, i)
    tokens.append(_Token("end", "", n, n))
    return tokens


def _bad_character(src: str, i: int) -> ExprError:
    c, two = src[i], src[i : i + 2]
    if two in ("=<", "=>"):
        return ExprError(f"'{two}' is not an operator", i + 1, f"use {two[::-1]} to compare")
    if c == "=":
        return ExprError("a single '=' does not compare", i + 1, "use == to compare")
    if c == "!":
        return ExprError("'!' is not an operator", i + 1, "use not")
    if c in "&|":
        word = "and" if c == "&" else "or"
        return ExprError(f"'{two if two == c * 2 else c}' is not an operator", i + 1, f"use {word}")
    if c == "%":
        return ExprError("'%' must follow a number", i + 1, "write percentages as 80%")
    if c == "." and src[i + 1 : i + 2] in _DIGITS:
        return ExprError("a number cannot start with '.'", i + 1, "write 0.5, not .5")
    return ExprError(f"unexpected character {c!r}", i + 1)


def _number(src: str, i: int) -> _Token:
    m = _NUMBER_RUN.match(src, i)
    assert m is not None
    end = m.end()
    body = m.group()
    percent = src[end : end + 1] == "%"
    after = src[end + percent : end + percent + 1]
    if after and (_IDENT.match(after) or after in _DIGITS or after == "."):
        j = end + percent
        while j < len(src) and (_IDENT.match(src[j]) or src[j] in _DIGITS or src[j] == "."):
            j += 1
        hint = "exponents are not supported: write the digits" if after in "eE" else None
        raise ExprError(f"invalid number '{src[i:j]}'", i + 1, hint)
    if not _NUMBER_OK.fullmatch(body):
        raise ExprError(
            f"invalid number '{body}'", i + 1, "write digits with single '_' between them, as in 1_000 or 0.5"
        )
    digits = body.replace("_", "")
    value = float(Decimal(digits).scaleb(-2)) if percent else float(digits)
    if not math.isfinite(value):
        raise ExprError("number is too large", i + 1)
    return _Token("num", src[i : end + percent], i, end + percent, number=value, percent=percent)


def _string(src: str, i: int) -> _Token:
    quote = src[i]
    out: list[str] = []
    j = i + 1
    while j < len(src):
        c = src[j]
        if c == quote:
            return _Token("str", src[i : j + 1], i, j + 1, string="".join(out))
        if c == "\\":
            nxt = src[j + 1 : j + 2]
            if nxt not in _ESCAPES or not nxt:
                raise ExprError(
                    f"unknown escape '\\{nxt}'",
                    j + 1,
                    "only \\\" \\' and \\\\ are escapes; write other characters as is",
                )
            out.append(nxt)
            j += 2
        else:
            out.append(c)
            j += 1
    raise ExprError("unterminated string", i + 1, f"add the closing {quote}")


# --------------------------------------------------------------------------------------- parser

_CHAIN_HINT = "comparisons do not chain: join them with and, as in a < b and b < c"


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens = _tokenize(src)
        self.pos = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at(self, kind: str, text: str) -> bool:
        tok = self.peek()
        return tok.kind == kind and tok.text == text

    def at_comparison(self) -> bool:
        tok = self.peek()
        if tok.kind == "op":
            return tok.text in _COMPARISONS
        return tok.kind == "kw" and (tok.text == "in" or (tok.text == "not" and self.peek(1).text == "in"))

    def enter(self, tok: _Token) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise ExprError(f"expression is nested too deeply (more than {_MAX_NESTING} levels)", tok.start + 1)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExprError("empty expression", 1, "write a condition, e.g. seat_utilisation >= 80%")
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise self.trailing(tok)
        return node

    def trailing(self, tok: _Token) -> ExprError:
        if tok.text == ")":
            return ExprError("unmatched ')'", tok.start + 1, "remove it or add a matching '('")
        if tok.kind == "kw" and tok.text == "not":
            return ExprError("expected 'in' after 'not'", self.peek(1).start + 1, "write: x not in [...]")
        hint = "did you forget and / or?"
        if tok.kind == "name" and tok.text.lower() in _KEYWORDS:
            hint = f"keywords are lowercase: use '{tok.text.lower()}'"
        return ExprError(f"unexpected {tok.describe()} after a complete expression", tok.start + 1, hint)

    def or_(self) -> Node:
        left = self.and_()
        while self.at("kw", "or"):
            op = self.advance()
            right = self.and_()
            left = Binary("or", left, right, start=left.start, end=right.end, op_start=op.start, source=self.src)
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.at("kw", "and"):
            op = self.advance()
            right = self.not_()
            left = Binary("and", left, right, start=left.start, end=right.end, op_start=op.start, source=self.src)
        return left

    def not_(self) -> Node:
        return self.prefix("kw", "not", self.not_, self.comparison)

    def prefix(self, kind: str, op: str, same: Callable[[], Node], below: Callable[[], Node]) -> Node:
        """A prefix operator level: ``op same`` (nesting-checked), else the next level ``below``."""
        if not self.at(kind, op):
            return below()
        tok = self.advance()
        self.enter(tok)
        operand = same()
        self.nesting -= 1
        unary_op: Any = op
        return Unary(unary_op, operand, start=tok.start, end=operand.end, source=self.src)

    def comparison(self) -> Node:
        left = self.sum_()
        if not self.at_comparison():
            return left
        op = self.advance()
        node: Node
        if op.kind == "op":
            right = self.sum_()
            cmp_op: Any = op.text
            node = Compare(cmp_op, left, right, start=left.start, end=right.end, op_start=op.start, source=self.src)
        else:
            negated = op.text == "not"
            if negated:
                self.advance()
            right = self.sum_()
            node = In(left, right, negated, start=left.start, end=right.end, op_start=op.start, source=self.src)
        if self.at_comparison():
            raise ExprError("comparisons cannot be chained", self.peek().start + 1, _CHAIN_HINT)
        return node

    def sum_(self) -> Node:
        return self.arithmetic(("+", "-"), self.product)

    def product(self) -> Node:
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, ops: tuple[str, str], operand: Callable[[], Node]) -> Node:
        """One left-associative level of arithmetic: ``operand (op operand)*``."""
        left = operand()
        while self.peek().kind == "op" and self.peek().text in ops:
            op = self.advance()
            right = operand()
            arith: Any = op.text
            left = Binary(arith, left, right, start=left.start, end=right.end, op_start=op.start, source=self.src)
        return left

    def unary(self) -> Node:
        return self.prefix("op", "-", self.unary, self.primary)

    def primary(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            return Number(tok.number, tok.percent, start=tok.start, end=tok.end, source=self.src)
        if tok.kind == "str":
            return String(tok.string, start=tok.start, end=tok.end, source=self.src)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return Bool(tok.text == "true", start=tok.start, end=tok.end, source=self.src)
        if tok.kind == "name":
            if self.at("op", "("):
                return self.call(tok)
            return Name(tok.text, start=tok.start, end=tok.end, source=self.src)
        if tok.text == "(" and tok.kind == "op":
            self.enter(tok)
            inner = self.or_()
            self.nesting -= 1
            self.close(tok, ")")
            return inner
        if tok.text == "[" and tok.kind == "op":
            return self.list_(tok)
        raise self.expected_value(tok)

    def expected_value(self, tok: _Token) -> ExprError:
        if tok.kind == "end":
            prev = self.tokens[self.pos - 2] if self.pos >= 2 else None
            after = f" after '{prev.text}'" if prev else ""
            return ExprError(f"expected a value{after}, found the end of the expression", tok.start + 1)
        if tok.kind == "kw" and tok.text == "not":
            return ExprError("unexpected 'not'", tok.start + 1, "put it in parentheses: (not ...)")
        if tok.text == "+":
            return ExprError("unexpected '+'", tok.start + 1, "numbers need no leading +")
        return ExprError(f"expected a value, found {tok.describe()}", tok.start + 1)

    def close(self, opener: _Token, closer: str, *, items: bool = False) -> _Token:
        tok = self.peek()
        if tok.kind == "op" and tok.text == closer:
            return self.advance()
        if tok.kind == "end":
            raise ExprError(f"unclosed '{opener.text}'", opener.start + 1, f"add a matching '{closer}'")
        if tok.kind == "op" and tok.text in ")]":
            raise ExprError(f"'{tok.text}' does not match '{opener.text}' at column {opener.start + 1}", tok.start + 1)
        expected = f"',' or '{closer}'" if items else f"'{closer}' or an operator"
        raise ExprError(f"expected {expected}, found {tok.describe()}", tok.start + 1)

    def call(self, name: _Token) -> Node:
        paren = self.advance()
        self.enter(name)
        args: list[Node] = []
        if not self.at("op", ")"):
            args.append(self.or_())
            while self.at("op", ","):
                self.advance()
                args.append(self.or_())
        self.nesting -= 1
        end = self.close(paren, ")", items=True)
        return Call(name.text, tuple(args), start=name.start, end=end.end, source=self.src)

    def list_(self, bracket: _Token) -> Node:
        items: list[Number | String] = []
        while not self.at("op", "]"):
            items.append(self.list_item(bracket))
            if not self.at("op", ","):
                break
            self.advance()
        end = self.close(bracket, "]", items=True)
        if not items:
            raise ExprError("empty list", bracket.start + 1, "a list needs at least one item")
        return ListLit(tuple(items), start=bracket.start, end=end.end, source=self.src)

    def list_item(self, bracket: _Token) -> Number | String:
        tok = self.advance()
        if tok.kind == "str":
            return String(tok.string, start=tok.start, end=tok.end, source=self.src)
        sign, start = 1.0, tok.start
        if tok.kind == "op" and tok.text == "-":
            sign, tok = -1.0, self.advance()
        if tok.kind == "num":
            return Number(sign * tok.number, tok.percent, start=start, end=tok.end, source=self.src)
        if tok.kind == "end":
            raise ExprError("unclosed '['", bracket.start + 1, "add a matching ']'")
        raise ExprError("list items must be numbers or quoted text", tok.start + 1)


def _check_depth(root: Node) -> None:
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", node.start + 1)
        stack.extend((child, depth + 1) for child in _children(node))


def parse(source: str) -> Node:
    """Source → untyped tree. Raises ExprError for any syntax problem, with its column."""
    if len(source) > MAX_LENGTH:
        raise ExprError(f"expression is too long ({len(source)} characters, at most {MAX_LENGTH})", MAX_LENGTH + 1)
    node = _Parser(source).parse()
    _check_depth(node)
    return node


# -------------------------------------------------------------------------------------- printer

_ATOM = 8


def _plain_decimal(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number_text(value: float, percent: bool) -> str:
    # repr is the shortest text that reads back as the same double; Decimal writes it without
    # an exponent (the grammar has none), and shifting by 2 decimal places is exact.
    d = Decimal(repr(value))
    return _plain_decimal(d.scaleb(2)) + "%" if percent else _plain_decimal(d)


def _string_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_BINARY_PREC = {"or": 1, "and": 2, "+": 5, "-": 5, "*": 6, "/": 6}


def _fmt(node: Node) -> tuple[str, int]:
    match node:
        case Number(value=value, percent=percent):
            text = _number_text(value, percent)
            return text, 7 if text.startswith("-") else _ATOM
        case String(value=value):
            return _string_text(value), _ATOM
        case Bool(value=value):
            return ("true" if value else "false"), _ATOM
        case Name(id=name):
            return name, _ATOM
        case ListLit(items=items):
            return "[" + ", ".join(_fmt(item)[0] for item in items) + "]", _ATOM
        case Call(name=name, args=args):
            return f"{name}({', '.join(to_source(arg) for arg in args)})", _ATOM
        case Unary(op="-", operand=operand):
            text = _wrap(operand, 7)
            return "-" + (f"({text})" if text.startswith("-") else text), 7
        case Unary(operand=operand):
            return "not " + _wrap(operand, 3), 3
        case Binary(op=op, left=left, right=right):
            prec = _BINARY_PREC[op]
            return f"{_wrap(left, prec)} {op} {_wrap(right, prec + 1)}", prec
        case Compare(op=op, left=left, right=right):
            return f"{_wrap(left, 5)} {op} {_wrap(right, 5)}", 4
        case In(item=item, container=container, negated=negated):
            return f"{_wrap(item, 5)} {'not in' if negated else 'in'} {_wrap(container, 5)}", 4
        case _:
            assert_never(node)


def _wrap(node: Node, min_prec: int) -> str:
    text, prec = _fmt(node)
    return text if prec >= min_prec else f"({text})"


def to_source(node: Node) -> str:
    """Canonical source of a tree; ``parse(to_source(n)) == n`` (equality ignores positions)."""
    return _fmt(node)[0]


# -------------------------------------------------------------------------------------- checker


def _col(node: Node) -> int:
    return node.start + 1


_NOUN = {Type.number: "a number", Type.bool: "true/false", Type.text: "text", Type.date: "a date", Type.list: "a list"}


def _a(t: Type) -> str:
    return _NOUN[t]


def _whole(node: Node) -> int | None:
    """The value of a plain whole-number literal, else None."""
    if isinstance(node, Number) and not node.percent and node.value.is_integer():
        return int(node.value)
    return None


class _Checker:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def name_type(self, node: Name) -> Type:
        if node.id in self.schema.features:
            return self.schema.features[node.id]
        if node.id in self.schema.series:
            return Type.number
        hint = did_you_mean(node.id, [*self.schema.features, *self.schema.series])
        if node.id in _FUNCTIONS:
            hint = f"{node.id} is a function: {_FUNCTIONS[node.id][0]}"
        elif node.id.lower() in _KEYWORDS:
            hint = f"keywords are lowercase: use '{node.id.lower()}'"
        elif node.id.lower() in ("null", "none", "nil"):
            hint = "test for a missing value with missing(x) or known(x)"
        raise ExprError(f"unknown feature '{node.id}'", _col(node), hint)

    def check(self, node: Node) -> tuple[Node, Type]:
        match node:
            case Number():
                return node, Type.number
            case String():
                return node, Type.text
            case Bool():
                return node, Type.bool
            case ListLit():
                raise ExprError(
                    "a list is only allowed on the right of 'in'", _col(node), 'as in plan in ["pro", "team"]'
                )
            case Name():
                t = self.name_type(node)
                return replace(node, type=t), t
            case Unary(op="-", operand=operand):
                return replace(node, operand=self.expect(operand, Type.number, "'-' needs a number")), Type.number
            case Unary(operand=operand):
                return replace(node, operand=self.expect(operand, Type.bool, "'not' needs true/false")), Type.bool
            case Binary(op=op, left=left, right=right):
                want = Type.bool if op in ("and", "or") else Type.number
                needs = f"'{op}' needs " + ("true/false values" if want == Type.bool else "numbers")
                typed_left, typed_right = self.expect(left, want, needs), self.expect(right, want, needs)
                return replace(node, left=typed_left, right=typed_right), want
            case Compare():
                return self.compare(node), Type.bool
            case In():
                return self.in_(node), Type.bool
            case Call():
                return self.call(node)
            case _:
                assert_never(node)

    def expect(self, node: Node, want: Type, needs: str) -> Node:
        """The typed node, if it has type ``want``; else an error "{needs}, not {its type}" at it."""
        typed, t = self.check(node)
        if t != want:
            hint = f"compare it, as in {node.text} > 0" if want == Type.bool and t == Type.number else None
            raise ExprError(f"{needs}, not {_NOUN[t]}", _col(node), hint)
        return typed

    def compare(self, node: Compare) -> Node:
        left, lt = self.check(node.left)
        right, rt = self.check(node.right)
        at = node.op_start + 1
        if Type.list in (lt, rt):
            raise ExprError("lists cannot be compared", at, 'use "x" in list, or count(list)')
        if lt != rt:
            hint = None
            if Type.date in (lt, rt):
                hint = "dates compare with dates; for a number of days use days_since(d) or days_until(d)"
            elif {lt, rt} == {Type.text, Type.number}:
                hint = 'text values are quoted, as in plan == "3"'
            raise ExprError(f"cannot compare {lt} with {rt}", at, hint)
        if node.op not in ("==", "!=") and lt in (Type.text, Type.bool):
            raise ExprError(f"{lt} values cannot be ordered with '{node.op}'", at, f"{lt} supports only == and !=")
        return replace(node, left=left, right=right)

    def in_(self, node: In) -> Node:
        item, it = self.check(node.item)
        at = node.op_start + 1
        op = "not in" if node.negated else "in"
        if isinstance(node.container, ListLit):
            lst = node.container
            elem = Type.number if isinstance(lst.items[0], Number) else Type.text
            for x in lst.items:
                if (Type.number if isinstance(x, Number) else Type.text) != elem:
                    raise ExprError("list items must be all numbers or all text", _col(x))
            if it != elem:
                raise ExprError(
                    f"cannot look for {_a(it)} in a list of {'numbers' if elem == Type.number else 'text'}", at
                )
            return replace(node, item=item)
        container, ct = self.check(node.container)
        if ct != Type.list:
            raise ExprError(
                f"the right side of '{op}' must be a list, not {_a(ct)}",
                _col(node.container),
                'write a list, as in plan in ["pro", "team"]',
            )
        if it != Type.text:
            raise ExprError(f"a list feature holds text: cannot look for {_a(it)} in it", at)
        return replace(node, item=item, container=container)

    def call(self, node: Call) -> tuple[Node, Type]:
        name, args = node.name, node.args
        if name not in _FUNCTIONS:
            hint = did_you_mean(name, list(_FUNCTIONS))
            if name in self.schema.features:
                hint = f"'{name}' is a feature, not a function"
            raise ExprError(f"unknown function '{name}'", _col(node), hint)
        usage, arity = _FUNCTIONS[name]
        if len(args) < 2 if arity == 0 else len(args) != arity:
            want = "at least 2 arguments" if arity == 0 else "1 argument" if arity == 1 else f"{arity} arguments"
            raise ExprError(f"{name}() takes {want}, got {len(args)}", _col(node), f"write {usage}")
        typed: list[Node]
        if name in ("rising", "falling", "change"):
            self.series_args(node)
            return node, Type.number if name == "change" else Type.bool
        if name == "uses":
            self.uses_args(node)
            return node, Type.number
        if name in ("days_since", "days_until"):
            return replace(node, args=(self.expect(args[0], Type.date, f"{name}() needs a date"),)), Type.number
        if name in ("min", "max"):
            typed = [self.expect(a, Type.number, f"{name}() needs numbers") for a in args]
            return replace(node, args=tuple(typed)), Type.number
        if name == "abs":
            return replace(node, args=(self.expect(args[0], Type.number, "abs() needs a number"),)), Type.number
        if name == "count":
            return replace(node, args=(self.expect(args[0], Type.list, "count() needs a list feature"),)), Type.number
        if name in ("missing", "known"):
            arg, _ = self.check(args[0])
            return replace(node, args=(arg,)), Type.bool
        # coalesce
        first, t = self.check(args[0])
        if t == Type.list:
            raise ExprError("coalesce() takes numbers, text, dates or bools, not a list", _col(args[0]))
        typed = [first]
        for arg in args[1:]:
            typed_arg, arg_t = self.check(arg)
            if arg_t != t:
                raise ExprError(f"coalesce() needs arguments of one type: {_a(t)}, then {_a(arg_t)}", _col(arg))
            typed.append(typed_arg)
        return replace(node, args=tuple(typed)), t

    def series_args(self, node: Call) -> None:
        series, weeks = node.args
        if not isinstance(series, Name) or series.id not in self.schema.series:
            known = list(self.schema.series)
            got = f"'{series.id}' is not one" if isinstance(series, Name) else "got an expression"
            hint = did_you_mean(series.id, known) if isinstance(series, Name) else None
            if hint is None:
                hint = f"weekly series: {', '.join(known)}" if known else "no weekly series are configured"
            raise ExprError(f"{node.name}() needs a weekly series name first; {got}", _col(series), hint)
        points = self.schema.series[series.id]
        n = _whole(weeks)
        if n is None or not 1 <= n < points:
            raise ExprError(
                f"{node.name}()'s weeks must be a whole number from 1 to {points - 1}",
                _col(weeks),
                f"'{series.id}' holds {points} weekly points",
            )

    def uses_args(self, node: Call) -> None:
        feature, days = node.args
        if not isinstance(feature, String):
            raise ExprError(
                "uses() needs a product feature name in quotes first", _col(feature), 'as in uses("export", 30)'
            )
        if feature.value not in self.schema.tracked:
            hint = did_you_mean(feature.value, list(self.schema.tracked))
            if hint is None:
                tracked = ", ".join(self.schema.tracked)
                hint = f"tracked features: {tracked}" if tracked else "no product features are tracked"
            raise ExprError(f"'{feature.value}' is not a tracked product feature", _col(feature), hint)
        n = _whole(days)
        if n is None or not 1 <= n <= 365:
            raise ExprError("uses()'s days must be a whole number from 1 to 365", _col(days))


def _annotate(node: Node, schema: Schema) -> tuple[Node, Type]:
    _check_depth(node)
    return _Checker(schema).check(node)


def check(node: Node, schema: Schema) -> Type:
    """The expression's type; raises ExprError for unknown names, type errors and bad arguments."""
    return _annotate(node, schema)[1]


# ------------------------------------------------------------------------------------- compiler

# Polars must give the very doubles Python gives, and never NaN or inf. Two traps, both checked:
# ``Expr.fill_nan`` and a ``when/then`` repeat their input, doubling the expression at every
# nesting level, so a computed value is referenced once only; and dividing by a constant (a
# literal, or a constant column) multiplies by its reciprocal, which can differ from ``a / b``
# in the last bit, so the divisor is first made an ordinary column.


def _no_inf(e: pl.Expr) -> pl.Expr:
    """Overflow to ±inf becomes null; the only non-finite results of + - * / on finite numbers."""
    return e.replace([math.inf, -math.inf], None)


def _divide(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """``a / b``, correctly rounded; null when b is 0 (so 0/0 never makes a NaN)."""
    materialised = b + pl.int_range(pl.len()).cast(pl.Float64) * 0.0
    return _no_inf(a / materialised.replace(0.0, None))


def _finite_column(column: str) -> pl.Expr:
    """A number column as Float64, NaN and ±inf read as null (a leaf: repeating it is cheap)."""
    c = pl.col(column).cast(pl.Float64)
    return pl.when(c.is_finite()).then(c)


_POLARS_CMP: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


_DTYPES: dict[Type, pl.DataType] = {
    Type.number: pl.Float64(),
    Type.bool: pl.Boolean(),
    Type.text: pl.String(),
    Type.date: pl.Date(),
    Type.list: pl.List(pl.String()),
}
_FRAME_FUNCTIONS = frozenset({"rising", "falling", "change", "uses", "days_since", "days_until"})


def _flat_coalesce(args: Sequence[Node]) -> list[Node]:
    """coalesce(coalesce(a, b), c) is coalesce(a, b, c)."""
    out: list[Node] = []
    for arg in args:
        out.extend(_flat_coalesce(arg.args) if isinstance(arg, Call) and arg.name == "coalesce" else [arg])
    return out


def _constant(node: Node) -> bool:
    """Whether the node's value is the same on every row: it reads no column it needs."""
    if isinstance(node, Name) or (isinstance(node, Call) and node.name in _FRAME_FUNCTIONS):
        return False
    if isinstance(node, Call) and node.name == "coalesce":
        for arg in _flat_coalesce(node.args):
            if not _constant(arg):
                return False
            if interpret(arg, {}) is not None:
                return True
        return True
    return all(_constant(child) for child in _children(node))


class _Compiler:
    """Typed tree → polars expression.

    A constant subtree is evaluated here, by the interpreter, into one literal: polars
    simplifies constant subexpressions its own way (``1 == coalesce(1, x)`` comes out one row long
    in polars 2.1), so it never sees one.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def constant(self, node: Node) -> pl.Expr:
        return pl.lit(interpret(node, {}), dtype=_DTYPES[_Checker(self.schema).check(node)[1]])

    def expr(self, node: Node) -> pl.Expr:
        if _constant(node):
            return self.constant(node)
        match node:
            case Number() | String() | Bool() | ListLit():
                raise AssertionError("a literal reads the frame")
            case Name(id=name):
                if name not in self.schema.features:
                    return _finite_column(_series_column(name, 0))
                if self.schema.features[name] == Type.number:
                    return _finite_column(name)
                return pl.col(name)
            case Unary(op="-", operand=operand):
                return -self.expr(operand)
            case Unary(operand=operand):
                return ~self.expr(operand)
            case Binary(op="and", left=left, right=right):
                return self.expr(left) & self.expr(right)
            case Binary(op="or", left=left, right=right):
                return self.expr(left) | self.expr(right)
            case Binary(op=op, left=left, right=right):
                a, b = self.expr(left), self.expr(right)
                if op == "/":
                    return _divide(a, b)
                return _no_inf(a + b if op == "+" else a - b if op == "-" else a * b)
            case Compare(op=op, left=left, right=right):
                return _POLARS_CMP[op](self.expr(left), self.expr(right))
            case In(item=item, container=container, negated=negated):
                found = self.in_(item, container)
                return ~found if negated else found
            case Call():
                return self.call(node)
            case _:
                assert_never(node)

    def in_(self, item: Node, container: Node) -> pl.Expr:
        if isinstance(container, ListLit):
            return self.expr(item).is_in([lit.value for lit in container.items])
        # list.contains says false for a null item; SQL says null.
        if _constant(item):
            value = interpret(item, {})
            if value is None:
                return pl.lit(None, dtype=pl.Boolean)
            return self.expr(container).list.contains(pl.lit(value, dtype=pl.String))
        x = self.expr(item)
        return pl.when(x.is_not_null()).then(self.expr(container).list.contains(x))

    def call(self, node: Call) -> pl.Expr:
        name, args = node.name, node.args
        if name in ("rising", "falling", "change"):
            series, weeks = args
            assert isinstance(series, Name) and isinstance(weeks, Number)
            points = [_finite_column(_series_column(series.id, i)) for i in range(int(weeks.value) + 1)]
            if name == "change":
                return _divide(points[0] - points[-1], points[-1])
            steps = [(a > b) if name == "rising" else (a < b) for a, b in itertools.pairwise(points)]
            return pl.when(pl.all_horizontal([p.is_not_null() for p in points])).then(pl.all_horizontal(steps))
        if name == "uses":
            feature, days = args
            assert isinstance(feature, String) and isinstance(days, Number)
            return _finite_column(uses_column(feature.value, int(days.value)))
        if name in ("days_since", "days_until"):
            d, today = self.expr(args[0]), pl.col(TODAY_COLUMN)
            delta = today - d if name == "days_since" else d - today
            return delta.dt.total_days().cast(pl.Float64)
        if name == "coalesce":
            return self.coalesce(args)
        compiled = [self.expr(a) for a in args]
        if name == "min":
            return pl.min_horizontal(compiled)
        if name == "max":
            return pl.max_horizontal(compiled)
        if name == "abs":
            return compiled[0].abs()
        if name == "missing":
            return compiled[0].is_null()
        if name == "known":
            return compiled[0].is_not_null()
        if name == "count":
            return compiled[0].list.len().cast(pl.Float64)
        raise AssertionError(f"function {name} passed the checker but has no compilation")

    def coalesce(self, args: tuple[Node, ...]) -> pl.Expr:
        # Flattened, with constants folded: a known one ends the list, a null one drops out.
        # Polars mishandles a coalesce that starts with a constant (see the class docstring).
        parts: list[pl.Expr] = []
        for arg in _flat_coalesce(args):
            if not _constant(arg):
                parts.append(self.expr(arg))
            elif interpret(arg, {}) is not None:
                parts.append(self.constant(arg))
                break
        return parts[0] if len(parts) == 1 else pl.coalesce(parts)


def _references(node: Node, schema: Schema) -> tuple[set[str], set[tuple[str, int]], dict[str, None]]:
    """Frame columns, uses() pairs and names the tree reads, names in source order."""
    columns: set[str] = set()
    uses: set[tuple[str, int]] = set()
    names: dict[str, None] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            names.setdefault(n.id, None)
            columns.add(n.id if n.id in schema.features else _series_column(n.id, 0))
        elif isinstance(n, Call) and n.name in ("rising", "falling", "change"):
            series, weeks = n.args
            assert isinstance(series, Name) and isinstance(weeks, Number)
            names.setdefault(series.id, None)
            columns.update(_series_column(series.id, i) for i in range(int(weeks.value) + 1))
            continue
        elif isinstance(n, Call) and n.name == "uses":
            feature, days = n.args
            assert isinstance(feature, String) and isinstance(days, Number)
            uses.add((feature.value, int(days.value)))
            columns.add(uses_column(feature.value, int(days.value)))
            continue
        elif isinstance(n, Call) and n.name in ("days_since", "days_until"):
            columns.add(TODAY_COLUMN)
        stack.extend(reversed(_children(n)))
    return columns, uses, names


@dataclass(frozen=True, slots=True, eq=False)
class Compiled:
    """One checked expression, compiled once; evaluate ``expr`` over the whole features frame.

    Evaluate it with ``frame.with_columns(expr.alias(...))`` (or ``select`` alongside a column):
    an expression of literals alone is a single value that only ``with_columns`` broadcasts.
    """

    source: str
    node: Node
    """The typed tree: names carry their type."""
    type: Type
    expr: pl.Expr
    columns: frozenset[str]
    """Every frame column the expression names: features, ``name@wN`` series points, uses columns, ``_today``."""
    uses: frozenset[tuple[str, int]]
    """(product feature, days) pairs the caller must provide as ``uses_column(feature, days)``."""
    names: tuple[str, ...]
    """Features and series named, in order of first appearance (for explanations)."""


def compile_expr(source: str, schema: Schema, *, expect: Type | None = None) -> Compiled:
    """Parse, type-check and compile; raises ExprError (with ``expect``, for a result of another type too)."""
    node, t = _annotate(parse(source), schema)
    if expect is not None and t != expect:
        hint = f"compare it, as in {source.strip()} > 0" if expect == Type.bool and t == Type.number else None
        what = "a condition must be true or false" if expect == Type.bool else f"expected {_a(expect)}"
        raise ExprError(f"{what}, but this is {_a(t)}", 1, hint)
    columns, uses, names = _references(node, schema)
    return Compiled(
        source=source,
        node=node,
        type=t,
        expr=_Compiler(schema).expr(node),
        columns=frozenset(columns),
        uses=frozenset(uses),
        names=tuple(names),
    )


def compile_condition(source: str, schema: Schema) -> Compiled:
    """A bool expression whose ``expr`` is never null: an unknown outcome does not fire."""
    compiled = compile_expr(source, schema, expect=Type.bool)
    return replace(compiled, expr=compiled.expr.fill_null(False))


# ---------------------------------------------------------------------------------- interpreter


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _lookup(row: Mapping[str, Any], name: str) -> Any:
    if name in row:
        return row[name]
    series = _series_column(name, 0)
    if series in row:
        return row[series]
    raise KeyError(f"row has no column {name!r} (nor {series!r})")


_PY_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def interpret(node: Node, row: Mapping[str, Any]) -> Any:
    """Evaluate over one row of Python values (None is null): the reference for the polars compilation."""
    match node:
        case Number(value=value):
            return float(value)
        case String(value=value) | Bool(value=value):
            return value
        case ListLit(items=items):
            return [item.value for item in items]
        case Name(id=name):
            value = _lookup(row, name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _num(value)
            return value
        case Unary(op="-", operand=operand):
            v = interpret(operand, row)
            return None if v is None else -v
        case Unary(operand=operand):
            v = interpret(operand, row)
            return None if v is None else not v
        case Binary(op="and", left=left, right=right):
            return _and(interpret(left, row), interpret(right, row))
        case Binary(op="or", left=left, right=right):
            return _or(interpret(left, row), interpret(right, row))
        case Binary(op=op, left=left, right=right):
            a, b = interpret(left, row), interpret(right, row)
            if a is None or b is None:
                return None
            if op == "/":
                return None if b == 0 else _num(a / b)
            return _num(a + b if op == "+" else a - b if op == "-" else a * b)
        case Compare(op=op, left=left, right=right):
            a, b = interpret(left, row), interpret(right, row)
            return None if a is None or b is None else _PY_CMP[op](a, b)
        case In(item=item, container=container, negated=negated):
            x, xs = interpret(item, row), interpret(container, row)
            if x is None or xs is None:
                return None
            return (x in xs) != negated
        case Call():
            return _interpret_call(node, row)
        case _:
            assert_never(node)


def _interpret_call(node: Call, row: Mapping[str, Any]) -> Any:
    name, args = node.name, node.args
    if name in ("rising", "falling", "change"):
        series, weeks = args
        assert isinstance(series, Name) and isinstance(weeks, Number)
        points = [_num(row[_series_column(series.id, i)]) for i in range(int(weeks.value) + 1)]
        if name == "change":
            first, last = points[0], points[-1]
            return None if first is None or last is None or last == 0 else _num((first - last) / last)
        present = [p for p in points if p is not None]
        if len(present) < len(points):
            return None
        cmp = operator.gt if name == "rising" else operator.lt
        return all(cmp(a, b) for a, b in itertools.pairwise(present))
    if name == "uses":
        feature, days = args
        assert isinstance(feature, String) and isinstance(days, Number)
        return _num(row[uses_column(feature.value, int(days.value))])
    if name == "coalesce":  # lazily, like SQL: later arguments are not evaluated (nor need their columns)
        return next((v for v in (interpret(a, row) for a in args) if v is not None), None)
    values = [interpret(a, row) for a in args]
    if name in ("days_since", "days_until"):
        today, d = row[TODAY_COLUMN], values[0]
        if today is None or d is None:
            return None
        return float(((today - d) if name == "days_since" else (d - today)).days)
    if name in ("min", "max"):
        present = [v for v in values if v is not None]
        return (min(present) if name == "min" else max(present)) if present else None
    if name == "abs":
        return None if values[0] is None else abs(values[0])
    if name == "missing":
        return values[0] is None
    if name == "known":
        return values[0] is not None
    if name == "count":
        return None if values[0] is None else float(len(values[0]))
    raise ValueError(f"unknown function {name!r}")


def explain(node: Node, row: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Each comparison, function call and bare bool feature as written, with its value on this row.

    In source order, outer before inner: what a rep reads to see why a rule fired.
    """
    out: list[tuple[str, Any]] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Compare | In | Call):
            out.append((n.text, interpret(n, row)))
        elif isinstance(n, Name):
            value = row.get(n.id)
            if n.type == Type.bool or (n.type is None and isinstance(value, bool)):
                out.append((n.text, value))
        if not (isinstance(n, Call) and n.name in ("rising", "falling", "change", "uses")):
            stack.extend(reversed(_children(n)))
    return out
