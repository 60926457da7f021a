"""Properties of the rule language: polars and the reference interpreter agree on every row; printing round-trips."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date, timedelta
from functools import cache, partial
from typing import Any

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rules.expr import (
    MAX_LENGTH,
    Binary,
    Bool,
    Call,
    Compare,
    In,
    ListLit,
    Name,
    Node,
    Number,
    Schema,
    String,
    Type,
    Unary,
    check,
    compile_condition,
    compile_expr,
    explain,
    interpret,
    parse,
    to_source,
    uses_column,
)

TODAY = date(2026, 6, 1)
NUMBER_FEATURES = {"seats": "int", "delta": "int", "ratio": "float", "arr": "float"}
SERIES = {"wau": 4, "mau": 4}
TRACKED = ("analytics", "exports")
USES_DAYS = (7, 30)
DAILY = ("wau", "logins")  # wau is a weekly series too; logins only daily
PATTERNS = ("Accounting*", "Payroll")  # owns() / acquired(): the features frame computes their columns
SERIES_DAYS = 8
SCHEMA = Schema(
    features={
        **dict.fromkeys(NUMBER_FEATURES, Type.number),
        "active": Type.bool,
        "churned": Type.bool,
        "plan": Type.text,
        "region": Type.text,
        "contract_end": Type.date,
        "signed_on": Type.date,
        "products_owned": Type.list,
        "tags": Type.list,
    },
    series=SERIES,
    tracked=TRACKED,
    daily=DAILY,
    series_days=SERIES_DAYS,
)
TEXTS = ("pro", "team", "Analytics Pro", "", "it's", 'say "hi"', "back\\slash")

# ------------------------------------------------------------------------------ typed trees


def names_of(t: Type) -> list[str]:
    return [name for name, ft in SCHEMA.features.items() if ft == t]


number_literals = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5, 0.1, 7.0, 100.0, 1000.0, 1e308, 1e-7, 2.5]).map(Number),
    st.floats(min_value=0, max_value=1e9, allow_subnormal=False).map(Number),
    st.floats(min_value=0, max_value=10, allow_subnormal=False).map(lambda v: Number(v, percent=True)),
)
text_literals = st.sampled_from(TEXTS).map(String)
series_names = st.sampled_from(sorted(SERIES)).map(Name)


def call(name: str, *args: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.tuples(*args).map(lambda a: Call(name, tuple(a)))


def weeks_call(name: str) -> st.SearchStrategy[Node]:
    return call(name, series_names, st.integers(1, 3).map(lambda n: Number(float(n))))


daily_names = st.sampled_from(DAILY).map(Name)
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]


def days_literal(most: int) -> st.SearchStrategy[Node]:
    return st.integers(1, most).map(lambda n: Number(float(n)))


def window_call() -> st.SearchStrategy[Node]:
    names = st.sampled_from(["ago", "min_over", "max_over", "mean_over", "sum_over"])
    # delta / change_over read yesterday and the day n before it: one day more
    changes = st.sampled_from(["delta", "change_over"])
    return st.builds(lambda f, s, n: Call(f, (s, n)), names, daily_names, days_literal(SERIES_DAYS)) | st.builds(
        lambda f, s, n: Call(f, (s, n)), changes, daily_names, days_literal(SERIES_DAYS - 1)
    )


def crossing_call(threshold: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    names = st.sampled_from(["crossed_above", "crossed_below"])
    return st.builds(
        lambda f, s, t, n: Call(f, (s, t, n)), names, daily_names, threshold, days_literal(SERIES_DAYS - 1)
    )


def streak_call(threshold: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    compare = st.builds(Compare, st.sampled_from(COMPARISONS), daily_names, threshold)
    return compare.map(lambda c: Call("streak", (c,)))


def started_call(threshold: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    compare = st.builds(Compare, st.sampled_from(COMPARISONS), daily_names, threshold)
    return compare.map(lambda c: Call("started", (c,)))


def product_call(name: str) -> st.SearchStrategy[Node]:
    return st.sampled_from(PATTERNS).map(lambda p: Call(name, (String(p),)))


def uses_call() -> st.SearchStrategy[Node]:
    return call(
        "uses", st.sampled_from(TRACKED).map(String), st.sampled_from(USES_DAYS).map(lambda d: Number(float(d)))
    )


def pick(*weighted: tuple[int, st.SearchStrategy[Node]]) -> st.SearchStrategy[Node]:
    """One of the strategies, chosen with these weights (``one_of`` weighs every flattened branch alike)."""
    choices = [strategy for weight, strategy in weighted for _ in range(weight)]
    return st.sampled_from(choices).flatmap(lambda strategy: strategy)


@cache
def exprs(t: Type, depth: int, runs: bool = True) -> st.SearchStrategy[Node]:
    """Well-typed trees of type ``t`` at most ``depth`` operators deep (leaves first: they shrink best);
    without ``runs``, no ``streak`` or ``crossed_…`` (a threshold of one cannot count a run)."""
    d = depth - 1
    if t == Type.list:
        return st.sampled_from(names_of(Type.list)).map(Name)
    if t in (Type.date, Type.text):
        leaf = st.sampled_from(names_of(t)).map(Name)
        if t == Type.text:
            leaf = st.one_of(text_literals, leaf)
        elif runs:
            leaf = st.one_of(leaf, product_call("acquired"), started_call(exprs(Type.number, 0, False)))
        return leaf if depth == 0 else pick((3, leaf), (1, call("coalesce", exprs(t, d, runs), exprs(t, d, runs))))
    if t == Type.number:
        leaf = st.one_of(
            number_literals,
            st.sampled_from([*NUMBER_FEATURES, *SERIES]).map(Name),
            uses_call(),
            call("count", exprs(Type.list, 0)),
            window_call(),
        )
        if depth == 0:
            return leaf
        sub = exprs(Type.number, d, runs)
        return pick(
            (3, leaf),
            (4, st.builds(Binary, st.sampled_from("+-*/"), sub, sub)),
            (1, st.builds(Binary, st.just("/"), sub, number_literals)),  # polars divides by constants its own way
            (1, sub.map(lambda n: Unary("-", n))),
            (1, call("abs", sub)),
            (1, st.builds(Call, st.sampled_from(["min", "max"]), st.lists(sub, min_size=2, max_size=3).map(tuple))),
            (1, call("coalesce", sub, sub)),
            (1, weeks_call("change")),
            (2, window_call()),
            (1 if runs else 0, streak_call(exprs(Type.number, d, False))),
            (
                1,
                st.builds(
                    Call, st.sampled_from(["days_since", "days_until"]), exprs(Type.date, d, runs).map(lambda n: (n,))
                ),
            ),
        )
    leaf = st.one_of(
        st.booleans().map(Bool),
        st.sampled_from(names_of(Type.bool)).map(Name),
        weeks_call("rising"),
        weeks_call("falling"),
        product_call("owns"),
    )
    if depth == 0:
        return leaf
    sub = exprs(Type.bool, d, runs)
    ordered = st.sampled_from(COMPARISONS)
    equality = st.sampled_from(["==", "!="])
    any_type = st.sampled_from(list(Type)).flatmap(lambda ft: exprs(ft, d, runs))
    number_list = st.lists(st.floats(-5, 5, allow_subnormal=False).map(Number), min_size=1, max_size=4)
    text_list = st.lists(text_literals, min_size=1, max_size=4)
    return pick(
        (3, leaf),
        (3, st.builds(Compare, ordered, exprs(Type.number, d, runs), exprs(Type.number, d, runs))),
        (1, st.builds(Compare, ordered, exprs(Type.date, d, runs), exprs(Type.date, d, runs))),
        (1, st.builds(Compare, equality, exprs(Type.text, d, runs), exprs(Type.text, d, runs))),
        (1, st.builds(Compare, equality, sub, sub)),
        (1, st.builds(In, exprs(Type.number, d, runs), number_list.map(lambda xs: ListLit(tuple(xs))), st.booleans())),
        (1, st.builds(In, exprs(Type.text, d, runs), text_list.map(lambda xs: ListLit(tuple(xs))), st.booleans())),
        (2, st.builds(In, exprs(Type.text, d, runs), exprs(Type.list, d, runs), st.booleans())),
        (4, st.builds(Binary, st.sampled_from(["and", "or"]), sub, sub)),
        (1, sub.map(lambda n: Unary("not", n))),
        (1, call("coalesce", sub, sub)),
        (1, st.builds(Call, st.sampled_from(["missing", "known"]), any_type.map(lambda n: (n,)))),
        (2 if runs else 0, crossing_call(exprs(Type.number, d, False))),
    )


TOP_TYPES = [Type.number] * 3 + [Type.bool] * 5 + [Type.text, Type.date, Type.list]
typed_trees = st.sampled_from(TOP_TYPES).flatmap(lambda t: st.tuples(exprs(t, 3), st.just(t)))

# ----------------------------------------------------------------------------------- frames


def make_frame(rows: int, seed: int) -> pl.DataFrame:
    """A features frame with nulls in every column (but ``_today``), edge values included (NaN and inf: upstream
    arithmetic makes them, and they must read as null).

    Drawn from a seeded generator rather than value by value through hypothesis: ten times faster.
    """
    rnd = random.Random(seed)

    def column(draw: Callable[[], Any]) -> list[Any]:
        values = [None if rnd.random() < 0.2 else draw() for _ in range(rows)]
        values[rnd.randrange(rows)] = None
        return values

    def floats() -> float:
        edge = [0.0, -0.0, 0.5, -0.5, 0.1, 1.0, 2.0, -3.25, 1e308, -1e308, 1e-308, 7.0, math.nan, math.inf, -math.inf]
        return rnd.choice(edge) if rnd.random() < 0.5 else rnd.uniform(-1e3, 1e3)

    def text_list() -> list[str | None]:
        return [None if rnd.random() < 0.1 else rnd.choice(TEXTS) for _ in range(rnd.randrange(4))]

    data: dict[str, list[Any]] = {}
    schema: dict[str, Any] = {}
    for name, kind in NUMBER_FEATURES.items():
        if kind == "int":
            low, high = (-3, 5) if name == "delta" else (0, 200)
            data[name] = column(partial(rnd.randint, low, high))
            schema[name] = pl.Int64
        else:
            data[name] = column(floats)
            schema[name] = pl.Float64
    for series, points in SERIES.items():
        for week in range(points):
            data[f"{series}@w{week}"] = column(lambda: rnd.randint(0, 6))
            schema[f"{series}@w{week}"] = pl.Int64

    def day_value() -> float | None:
        # finite numbers or null, as the features build them; whole and half numbers, so that a
        # sum is exact in any order
        return None if rnd.random() < 0.2 else rnd.choice([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 2.5, -1.0])

    for series in DAILY:  # a whole list is null for an account without usage
        data[f"{series}@d"] = column(lambda: [day_value() for _ in range(SERIES_DAYS)])
        schema[f"{series}@d"] = pl.List(pl.Float64)
    for feature in TRACKED:
        for days in USES_DAYS:
            data[uses_column(feature, days)] = column(lambda: float(rnd.randint(0, 20)))
            schema[uses_column(feature, days)] = pl.Float64
    for name in names_of(Type.bool):
        data[name], schema[name] = column(lambda: rnd.random() < 0.5), pl.Boolean
    for name in names_of(Type.text):
        data[name], schema[name] = column(lambda: rnd.choice(TEXTS)), pl.String
    for name in names_of(Type.date):
        data[name], schema[name] = column(lambda: TODAY + timedelta(days=rnd.randint(-400, 400))), pl.Date
    for name in names_of(Type.list):
        data[name], schema[name] = column(text_list), pl.List(pl.String)
    for pattern in PATTERNS:  # owns() never unknown (the features fill false); acquired() often is
        data[f"owns:{pattern}"], schema[f"owns:{pattern}"] = [rnd.random() < 0.5 for _ in range(rows)], pl.Boolean
        when = column(lambda: TODAY - timedelta(days=rnd.randint(0, 400)))
        data[f"acquired:{pattern}"], schema[f"acquired:{pattern}"] = when, pl.Date
    data["_today"], schema["_today"] = [TODAY] * rows, pl.Date
    return pl.DataFrame(data, schema=schema)


frames = st.builds(make_frame, st.integers(10, 40), st.integers(0, 2**32))


def same(a: Any, b: Any) -> bool:
    if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return False
    return (a is None and b is None) or (a is not None and b is not None and a == b and type(a) is type(b))


# ------------------------------------------------------------------------------- properties


def assert_agree(node: Node, t: Type, frame: pl.DataFrame) -> None:
    src = to_source(node)
    assume(len(src) <= MAX_LENGTH)  # longer sources are refused by design (tested on their own)
    compiled = compile_expr(src, SCHEMA)
    assert compiled.type == t
    # Evaluating over only the declared columns proves ``columns`` is complete.
    narrow = frame.select(sorted(compiled.columns)) if compiled.columns else frame
    got = narrow.with_columns(compiled.expr.alias("__out"))["__out"].to_list()
    parsed = parse(src)
    rows = [{c: row[c] for c in compiled.columns} for row in frame.rows(named=True)]
    expected = [interpret(parsed, row) for row in rows]
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert same(g, e), f"row {i} of {src!r}: polars {g!r}, interpreter {e!r}, row {rows[i]}"
    if t == Type.bool:
        condition = compile_condition(src, SCHEMA)
        fired = narrow.with_columns(condition.expr.alias("__out"))["__out"].to_list()
        assert fired == [e is True for e in expected]
        for text, _ in explain(compiled.node, rows[0]):
            assert text in src


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=typed_trees, frame=frames)
def test_polars_and_the_reference_interpreter_agree_on_every_row(tree: tuple[Node, Type], frame: pl.DataFrame) -> None:
    assert_agree(*tree, frame)


# thresholds in the range of the daily values, so that runs, crossings and ties happen often
day_thresholds = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 4.0]).map(Number),
    st.sampled_from(["delta", "seats"]).map(Name),
    exprs(Type.number, 1, False),
)
daily_calls = st.one_of(window_call(), crossing_call(day_thresholds), streak_call(day_thresholds))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=daily_calls, frame=frames)
def test_the_daily_series_functions_agree_with_the_reference_on_every_row(node: Node, frame: pl.DataFrame) -> None:
    assert_agree(node, check(node, SCHEMA), frame)


@settings(max_examples=300, deadline=None)
@given(tree=typed_trees)
def test_printing_a_tree_and_parsing_it_back_gives_the_same_tree(tree: tuple[Node, Type]) -> None:
    node, t = tree
    assert check(node, SCHEMA) == t
    src = to_source(node)
    assert parse(src) == node
    assert to_source(parse(src)) == src
