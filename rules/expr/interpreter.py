"""The reference interpreter: a tree over one row of Python values, and the explanation of why a rule fired."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, assert_never

from rules.expr.functions import (
    DAY_FUNCTIONS,
    LITERAL_FUNCTIONS,
    PRODUCT_FUNCTIONS,
    SERIES_FUNCTIONS,
    TODAY_COLUMN,
    product_args,
    product_column,
    series_args,
    series_column,
    uses_args,
    uses_column,
)
from rules.expr.nodes import Binary, Bool, Call, Compare, In, ListLit, Name, Node, Number, String, Type, Unary, children

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
"""The comparisons and the arithmetic but division: the same on Python values and on polars expressions."""


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _lookup(row: Mapping[str, Any], name: str) -> Any:
    if name in row:
        return row[name]
    series = series_column(name, 0)
    if series in row:
        return row[series]
    raise KeyError(f"row has no column {name!r} (nor {series!r})")


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
        case Unary(op=op, operand=operand):
            v = interpret(operand, row)
            return None if v is None else (-v if op == "-" else not v)
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
            return _num(OPERATORS[op](a, b))
        case Compare(op=op, left=left, right=right):
            a, b = interpret(left, row), interpret(right, row)
            return None if a is None or b is None else OPERATORS[op](a, b)
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
    if name in SERIES_FUNCTIONS:
        points = [_num(row[column]) for column in series_args(node)[1]]
        if name == "change":
            first, last = points[0], points[-1]
            return None if first is None or last is None or last == 0 else _num((first - last) / last)
        present = [p for p in points if p is not None]
        if len(present) < len(points):
            return None
        cmp = operator.gt if name == "rising" else operator.lt
        return all(cmp(a, b) for a, b in itertools.pairwise(present))
    if name == "uses":
        return _num(row[uses_column(*uses_args(node))])
    if name in PRODUCT_FUNCTIONS:
        value = row.get(product_column(*product_args(node)))
        return bool(value) if name == "owns" else value
    if name == "coalesce":  # lazily, like SQL: later arguments are not evaluated (nor need their columns)
        return next((v for v in (interpret(a, row) for a in args) if v is not None), None)
    values = [interpret(a, row) for a in args]
    if name in DAY_FUNCTIONS:
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
        if not (isinstance(n, Call) and n.name in LITERAL_FUNCTIONS):
            stack.extend(reversed(children(n)))
    return out
