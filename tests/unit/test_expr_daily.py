"""The daily series functions on small hand-computed series: polars and the interpreter give what a person works out."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from rules.expr import ExprError, Schema, Type, compile_condition, compile_expr, explain, interpret

SCHEMA = Schema(
    features={"wau": Type.number, "seat_limit": Type.number, "plan": Type.text},
    series={"wau": 4},
    daily=("wau", "seats_used", "premium_views"),
    series_days=10,
)

# Ten days each, oldest first, yesterday last (None: no usage row that day).
WAU: dict[str, list[int | None] | None] = {
    "rise": [10, 10, 10, 10, 10, 10, 20, 30, 35, 40],
    "gaps": [None, 5, None, 0, 0, 8, None, 12, 31, 33],
    "short history": [None, None, None, None, None, None, None, 4, 6, 8],
    "no usage": None,
    "yesterday unknown": [40, 40, 40, 40, 40, 40, 40, 40, 40, None],
    "drop": [50, 50, 50, 50, 50, 50, 50, 20, 10, 10],
    "flicker": [10, 10, 10, 10, 10, 40, 40, 10, 40, 40],
}
SEAT_LIMIT = [35, None, 5, 10, 10, 10, 10]
FRAME = pl.DataFrame(
    {
        "wau@d": [None if v is None else [None if x is None else float(x) for x in v] for v in WAU.values()],
        "seat_limit": SEAT_LIMIT,
        "wau": [v[-1] if v else None for v in WAU.values()],
    },
    schema={"wau@d": pl.List(pl.Float64), "seat_limit": pl.Float64, "wau": pl.Float64},
)


def values(source: str) -> dict[str, Any]:
    """Per account, the value both polars and the interpreter give (they must agree)."""
    compiled = compile_expr(source, SCHEMA)
    by_polars = FRAME.with_columns(compiled.expr.alias("out"))["out"].to_list()
    by_python = [interpret(compiled.node, row) for row in FRAME.rows(named=True)]
    assert by_polars == by_python
    return dict(zip(WAU, by_polars, strict=True))


def error_of(source: str) -> ExprError:
    with pytest.raises(ExprError) as caught:
        compile_expr(source, SCHEMA)
    return caught.value


ACCOUNTS = list(WAU)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # yesterday is ago(x, 1); an unknown day is unknown
        ("ago(wau, 1)", [40, 33, 8, None, None, 10, 40]),
        ("ago(wau, 4)", [20, None, None, None, 40, 50, 40]),
        # n reaching past the history read: unknown
        ("ago(wau, 10)", [10, None, None, None, 40, 50, 10]),
        # delta / change_over: yesterday against the day n days before yesterday
        ("delta(wau, 3)", [20, None, None, None, None, -40, 0]),
        ("delta(wau, 4)", [30, 25, None, None, None, -40, 0]),
        ("change_over(wau, 3)", [1.0, None, None, None, None, -0.8, 0.0]),
        # a zero base (the gaps account 6 days before yesterday) is unknown, not infinite
        ("change_over(wau, 6)", [3.0, None, None, None, None, -0.8, 3.0]),
        # windows skip unknown days; a window of none known is unknown
        ("min_over(wau, 4)", [20, 12, 4, None, 40, 10, 10]),
        ("max_over(wau, 10)", [40, 33, 8, None, 40, 50, 40]),
        ("mean_over(wau, 5)", [27, 21, 6, None, 40, 28, 34]),
        ("sum_over(wau, 2)", [75, 64, 14, None, 40, 20, 80]),
        ("sum_over(wau, 1)", [40, 33, 8, None, None, 10, 40]),
        # a window longer than the history read uses the days there are
        ("min_over(wau, 10)", [10, 0, 4, None, 40, 10, 10]),
    ],
)
def test_value_n_days_ago_changes_and_windows_over_the_last_n_days(source: str, expected: list[Any]) -> None:
    assert values(source) == dict(zip(ACCOUNTS, expected, strict=True))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # rise: 3 days at or above 30 after 7 known days below; gaps: 1 known day below, then an unknown one
        ("crossed_above(wau, 30, 1)", [True, True, False, None, None, False, True]),
        ("crossed_above(wau, 30, 2)", [True, False, False, None, None, False, False]),
        # exactly n days below before the run counts; n longer than the history read does not
        ("crossed_above(wau, 30, 7)", [True, False, False, None, None, False, False]),
        ("crossed_above(wau, 30, 8)", [False, False, False, None, None, False, False]),
        # flicker: one day below between runs above is one day, whatever came before it
        ("crossed_above(wau, 30, 5)", [True, False, False, None, None, False, False]),
        # the threshold may be an account's own number (flicker: at or above 10 every day, no crossing)
        ("crossed_above(wau, seat_limit, 2)", [True, None, False, None, None, False, False]),
        ("crossed_below(wau, 30, 7)", [False, False, False, None, None, True, False]),
        ("crossed_below(wau, 30, 8)", [False, False, False, None, None, False, False]),
        # short history: 3 days below 30, but nothing known before them
        ("crossed_below(wau, 30, 1)", [False, False, False, None, None, True, False]),
    ],
)
def test_crossed_above_and_below_need_n_known_days_on_the_other_side_before_the_run(
    source: str, expected: list[Any]
) -> None:
    assert values(source) == dict(zip(ACCOUNTS, expected, strict=True))


def test_a_crossing_stays_true_for_the_whole_run_on_the_new_side() -> None:
    days = [10.0] * 3 + [40.0] * 7
    frame = pl.DataFrame({"wau@d": [[None] * (7 - k) + days[: 3 + k] for k in range(1, 8)]})
    compiled = compile_expr("crossed_above(wau, 30, 3)", SCHEMA)
    assert frame.with_columns(compiled.expr.alias("out"))["out"].to_list() == [True] * 7


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("streak(wau >= 30)", [3, 2, 0, None, 0, 0, 2]),
        ("streak(wau == 40)", [1, 0, 0, None, 0, 0, 2]),
        # an unknown day ends the run (short history, gaps); an unknown threshold gives an unknown streak
        ("streak(wau <= seat_limit * 2)", [10, None, 3, None, 0, 3, 0]),
        ("streak(wau > 0)", [10, 3, 3, None, 0, 10, 10]),
    ],
)
def test_streak_counts_the_days_in_a_row_ending_yesterday(source: str, expected: list[Any]) -> None:
    assert values(source) == dict(zip(ACCOUNTS, expected, strict=True))


def test_the_crossing_and_a_bounded_streak_say_crossed_30_weekly_users_after_14_days_below() -> None:
    schema = Schema(features={}, daily=("wau",), series_days=60)
    days = [10.0] * 20 + [35.0] * 5
    rows = {
        "crossed 5 days ago": days,
        "above for 40 days": [10.0] * 15 + [35.0] * 40,
        "only 10 days below": [40.0] * 10 + [10.0] * 10 + [35.0] * 5,
        "back below": [*days, 20.0],
    }
    frame = pl.DataFrame({"wau@d": list(rows.values())})
    compiled = compile_condition("crossed_above(wau, 30, 14) and streak(wau >= 30) <= 30", schema)
    fired = frame.with_columns(compiled.expr.alias("out"))["out"].to_list()
    assert dict(zip(rows, fired, strict=True)) == {
        "crossed 5 days ago": True,
        "above for 40 days": False,
        "only 10 days below": False,
        "back below": False,
    }


def test_a_condition_on_a_series_of_an_account_without_usage_does_not_fire() -> None:
    compiled = compile_condition("change_over(wau, 3) >= 20% or crossed_below(wau, 30, 1)", SCHEMA)
    fired = FRAME.with_columns(compiled.expr.alias("out"))["out"].to_list()
    assert dict(zip(ACCOUNTS, fired, strict=True))["no usage"] is False


def test_a_plain_series_name_keeps_meaning_the_latest_value() -> None:
    assert values("wau")["rise"] == 40
    compiled = compile_expr("wau", SCHEMA)
    assert compiled.columns == {"wau"} and dict(compiled.daily) == {}


def test_compiled_expressions_say_which_daily_series_they_read_and_how_many_days() -> None:
    compiled = compile_condition(
        "change_over(seats_used, 7) >= 20% and min_over(seats_used, 3) > 0 "
        "and crossed_above(wau, 0.8 * seat_limit, 2) and streak(premium_views > 0) <= 4",
        SCHEMA,
    )
    assert compiled.columns == {"seats_used@d", "wau@d", "seat_limit", "premium_views@d"}
    # a window reads its days (a change one more: yesterday and n days before it); runs reach back
    # as far as series_days allows
    assert dict(compiled.daily) == {"seats_used": 8, "wau": 10, "premium_views": 10}
    assert compiled.names == ("seats_used", "wau", "seat_limit", "premium_views")


@pytest.mark.parametrize(
    ("source", "message", "column", "hint"),
    [
        ("ago(wua, 3)", "ago() needs a daily series name first; 'wua' is not one", 5, "did you mean 'wau'?"),
        ("min_over(plan, 3)", "min_over() needs a daily series name first; 'plan' is not one", 10, "daily series: "),
        ("sum_over(wau + 1, 3)", "sum_over() needs a daily series name first; got wau + 1", 10, "daily series"),
        ("ago(wau, 0)", "ago()'s days must be a whole number from 1 to 10", 10, "series_days = 10 caps"),
        ("ago(wau, 11)", "ago()'s days must be a whole number from 1 to 10", 10, "series_days = 10 caps"),
        ("delta(wau, 2.5)", "delta()'s days must be a whole number from 1 to 9", 12, None),
        ("mean_over(wau, 50%)", "mean_over()'s days must be a whole number from 1 to 10", 16, None),
        ("ago(wau, seat_limit)", "ago()'s days must be a whole number from 1 to 10", 10, None),
        ("ago(wau)", "ago() takes 2 arguments, got 1", 1, "write ago(series, days)"),
        ("crossed_above(wau, 30)", "crossed_above() takes 3 arguments, got 2", 1, "crossed_above(series, threshold"),
        ("crossed_above(wau, 30, 10)", "crossed_above()'s days must be a whole number from 1 to 9", 24, None),
        ("crossed_below(wau, plan, 3)", "crossed_below()'s threshold must be a number, not text", 20, None),
        ("streak(wau)", "streak() needs a daily series compared with a number", 8, "streak(wau >= 30)"),
        ("streak(30 <= wau)", "streak() needs a daily series left of its comparison; got 30", 8, None),
        ("streak(wau >= plan)", "streak()'s threshold must be a number, not text", 15, None),
        ("streak(wau >= streak(wau > 1))", "streak()'s threshold cannot count a run itself (streak())", 15, "and"),
        (
            "crossed_below(wau, 1 + streak(wau > 1), 3)",
            "crossed_below()'s threshold cannot count a run itself (streak())",
            24,
            "combine them with and",
        ),
        ("premium_views > 3", "'premium_views' is a daily series, not a feature", 1, "ago(premium_views, 1)"),
    ],
)
def test_bad_calls_name_the_problem_its_column_and_a_hint(
    source: str, message: str, column: int, hint: str | None
) -> None:
    err = error_of(source)
    assert (err.message, err.column) == (message, column)
    if hint is not None:
        assert err.hint is not None and hint in err.hint


def test_the_types_of_the_new_functions_are_checked_where_they_are_used() -> None:
    with pytest.raises(ExprError, match="a condition must be true or false, but this is a number"):
        compile_condition("streak(wau >= 30)", SCHEMA)
    assert error_of("crossed_above(wau, 30, 2) > 1").message == "cannot compare bool with number"


def test_explain_shows_each_call_with_its_value_and_the_threshold_it_was_given() -> None:
    compiled = compile_condition(
        "crossed_above(wau, mean_over(wau, 10), 1) and streak(wau >= 0.5 * seat_limit) <= 5", SCHEMA
    )
    row = FRAME.rows(named=True)[0]
    assert explain(compiled.node, row) == [
        ("crossed_above(wau, mean_over(wau, 10), 1)", True),
        ("mean_over(wau, 10)", 18.5),
        ("streak(wau >= 0.5 * seat_limit) <= 5", True),
        ("streak(wau >= 0.5 * seat_limit)", 4.0),
    ]


def test_started_is_the_day_the_current_run_began_and_unknown_when_it_began_before_the_series() -> None:
    today = date(2026, 6, 11)
    frame = FRAME.with_columns(pl.lit(today).alias("_today"))
    compiled = compile_expr("started(wau >= 30)", SCHEMA)
    assert compiled.type is Type.date
    by_polars = frame.with_columns(compiled.expr.alias("out"))["out"].to_list()
    by_python = [interpret(compiled.node, row) for row in frame.rows(named=True)]
    assert by_polars == by_python
    assert dict(zip(ACCOUNTS, by_polars, strict=True)) == {
        "rise": date(2026, 6, 8),  # 30 on the 8th, then 35, 40: the run began on the 8th
        "gaps": date(2026, 6, 9),
        "short history": None,  # not at 30 yesterday: no run
        "no usage": None,
        "yesterday unknown": None,
        "drop": None,
        # the whole ten days read hold it only for the last two after a dip: the run began then
        "flicker": date(2026, 6, 9),
    }
    # a run as long as the whole series read began before it: when is unknown, not "ten days ago"
    held = frame.with_columns(pl.lit([40.0] * 10).alias("wau@d"))
    assert set(held.with_columns(compiled.expr.alias("out"))["out"].to_list()) == {None}
    assert error_of("started(wau)").message == "started() needs a daily series compared with a number"
