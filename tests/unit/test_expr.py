"""The rule expression language: parsing, errors admins see, evaluation with nulls, explanations."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import polars as pl
import pytest

from rules.expr import (
    MAX_LENGTH,
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
    check,
    compile_condition,
    compile_expr,
    explain,
    helper_names,
    interpret,
    parse,
    to_source,
    uses_column,
)

SCHEMA = Schema(
    features={
        "seat_utilisation": Type.number,
        "seats_purchased": Type.number,
        "seats_used": Type.number,
        "arr": Type.number,
        "plan": Type.text,
        "contract_end": Type.date,
        "renewed": Type.bool,
        "at_risk": Type.bool,
        "products_owned": Type.list,
    },
    series={"wau": 4},
    tracked=("analytics", "exports"),
)
TODAY = date(2026, 6, 1)

FRAME = pl.DataFrame(
    {
        "seat_utilisation": [0.9, 0.5, None, 0.8],
        "seats_purchased": [100, 0, 50, None],
        "seats_used": [90, 12, None, 40],
        "arr": [1000.0, 250.5, None, -10.0],
        "plan": ["pro", "team", None, "Pro"],
        "contract_end": [date(2026, 7, 1), None, date(2026, 5, 1), date(2027, 6, 1)],
        "renewed": [True, False, None, None],
        "at_risk": [False, False, True, None],
        "products_owned": [["Analytics Pro", "Core"], None, ["Core"], ["Core", None]],
        "wau@w0": [10, 5, None, 3],
        "wau@w1": [8, 6, 4, 3],
        "wau@w2": [6, 7, 2, 3],
        "wau@w3": [1, 8, 1, 0],
        uses_column("analytics", 7): [3, 0, None, 12],
        "_today": [TODAY] * 4,
    },
    schema_overrides={"products_owned": pl.List(pl.String)},
)


def n(value: float) -> Number:
    return Number(value)


def name(ident: str) -> Name:
    return Name(ident)


def evaluate(source: str, frame: pl.DataFrame = FRAME, schema: Schema = SCHEMA) -> tuple[list[Any], list[Any]]:
    """(polars values, interpreter values), one per row."""
    compiled = compile_expr(source, schema)
    by_polars = frame.with_columns(compiled.expr.alias("__out"))["__out"].to_list()
    by_python = [interpret(compiled.node, row) for row in frame.rows(named=True)]
    return by_polars, by_python


def error_of(source: str, *, condition: bool = False) -> ExprError:
    with pytest.raises(ExprError) as caught:
        (compile_condition if condition else compile_expr)(source, SCHEMA)
    return caught.value


# ------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("a or b and c", Binary("or", name("a"), Binary("and", name("b"), name("c")))),
        ("a and b or c", Binary("or", Binary("and", name("a"), name("b")), name("c"))),
        ("not a and b", Binary("and", Unary("not", name("a")), name("b"))),
        ("not a == b", Unary("not", Compare("==", name("a"), name("b")))),
        ("a + 1 > b * 2", Compare(">", Binary("+", name("a"), n(1)), Binary("*", name("b"), n(2)))),
        ("1 + 2 * 3", Binary("+", n(1), Binary("*", n(2), n(3)))),
        ("(1 + 2) * 3", Binary("*", Binary("+", n(1), n(2)), n(3))),
        ("a - b - c", Binary("-", Binary("-", name("a"), name("b")), name("c"))),
        ("a / b * c", Binary("*", Binary("/", name("a"), name("b")), name("c"))),
        ("-a * b", Binary("*", Unary("-", name("a")), name("b"))),
        ("- -a", Unary("-", Unary("-", name("a")))),
        ("x in [1, -2, 3%]", In(name("x"), ListLit((n(1), n(-2), Number(0.03, percent=True))))),
        ('x not in ["a", "b",]', In(name("x"), ListLit((String("a"), String("b"))), negated=True)),
        ('"Pro" in owned and true', Binary("and", In(String("Pro"), name("owned")), Bool(True))),
        ("rising(wau, 3)", Call("rising", (name("wau"), n(3)))),
        ("f()", Call("f", ())),
        ("(a < b) == (c < d)", Compare("==", Compare("<", name("a"), name("b")), Compare("<", name("c"), name("d")))),
    ],
)
def test_operators_bind_by_precedence(source: str, tree: Node) -> None:
    assert parse(source) == tree


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("12", 12.0),
        ("0.5", 0.5),
        ("1_000", 1000.0),
        ("1_000.000_5", 1000.0005),
        ("80%", 0.8),
        ("12.5%", 0.125),
        ("0.1%", 0.001),  # exactly the double nearest 0.001, not 0.1 / 100
        ("007", 7.0),
    ],
)
def test_numbers_and_percentages_read_exactly(source: str, value: float) -> None:
    node = parse(source)
    assert isinstance(node, Number)
    assert node.value == value
    assert node.percent == source.endswith("%")


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        ('""', ""),
    ],
)
def test_strings_take_either_quote_and_escape_quotes_and_backslashes(source: str, value: str) -> None:
    assert parse(source) == String(value)


def test_nodes_know_where_they_were_written() -> None:
    source = "arr >= 80%  and  not missing(plan)"
    tree = parse(source)
    assert isinstance(tree, Binary)
    left, right = tree.left, tree.right
    assert isinstance(left, Compare) and isinstance(right, Unary)
    assert (left.start, left.end, left.op_start) == (0, 10, 4)
    assert (left.right.start, left.right.end) == (7, 10)
    assert tree.op_start == 12
    assert right.operand.text == "missing(plan)"
    assert parse("(arr)").text == "arr"  # a node's text leaves out enclosing parentheses


def test_positions_do_not_affect_equality() -> None:
    assert parse("arr   >  1") == parse("(arr > 1)")
    assert parse("arr > 1") != parse("arr >= 1")


# ------------------------------------------------------------------------------------ printing


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ("(a+b)*c", "(a + b) * c"),
        ("a-(b-c)", "a - (b - c)"),
        ("a - b - c", "a - b - c"),
        ("not (a and b)", "not (a and b)"),
        ("(not a) and b", "not a and b"),
        ("a or (b or c)", "a or (b or c)"),
        ("- - a", "-(-a)"),
        ("-(a * b)", "-(a * b)"),
        ("(a < b) == (c < d)", "(a < b) == (c < d)"),
        ("x  in [ 'a' , \"b\" ]", 'x in ["a", "b"]'),
        ("x not in [-1, 2.50]", "x not in [-1, 2.5]"),
        ("80%", "80%"),
        ("12.5%", "12.5%"),
        ("1_000", "1000"),
        ("0.000_1", "0.0001"),
        (r"'it\'s \"x\" \\'", r'"it' + "'" + r's \"x\" \\"'),
        ("f( a ,b )", "f(a, b)"),
    ],
)
def test_the_printer_writes_canonical_source_that_parses_back_to_the_same_tree(source: str, printed: str) -> None:
    assert to_source(parse(source)) == printed
    assert parse(printed) == parse(source)


@pytest.mark.parametrize(("value", "printed"), [(1e22, "10000000000000000000000"), (1e-7, "0.0000001"), (3.0, "3")])
def test_numbers_print_without_exponents_because_the_grammar_has_none(value: float, printed: str) -> None:
    assert to_source(Number(value)) == printed
    assert parse(printed) == Number(value)


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("source", "message", "column", "hint"),
    [
        ("", "empty expression", 1, "write a condition, e.g. seat_utilisation >= 80%"),
        ("   ", "empty expression", 1, "write a condition, e.g. seat_utilisation >= 80%"),
        ('plan = "pro"', "a single '=' does not compare", 6, "use == to compare"),
        ("renewed && at_risk", "'&&' is not an operator", 9, "use and"),
        ("renewed || at_risk", "'||' is not an operator", 9, "use or"),
        ("renewed & at_risk", "'&' is not an operator", 9, "use and"),
        ("!renewed", "'!' is not an operator", 1, "use not"),
        ("arr <> 1", "'<>' is not an operator", 5, "use != to compare"),
        ("arr => 1", "'=>' is not an operator", 5, "use >= to compare"),
        ("(arr > 1", "unclosed '('", 1, "add a matching ')'"),
        ("min(arr, (1 + 2)", "unclosed '('", 4, "add a matching ')'"),
        ("arr > 1)", "unmatched ')'", 8, "remove it or add a matching '('"),
        ("plan in [1, 2", "unclosed '['", 9, "add a matching ']'"),
        ("(arr > 1]", "']' does not match '(' at column 1", 9, None),
        ("min(arr 1)", "expected ',' or ')', found '1'", 9, None),
        (
            "1 < arr < 3",
            "comparisons cannot be chained",
            9,
            "comparisons do not chain: join them with and, as in a < b and b < c",
        ),
        (
            "arr == 1 in [1]",
            "comparisons cannot be chained",
            10,
            "comparisons do not chain: join them with and, as in a < b and b < c",
        ),
        ("arr > ", "expected a value after '>', found the end of the expression", 7, None),
        ("arr > and", "expected a value, found 'and'", 7, None),
        ("arr > 1 renewed", "unexpected 'renewed' after a complete expression", 9, "did you forget and / or?"),
        ("arr > 1 AND renewed", "unexpected 'AND' after a complete expression", 9, "keywords are lowercase: use 'and'"),
        ("plan not renewed", "expected 'in' after 'not'", 10, "write: x not in [...]"),
        ("renewed == not at_risk", "unexpected 'not'", 12, "put it in parentheses: (not ...)"),
        ('"abc', "unterminated string", 1, 'add the closing "'),
        (
            r'plan == "a\n"',
            "unknown escape '\\n'",
            11,
            "only \\\" \\' and \\\\ are escapes; write other characters as is",
        ),
        ("1e5 < arr", "invalid number '1e5'", 1, "exponents are not supported: write the digits"),
        ("1__000 < arr", "invalid number '1__000'", 1, "write digits with single '_' between them, as in 1_000 or 0.5"),
        ("1. < arr", "invalid number '1.'", 1, "write digits with single '_' between them, as in 1_000 or 0.5"),
        (".5 < arr", "a number cannot start with '.'", 1, "write 0.5, not .5"),
        ("arr % 2", "'%' must follow a number", 5, "write percentages as 80%"),
        ("arr ; 1", "unexpected character ';'", 5, None),
        ("plan in []", "empty list", 9, "a list needs at least one item"),
        ("plan in [arr]", "list items must be numbers or quoted text", 10, None),
    ],
)
def test_syntax_errors_name_the_problem_its_column_and_a_hint(
    source: str, message: str, column: int, hint: str | None
) -> None:
    error = error_of(source)
    assert (error.message, error.column, error.hint) == (message, column, hint)


@pytest.mark.parametrize(
    ("source", "message", "column", "hint"),
    [
        ("seat_utilization >= 80%", "unknown feature 'seat_utilization'", 1, "did you mean 'seat_utilisation'?"),
        ("arr > 1 and xyzzy", "unknown feature 'xyzzy'", 13, None),
        ("plan == null", "unknown feature 'null'", 9, "test for a missing value with missing(x) or known(x)"),
        ("True", "unknown feature 'True'", 1, "keywords are lowercase: use 'true'"),
        ("missing", "unknown feature 'missing'", 1, "missing is a function: missing(x)"),
        ("risng(wau, 3)", "unknown function 'risng'", 1, "did you mean 'rising'?"),
        ("arr(1) > 0", "unknown function 'arr'", 1, "'arr' is a feature, not a function"),
        ('__import__("os")', "unknown function '__import__'", 1, None),
        ("plan == 3", "cannot compare text with number", 6, 'text values are quoted, as in plan == "3"'),
        ("renewed == 1", "cannot compare bool with number", 9, None),
        (
            'contract_end < "2026-01-01"',
            "cannot compare date with text",
            14,
            "dates compare with dates; for a number of days use days_since(d) or days_until(d)",
        ),
        ('plan < "pro"', "text values cannot be ordered with '<'", 6, "text supports only == and !="),
        ("renewed >= at_risk", "bool values cannot be ordered with '>='", 9, "bool supports only == and !="),
        ("products_owned == products_owned", "lists cannot be compared", 16, 'use "x" in list, or count(list)'),
        ("seats_used + plan > 1", "'+' needs numbers, not text", 14, None),
        ("-plan", "'-' needs a number, not text", 2, None),
        (
            "seat_utilisation and renewed",
            "'and' needs true/false values, not a number",
            1,
            "compare it, as in seat_utilisation > 0",
        ),
        ("not plan", "'not' needs true/false, not text", 5, None),
        ("[1, 2]", "a list is only allowed on the right of 'in'", 1, 'as in plan in ["pro", "team"]'),
        ("plan in [1, 2]", "cannot look for text in a list of numbers", 6, None),
        ('plan in ["a", 1]', "list items must be all numbers or all text", 15, None),
        ("arr in products_owned", "a list feature holds text: cannot look for a number in it", 5, None),
        (
            "plan in plan",
            "the right side of 'in' must be a list, not text",
            9,
            'write a list, as in plan in ["pro", "team"]',
        ),
        ("min(arr) > 1", "min() takes at least 2 arguments, got 1", 1, "write min(a, b, ...)"),
        ("abs(arr, 1) > 1", "abs() takes 1 argument, got 2", 1, "write abs(x)"),
        ("rising(wau)", "rising() takes 2 arguments, got 1", 1, "write rising(series, weeks)"),
        ("rising(arr, 2)", "rising() needs a weekly series name first; 'arr' is not one", 8, "weekly series: wau"),
        ("falling(wua, 2)", "falling() needs a weekly series name first; 'wua' is not one", 9, "did you mean 'wau'?"),
        ("rising(wau, 4)", "rising()'s weeks must be a whole number from 1 to 3", 13, "'wau' holds 4 weekly points"),
        (
            "change(wau, 1.5) > 0",
            "change()'s weeks must be a whole number from 1 to 3",
            13,
            "'wau' holds 4 weekly points",
        ),
        ("rising(wau, arr)", "rising()'s weeks must be a whole number from 1 to 3", 13, "'wau' holds 4 weekly points"),
        ('uses("analytcs", 7) > 1', "'analytcs' is not a tracked product feature", 6, "did you mean 'analytics'?"),
        (
            'uses("billing", 7) > 1',
            "'billing' is not a tracked product feature",
            6,
            "tracked features: analytics, exports",
        ),
        ("uses(plan, 7) > 1", "uses() needs a product feature name in quotes first", 6, 'as in uses("export", 30)'),
        ('uses("exports", 400) > 1', "uses()'s days must be a whole number from 1 to 365", 17, None),
        ("days_until(plan) < 90", "days_until() needs a date, not text", 12, None),
        ("count(plan) > 1", "count() needs a list feature, not text", 7, None),
        ("coalesce(plan, 1) == plan", "coalesce() needs arguments of one type: text, then a number", 16, None),
        (
            "coalesce(products_owned, products_owned)",
            "coalesce() takes numbers, text, dates or bools, not a list",
            10,
            None,
        ),
    ],
)
def test_type_errors_name_the_problem_its_column_and_a_hint(
    source: str, message: str, column: int, hint: str | None
) -> None:
    error = error_of(source)
    assert (error.message, error.column, error.hint) == (message, column, hint)


def test_a_single_equals_sign_is_reported_with_a_hint() -> None:
    error = error_of("plan = 'pro'")
    assert (error.column, error.hint) == (6, "use == to compare")


def test_a_condition_that_is_not_true_or_false_is_rejected_at_column_one() -> None:
    error = error_of("arr * 2", condition=True)
    assert (error.message, error.column, error.hint) == (
        "a condition must be true or false, but this is a number",
        1,
        "compare it, as in arr * 2 > 0",
    )
    assert error_of("plan", condition=True).message == "a condition must be true or false, but this is text"


def test_expect_names_the_wanted_type() -> None:
    with pytest.raises(ExprError, match="expected a number, but this is true/false"):
        compile_expr("renewed", SCHEMA, expect=Type.number)
    assert compile_expr("arr * 2", SCHEMA, expect=Type.number).type == Type.number


def test_an_overlong_expression_is_refused_before_parsing() -> None:
    error = error_of("arr > 1" + " " * MAX_LENGTH)
    assert error.message.startswith("expression is too long")
    assert error.column == MAX_LENGTH + 1


@pytest.mark.parametrize(
    "source",
    ["(" * 500 + "1" + ")" * 500, "-" * 1500 + "1", "not " * 400 + "true", "abs(" * 300 + "1" + ")" * 300],
)
def test_deep_nesting_is_an_error_not_a_recursion_error(source: str) -> None:
    assert error_of(source).message.startswith("expression is nested too deeply")


def test_a_long_flat_chain_is_limited_by_depth_too() -> None:
    source = " + ".join(["arr"] * 100)
    assert error_of(source).message == "expression is nested too deeply (more than 64 levels)"
    assert compile_expr(" + ".join(["arr"] * 60), SCHEMA).type == Type.number


def test_check_rejects_too_deep_hand_built_trees() -> None:
    node: Node = Number(1)
    for _ in range(100):
        node = Unary("-", node)
    with pytest.raises(ExprError, match="nested too deeply"):
        check(node, SCHEMA)


def test_render_puts_a_caret_under_the_column_and_the_hint_below() -> None:
    source = "seat_utilization >= 80%"
    assert error_of(source).render(source) == (
        "unknown feature 'seat_utilization' at column 1\n"
        "  seat_utilization >= 80%\n"
        "  ^\n"
        "  hint: did you mean 'seat_utilisation'?"
    )
    source = "plan == 3"
    assert error_of(source).render(source).splitlines()[1:3] == ["  plan == 3", "       ^"]


def test_render_without_a_hint_has_no_hint_line() -> None:
    source = "arr > 1 and xyzzy"
    assert error_of(source).render(source) == (
        "unknown feature 'xyzzy' at column 13\n  arr > 1 and xyzzy\n              ^"
    )


def test_render_points_at_the_end_for_an_unfinished_expression() -> None:
    source = "arr >"
    assert error_of(source).render(source).splitlines()[1:] == ["  arr >", "       ^"]


def test_render_of_a_multi_line_source_names_the_line() -> None:
    source = 'renewed and\n\tplan < "x"'
    rendered = error_of(source).render(source)
    assert rendered.splitlines() == [
        "text values cannot be ordered with '<' at line 2, column 7",
        '  \tplan < "x"',
        "  \t     ^",
        "  hint: text supports only == and !=",
    ]


def test_an_error_reads_as_one_line_in_logs() -> None:
    assert str(error_of("plan = 1")) == "a single '=' does not compare at column 6 (use == to compare)"


# ----------------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("seat_utilisation >= 80%", [True, False, None, True]),
        ("seat_utilisation >= 80% and not missing(seats_purchased)", [True, False, None, False]),
        ("seats_used / seats_purchased", [0.9, None, None, None]),
        ("arr / 0", [None, None, None, None]),
        ("arr * 0.25 + 100", [350.0, 162.625, None, 97.5]),
        ("-arr - -1", [-999.0, -249.5, None, 11.0]),
        ("abs(arr)", [1000.0, 250.5, None, 10.0]),
        ("min(arr, seats_used)", [90.0, 12.0, None, -10.0]),
        ("max(arr, seats_used, 100)", [1000.0, 250.5, 100.0, 100.0]),
        ("coalesce(seats_purchased, seats_used, 0)", [100.0, 0.0, 50.0, 40.0]),
        ('coalesce(plan, "none")', ["pro", "team", "none", "Pro"]),
        ("coalesce(renewed, at_risk)", [True, False, True, None]),
        ("missing(plan)", [False, False, True, False]),
        ("known(contract_end)", [True, False, True, True]),
        ('plan == "pro"', [True, False, None, False]),
        ('plan != "pro"', [False, True, None, True]),
        ('plan in ["pro", "team"]', [True, True, None, False]),
        ('plan not in ["pro"]', [False, True, None, True]),
        ("seats_used in [90, 40]", [True, False, None, True]),
        ('"Analytics Pro" in products_owned', [True, None, False, False]),
        ('"Analytics Pro" not in products_owned', [False, None, True, True]),
        ("plan in products_owned", [False, None, None, False]),
        ("count(products_owned)", [2.0, None, 1.0, 2.0]),
        ("rising(wau, 3)", [True, False, None, False]),
        ("falling(wau, 3)", [False, True, None, False]),
        ("rising(wau, 1)", [True, False, None, False]),
        ("change(wau, 3)", [9.0, -0.375, None, None]),
        ("wau >= 0.5 * seats_purchased", [False, True, None, None]),
        ("days_until(contract_end)", [30.0, None, -31.0, 365.0]),
        ("days_since(contract_end)", [-30.0, None, 31.0, -365.0]),
        (
            'days_until(contract_end) <= 90 and "Analytics Pro" in products_owned',
            [True, None, False, False],
        ),
        ('uses("analytics", 7) > 0 or renewed', [True, False, None, True]),
        ("contract_end > contract_end", [False, None, False, False]),
        ("renewed == at_risk", [False, True, None, None]),
    ],
)
def test_polars_and_the_interpreter_give_the_expected_value_on_every_row(source: str, expected: list[Any]) -> None:
    by_polars, by_python = evaluate(source)
    assert by_polars == expected
    assert by_python == expected


KLEENE = pl.DataFrame(
    {
        "renewed": [True, True, True, False, False, False, None, None, None],
        "at_risk": [True, False, None, True, False, None, True, False, None],
    }
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("renewed and at_risk", [True, False, None, False, False, False, None, False, None]),
        ("renewed or at_risk", [True, True, True, True, False, None, True, None, None]),
        ("not at_risk", [False, True, None, False, True, None, False, True, None]),
    ],
)
def test_and_or_not_are_three_valued(source: str, expected: list[Any]) -> None:
    assert evaluate(source, KLEENE) == (expected, expected)


def test_a_condition_that_comes_out_unknown_does_not_fire() -> None:
    compiled = compile_condition("seat_utilisation >= 80% and renewed", SCHEMA)
    assert FRAME.with_columns(compiled.expr.alias("fire"))["fire"].to_list() == [True, False, False, False]


def test_numbers_that_are_not_finite_read_as_null_and_are_never_produced() -> None:
    frame = pl.DataFrame({"arr": [math.nan, math.inf, -math.inf, 1e200, 3.0]})
    assert evaluate("arr", frame) == ([None, None, None, 1e200, 3.0],) * 2
    assert evaluate("missing(arr)", frame) == ([True, True, True, False, False],) * 2
    assert evaluate("arr * arr", frame) == ([None, None, None, None, 9.0],) * 2  # 1e400 overflows
    assert evaluate("(arr - arr) / (arr - arr)", frame) == ([None] * 5,) * 2  # 0/0


def test_division_is_correctly_rounded_even_by_a_literal_or_a_constant_column() -> None:
    # Polars divides by a constant as a multiplication by its reciprocal, off by one bit for 194 / 3.
    frame = pl.DataFrame({"seats_used": [194, 1, 2, None]}).with_columns(arr=pl.lit(3.0))
    expected = [194 / 3, 1 / 3, 2 / 3, None]
    assert evaluate("seats_used / 3", frame) == (expected, expected)
    assert evaluate("seats_used / arr", frame) == (expected, expected)
    assert evaluate("seats_used / (1 + 2)", frame) == (expected, expected)


def test_a_comparison_with_a_coalesce_that_starts_with_a_constant_covers_every_row() -> None:
    # Polars 2.1 evaluates `lit == coalesce(lit, col)` to a single row; the compiler folds it away.
    for source in ('"pro" == coalesce("pro", plan)', '"pro" == coalesce(coalesce("pro", plan), plan)'):
        assert evaluate(source) == ([True] * 4,) * 2
    assert evaluate("1 < coalesce(1 / 0, seats_used)") == ([True, True, None, True],) * 2


def test_an_expression_of_literals_alone_is_one_value_for_every_row() -> None:
    assert evaluate("1 + 2 * 3 > 6 and not false") == ([True] * 4,) * 2
    assert evaluate("1 / 0") == ([None] * 4,) * 2


def test_nested_arithmetic_compiles_to_an_expression_of_linear_size() -> None:
    def size(depth: int) -> int:
        source = "arr"
        for _ in range(depth):
            source = f"({source} / (seats_used - 1) * 2 + min(arr, 1))"
        return len(str(compile_expr(source, SCHEMA).expr))

    assert size(12) < 2.5 * size(6)


def test_the_interpreter_accepts_ints_for_numbers_and_reads_a_bare_series_as_its_latest_week() -> None:
    node = parse("wau + seats_used")
    assert interpret(node, {"wau@w0": 2, "seats_used": 3}) == 5.0
    assert isinstance(interpret(node, {"wau@w0": 2, "seats_used": 3}), float)
    assert interpret(parse("uses('analytics', 7) / 2"), {uses_column("analytics", 7): 3}) == 1.5


# --------------------------------------------------------------------------------- compiled facts


def test_compiled_expressions_list_the_columns_uses_and_names_they_read() -> None:
    compiled = compile_condition(
        'rising(wau, 2) and seats_used >= 0.5 * seats_purchased or uses("exports", 30) > 2 '
        "and days_until(contract_end) < 90 and wau > 1",
        SCHEMA,
    )
    assert compiled.columns == {
        "wau@w0",
        "wau@w1",
        "wau@w2",
        "seats_used",
        "seats_purchased",
        uses_column("exports", 30),
        "contract_end",
        "_today",
    }
    assert compiled.uses == {("exports", 30)}
    assert compiled.names == ("wau", "seats_used", "seats_purchased", "contract_end")
    assert compiled.type == Type.bool


def test_the_compiled_tree_carries_the_type_of_each_name() -> None:
    compiled = compile_expr("renewed and arr > 1", SCHEMA)
    assert isinstance(compiled.node, Binary)
    left, right = compiled.node.left, compiled.node.right
    assert isinstance(left, Name) and left.type == Type.bool
    assert isinstance(right, Compare) and isinstance(right.left, Name) and right.left.type == Type.number
    assert check(parse("plan"), SCHEMA) == Type.text


def test_uses_column_and_helper_names() -> None:
    assert uses_column("analytics", 7) == "uses:analytics:7d"
    assert set(helper_names()) == {
        "rising",
        "falling",
        "change",
        "days_since",
        "days_until",
        "uses",
        "min",
        "max",
        "abs",
        "coalesce",
        "missing",
        "known",
        "count",
        "owns",
        "acquired",
        "ago",
        "delta",
        "change_over",
        "min_over",
        "max_over",
        "mean_over",
        "sum_over",
        "crossed_above",
        "crossed_below",
        "streak",
        "started",
    }


# ------------------------------------------------------------------------------------ explain


def test_explain_lists_comparisons_calls_and_bare_bool_features_as_written() -> None:
    compiled = compile_condition("seat_utilisation >= 80%  and not missing(seats_purchased) or renewed", SCHEMA)
    row = FRAME.rows(named=True)[0]
    assert explain(compiled.node, row) == [
        ("seat_utilisation >= 80%", True),
        ("missing(seats_purchased)", False),
        ("renewed", True),
    ]


def test_explain_goes_outer_before_inner_and_skips_the_arguments_of_series_functions() -> None:
    compiled = compile_condition(
        '(days_until(contract_end) <= 90) and "Analytics Pro" in products_owned and rising(wau, 3)', SCHEMA
    )
    row = FRAME.rows(named=True)[0]
    assert explain(compiled.node, row) == [
        ("days_until(contract_end) <= 90", True),
        ("days_until(contract_end)", 30.0),
        ('"Analytics Pro" in products_owned', True),
        ("rising(wau, 3)", True),
    ]


def test_explain_shows_unknown_values_as_none() -> None:
    compiled = compile_condition("renewed or seat_utilisation > 0.5", SCHEMA)
    row = FRAME.rows(named=True)[2]
    assert explain(compiled.node, row) == [("renewed", None), ("seat_utilisation > 0.5", None)]


def test_explain_of_a_hand_built_tree_prints_it() -> None:
    node = Compare(">", Name("arr"), Number(0.8, percent=True))
    assert explain(node, {"arr": 1.0}) == [("arr > 80%", True)]
