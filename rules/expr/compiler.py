"""The polars compiler: a checked tree → one polars expression over the whole features frame."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import assert_never

import polars as pl

from rules.expr.checker import Checker, annotate, condition_hint, noun
from rules.expr.functions import (
    CROSSING_FUNCTIONS,
    DAILY_FUNCTIONS,
    DAY_FUNCTIONS,
    FRAME_FUNCTIONS,
    PRODUCT_FUNCTIONS,
    SERIES_FUNCTIONS,
    TODAY_COLUMN,
    WINDOW_FUNCTIONS,
    crossing_args,
    daily_column,
    daily_days,
    product_args,
    product_column,
    series_args,
    series_column,
    streak_args,
    uses_args,
    uses_column,
    window_args,
)
from rules.expr.interpreter import OPERATORS, interpret
from rules.expr.nodes import (
    Binary,
    Bool,
    Call,
    Compare,
    ExprError,
    In,
    ListLit,
    Name,
    Node,
    Number,
    Schema,
    String,
    Type,
    Unary,
    children,
)
from rules.expr.parser import parse

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


def _window(name: str, column: str, days: int) -> pl.Expr:
    """``ago``, ``delta``, ``change_over`` and the ``*_over`` aggregates of a daily list column
    (finite numbers or null, oldest first, yesterday last, at least ``days`` long)."""
    values = pl.col(column)
    if name in ("ago", "delta", "change_over"):
        # ago(x, n): n days before today; delta / change_over: n days before yesterday, the latest
        base = values.list.get(-days if name == "ago" else -days - 1, null_on_oob=True)
        if name == "ago":
            return base
        latest = values.list.get(-1, null_on_oob=True)
        return _no_inf(latest - base) if name == "delta" else _divide(latest - base, base)
    window = values.list.tail(days)
    if name == "min_over":
        return window.list.min()
    if name == "max_over":
        return window.list.max()
    if name == "mean_over":
        return _no_inf(window.list.mean())
    # the sum of no known day is unknown, not 0
    return pl.when(window.list.drop_nulls().list.len() > 0).then(_no_inf(window.list.sum()))


def _first_from_end(held: pl.Expr) -> pl.Expr:
    """Per list, how many days from the end come before the first true one (all of them if none is).

    ``arg_max`` over the reversed list with a true sentinel in front: list kernels and elementwise
    ``list.eval`` run over the flat values, five times faster than a per-list ``cum_min``."""
    return pl.concat_list([pl.lit(True), held]).list.reverse().list.arg_max()


def _crossing(name: str, column: str, threshold: pl.Expr, days: int) -> pl.Expr:
    # each day's sign of (day − threshold) is the comparison's outcome, exactly, for finite numbers;
    # the subtraction broadcasts the row's threshold over its list (a comparison would not)
    e = pl.element()
    diff = pl.col(column) - threshold
    new, other = (e >= 0, e < 0) if name == "crossed_above" else (e < 0, e >= 0)
    # per day: 1 on the new side, -1 known on the other, 0 unknown
    side = diff.list.eval(pl.when(new).then(1).when(other).then(-1).otherwise(0).cast(pl.Int8))
    run = _first_from_end(side.list.eval(e != 1))
    # the n days before the run, latest first, all known on the other side (fewer than n: no);
    # polars repeats a sub-expression each time it is named, so each list is named once
    before = side.list.reverse().list.slice(run, days).list.eval(e == -1).list.sum() == days
    latest = diff.list.get(-1, null_on_oob=True)
    on_new_side = latest >= 0 if name == "crossed_above" else latest < 0
    return pl.when(latest.is_not_null()).then(on_new_side & before)


def _streak(op: str, column: str, threshold: pl.Expr) -> pl.Expr:
    e = pl.element()
    broken = (pl.col(column) - threshold).list.eval(~OPERATORS[op](e, 0.0).fill_null(False))
    return pl.when(threshold.is_not_null()).then(_first_from_end(broken).cast(pl.Float64))


_DTYPES: dict[Type, pl.DataType] = {
    Type.number: pl.Float64(),
    Type.bool: pl.Boolean(),
    Type.text: pl.String(),
    Type.date: pl.Date(),
    Type.list: pl.List(pl.String()),
}


def _flat_coalesce(args: Sequence[Node]) -> list[Node]:
    """coalesce(coalesce(a, b), c) is coalesce(a, b, c)."""
    out: list[Node] = []
    for arg in args:
        out.extend(_flat_coalesce(arg.args) if isinstance(arg, Call) and arg.name == "coalesce" else [arg])
    return out


def _constant(node: Node) -> bool:
    """Whether the node's value is the same on every row: it reads no column it needs."""
    if isinstance(node, Name) or (isinstance(node, Call) and node.name in FRAME_FUNCTIONS):
        return False
    if isinstance(node, Call) and node.name == "coalesce":
        for arg in _flat_coalesce(node.args):
            if not _constant(arg):
                return False
            if interpret(arg, {}) is not None:
                return True
        return True
    return all(_constant(child) for child in children(node))


class _Compiler:
    """Typed tree → polars expression.

    A constant subtree is evaluated here, by the interpreter, into one literal: polars
    simplifies constant subexpressions its own way (``1 == coalesce(1, x)`` comes out one row long
    in polars 2.1), so it never sees one.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def constant(self, node: Node) -> pl.Expr:
        return pl.lit(interpret(node, {}), dtype=_DTYPES[Checker(self.schema).check(node)[1]])

    def expr(self, node: Node) -> pl.Expr:
        if _constant(node):
            return self.constant(node)
        match node:
            case Number() | String() | Bool() | ListLit():
                raise AssertionError("a literal reads the frame")
            case Name(id=name):
                if name not in self.schema.features:
                    return _finite_column(series_column(name, 0))
                if self.schema.features[name] == Type.number:
                    return _finite_column(name)
                return pl.col(name)
            case Unary(op=op, operand=operand):
                e = self.expr(operand)
                return -e if op == "-" else ~e
            case Binary(op="and", left=left, right=right):
                return self.expr(left) & self.expr(right)
            case Binary(op="or", left=left, right=right):
                return self.expr(left) | self.expr(right)
            case Binary(op=op, left=left, right=right):
                a, b = self.expr(left), self.expr(right)
                if op == "/":
                    return _divide(a, b)
                return _no_inf(OPERATORS[op](a, b))
            case Compare(op=op, left=left, right=right):
                compared: pl.Expr = OPERATORS[op](self.expr(left), self.expr(right))
                return compared
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
        if name in SERIES_FUNCTIONS:
            points = [_finite_column(column) for column in series_args(node)[1]]
            if name == "change":
                return _divide(points[0] - points[-1], points[-1])
            steps = [(a > b) if name == "rising" else (a < b) for a, b in itertools.pairwise(points)]
            return pl.when(pl.all_horizontal([p.is_not_null() for p in points])).then(pl.all_horizontal(steps))
        if name == "uses":
            return _finite_column(uses_column(*uses_args(node)))
        if name in PRODUCT_FUNCTIONS:
            column = pl.col(product_column(*product_args(node)))
            return column.fill_null(False) if name == "owns" else column
        if name in WINDOW_FUNCTIONS:
            series, days = window_args(node)
            return _window(name, daily_column(series), days)
        if name in CROSSING_FUNCTIONS:
            series, threshold, days = crossing_args(node)
            return _crossing(name, daily_column(series), self.expr(threshold), days)
        if name == "streak":
            series, op, threshold = streak_args(node)
            return _streak(op, daily_column(series), self.expr(threshold))
        if name == "started":
            series, op, threshold = streak_args(node)
            run = _streak(op, daily_column(series), self.expr(threshold)).cast(pl.Int64)
            # a run as long as the whole series read starts beyond it: when is unknown
            known = (run > 0) & (run < pl.col(daily_column(series)).list.len())
            return pl.when(known).then(pl.col(TODAY_COLUMN) - pl.duration(days=run))
        if name in DAY_FUNCTIONS:
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


@dataclass(slots=True)
class _References:
    columns: set[str] = field(default_factory=set)
    uses: set[tuple[str, int]] = field(default_factory=set)
    daily: dict[str, int] = field(default_factory=dict)
    patterns: set[str] = field(default_factory=set)
    names: dict[str, None] = field(default_factory=dict)


def _references(node: Node, schema: Schema) -> _References:
    """Frame columns, uses() pairs, daily series (with the days read), product patterns and names
    the tree reads, names in source order."""
    found = _References()
    columns, uses, names, patterns = found.columns, found.uses, found.names, found.patterns
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Call) and n.name in DAILY_FUNCTIONS:
            series, days = daily_days(n, schema.series_days)
            names.setdefault(series, None)
            columns.add(daily_column(series))
            found.daily[series] = max(days, found.daily.get(series, 0))
            if n.name in CROSSING_FUNCTIONS:
                stack.append(crossing_args(n)[1])
            elif n.name in ("streak", "started"):
                stack.append(streak_args(n)[2])
                if n.name == "started":
                    columns.add(TODAY_COLUMN)
            continue
        if isinstance(n, Name):
            names.setdefault(n.id, None)
            columns.add(n.id if n.id in schema.features else series_column(n.id, 0))
        elif isinstance(n, Call) and n.name in SERIES_FUNCTIONS:
            series, points = series_args(n)
            names.setdefault(series, None)
            columns.update(points)
            continue
        elif isinstance(n, Call) and n.name == "uses":
            pair = uses_args(n)
            uses.add(pair)
            columns.add(uses_column(*pair))
            continue
        elif isinstance(n, Call) and n.name in PRODUCT_FUNCTIONS:
            patterns.add(product_args(n)[1])
            columns.add(product_column(*product_args(n)))
            continue
        elif isinstance(n, Call) and n.name in DAY_FUNCTIONS:
            columns.add(TODAY_COLUMN)
        stack.extend(reversed(children(n)))
    return found


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
    products: frozenset[str]
    """Product name patterns the caller must provide as ``product_column("owns" | "acquired", pattern)``."""
    daily: Mapping[str, int]
    """Daily series read → the days of each the caller must provide (``daily_column(name)``: a list that long)."""
    names: tuple[str, ...]
    """Features and series named, in order of first appearance (for explanations)."""


def compile_expr(source: str, schema: Schema, *, expect: Type | None = None) -> Compiled:
    """Parse, type-check and compile; raises ExprError (with ``expect``, for a result of another type too)."""
    node, t = annotate(parse(source), schema)
    if expect is not None and t != expect:
        hint = condition_hint(source.strip(), expect, t)
        what = "a condition must be true or false" if expect == Type.bool else f"expected {noun(expect)}"
        raise ExprError(f"{what}, but this is {noun(t)}", 1, hint)
    found = _references(node, schema)
    return Compiled(
        source=source,
        node=node,
        type=t,
        expr=_Compiler(schema).expr(node),
        columns=frozenset(found.columns),
        uses=frozenset(found.uses),
        products=frozenset(found.patterns),
        daily=MappingProxyType(found.daily),
        names=tuple(found.names),
    )


def compile_condition(source: str, schema: Schema) -> Compiled:
    """A bool expression whose ``expr`` is never null: an unknown outcome does not fire."""
    compiled = compile_expr(source, schema, expect=Type.bool)
    return replace(compiled, expr=compiled.expr.fill_null(False))
