"""The typed tree of an expression: its types, the schema it reads, its errors, its nodes and how they print."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Literal, TypeAlias, assert_never

MAX_DEPTH = 64
"""Deepest accepted tree: keeps checking, compiling and interpreting far from Python's recursion limit."""


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
    daily: Sequence[str] = ()
    """Daily series names (``ago(name, days)``…), as list columns ``f"{name}@d"``: oldest day first, yesterday last."""
    series_days: int = 180
    """How many days back a daily series function may look (``[features] series_days``)."""


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


def children(node: Node) -> tuple[Node, ...]:
    """The node's direct subtrees, in source order."""
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


def check_depth(root: Node) -> None:
    """Raise ExprError for a tree deeper than MAX_DEPTH, at the first too-deep node found."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", node.start + 1)
        stack.extend((child, depth + 1) for child in children(node))


# -- printing: a tree → its canonical source, with the fewest parentheses that keep its meaning --

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
