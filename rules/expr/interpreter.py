"""The reference interpreter: a tree over one row of Python values, and the explanation of why a rule fired."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, assert_never

from rules.expr.functions import (
    CROSSING_FUNCTIONS,
    DAY_FUNCTIONS,
    LITERAL_FUNCTIONS,
    PRODUCT_FUNCTIONS,
    SERIES_FUNCTIONS,
    TODAY_COLUMN,
    WINDOW_FUNCTIONS,
    crossing_args,
    daily_column,
    product_args,
    product_column,
    series_args,
    series_column,
    streak_args,
    uses_args,
    uses_column,
    window_args,
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
    if name in WINDOW_FUNCTIONS:
        series, days = window_args(node)
        return _window(name, row[daily_column(series)], days)
    if name in CROSSING_FUNCTIONS:
        series, threshold_node, days = crossing_args(node)
        return _crossed(name, row[daily_column(series)], interpret(threshold_node, row), days)
    if name == "streak":
        series, op, threshold_node = streak_args(node)
        values, threshold = row[daily_column(series)], interpret(threshold_node, row)
        if values is None or threshold is None:
            return None
        return float(_run(values, lambda v: OPERATORS[op](v, threshold)))
    if name == "started":
        series, op, threshold_node = streak_args(node)
        values, threshold = row[daily_column(series)], interpret(threshold_node, row)
        if values is None or threshold is None or row[TODAY_COLUMN] is None:
            return None
        run = _run(values, lambda v: OPERATORS[op](v, threshold))
        return row[TODAY_COLUMN] - timedelta(days=run) if 0 < run < len(values) else None
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


def _run(values: Sequence[float | None], holds: Callable[[float], bool]) -> int:
    """Days in a row, ending with the last, on which ``holds``; an unknown day ends the run."""
    n = 0
    for v in reversed(values):
        if v is None or not holds(v):
            break
        n += 1
    return n


def _window(name: str, values: Sequence[float | None] | None, days: int) -> float | None:
    """``ago``, ``delta``, ``change_over`` and the ``*_over`` aggregates over one daily series."""
    if values is None:
        return None
    if name in ("ago", "delta", "change_over"):
        back = days if name == "ago" else days + 1  # delta / change_over: n days before the latest
        base = values[-back] if back <= len(values) else None
        latest = values[-1] if values else None
        if name == "ago":
            return _num(base)
        if base is None or latest is None:
            return None
        if name == "delta":
            return _num(latest - base)
        return None if base == 0 else _num((latest - base) / base)
    known = [v for v in values[-days:] if v is not None]
    if not known:
        return None
    if name == "min_over":
        return _num(min(known))
    if name == "max_over":
        return _num(max(known))
    total = _num(sum(known))
    if name == "sum_over" or total is None:
        return total
    return _num(total / len(known))


def _crossed(name: str, values: Sequence[float | None] | None, threshold: Any, days: int) -> bool | None:
    """The latest day on the new side of ``threshold`` after at least ``days`` known days in a row
    on the other side, right before the run on the new side began."""
    if values is None or threshold is None or not values or values[-1] is None:
        return None

    def new_side(v: float) -> bool:
        return bool(v >= threshold) if name == "crossed_above" else bool(v < threshold)

    run = _run(values, new_side)
    if run == 0:
        return False
    before = _run(values[:-run], lambda v: not new_side(v))
    return before >= days


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
        if isinstance(n, Call) and n.name in ("streak", "started"):
            # its comparison is of every day, not of the latest value: only the threshold is a value
            stack.append(streak_args(n)[2])
        elif not (isinstance(n, Call) and n.name in LITERAL_FUNCTIONS):
            stack.extend(reversed(children(n)))
    return out
