"""The helper functions expressions may call, and the frame columns those functions read."""

from __future__ import annotations

from rules.expr.nodes import Call, Compare, Name, Node, Number, String

FUNCTIONS: dict[str, tuple[str, int]] = {
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
    "owns": ('owns("Accounting*")', 1),
    "acquired": ('acquired("Accounting*")', 1),
    "ago": ("ago(series, days)", 2),
    "delta": ("delta(series, days)", 2),
    "change_over": ("change_over(series, days)", 2),
    "min_over": ("min_over(series, days)", 2),
    "max_over": ("max_over(series, days)", 2),
    "mean_over": ("mean_over(series, days)", 2),
    "sum_over": ("sum_over(series, days)", 2),
    "crossed_above": ("crossed_above(series, threshold, days)", 3),
    "crossed_below": ("crossed_below(series, threshold, days)", 3),
    "streak": ("streak(series >= threshold)", 1),
    "started": ("started(series >= threshold)", 1),
}

SERIES_FUNCTIONS = frozenset({"rising", "falling", "change"})
"""Functions of a weekly series name and a number of weeks: ``rising(wau, 3)``."""

PRODUCT_FUNCTIONS = frozenset({"owns", "acquired"})
"""Functions of a product name pattern: ``owns("Accounting*")`` (true/false), ``acquired(...)`` (a date)."""

WINDOW_FUNCTIONS = frozenset({"ago", "delta", "change_over", "min_over", "max_over", "mean_over", "sum_over"})
"""Functions of a daily series name and a number of days: ``ago(seats_used, 30)``."""

CROSSING_FUNCTIONS = frozenset({"crossed_above", "crossed_below"})
"""Functions of a daily series name, a threshold and a number of days: ``crossed_above(wau, 30, 14)``."""

RUN_FUNCTIONS = CROSSING_FUNCTIONS | {"streak", "started"}
"""Functions that count a run of days against a threshold."""

DAILY_FUNCTIONS = WINDOW_FUNCTIONS | RUN_FUNCTIONS
"""Functions that read a daily series (column ``f"{name}@d"``)."""

LITERAL_FUNCTIONS = SERIES_FUNCTIONS | WINDOW_FUNCTIONS | PRODUCT_FUNCTIONS | {"uses"}
"""Functions whose arguments are names and literals that pick columns, not values to evaluate."""

DAY_FUNCTIONS = frozenset({"days_since", "days_until"})
"""Functions of a date that count days from the day the rules run as of (``TODAY_COLUMN``)."""

FRAME_FUNCTIONS = LITERAL_FUNCTIONS | DAY_FUNCTIONS | DAILY_FUNCTIONS
"""Functions that read frame columns their arguments do not name: never constant."""

TODAY_COLUMN = "_today"
"""The Date column every features frame carries: the day the rules run as of (days_since, days_until)."""


def helper_names() -> tuple[str, ...]:
    """The functions expressions may call."""
    return tuple(FUNCTIONS)


def uses_column(feature: str, days: int) -> str:
    """Frame column holding ``uses("feature", days)``: the caller computes it, the expression reads it."""
    return f"uses:{feature}:{days}d"


def series_column(name: str, week: int) -> str:
    """Frame column holding a weekly series' point ``week`` weeks back (0: the latest week)."""
    return f"{name}@w{week}"


def series_args(call: Call) -> tuple[str, list[str]]:
    """A checked series function's series name and the columns it reads, the latest week first."""
    series, weeks = call.args
    assert isinstance(series, Name) and isinstance(weeks, Number)
    return series.id, [series_column(series.id, i) for i in range(int(weeks.value) + 1)]


def uses_args(call: Call) -> tuple[str, int]:
    """A checked ``uses("feature", days)`` call's product feature and days."""
    feature, days = call.args
    assert isinstance(feature, String) and isinstance(days, Number)
    return feature.value, int(days.value)


def product_column(function: str, pattern: str) -> str:
    """Frame column holding ``owns("pattern")`` or ``acquired("pattern")``: the caller computes it."""
    return f"{function}:{pattern}"


def product_args(call: Call) -> tuple[str, str]:
    """A checked product function's (function name, pattern)."""
    (pattern,) = call.args
    assert isinstance(pattern, String)
    return call.name, pattern.value


def daily_column(name: str) -> str:
    """Frame column holding a daily series: a list of one value a day, oldest first, yesterday last."""
    return f"{name}@d"


def window_args(call: Call) -> tuple[str, int]:
    """A checked window function's (``ago``, ``min_over``…) series name and days."""
    series, days = call.args
    assert isinstance(series, Name) and isinstance(days, Number)
    return series.id, int(days.value)


def crossing_args(call: Call) -> tuple[str, Node, int]:
    """A checked ``crossed_above``/``crossed_below`` call's series name, threshold and days."""
    series, threshold, days = call.args
    assert isinstance(series, Name) and isinstance(days, Number)
    return series.id, threshold, int(days.value)


def streak_args(call: Call) -> tuple[str, str, Node]:
    """A checked ``streak``/``started(series op threshold)`` call's series name, comparison and threshold."""
    (compare,) = call.args
    assert isinstance(compare, Compare) and isinstance(compare.left, Name)
    return compare.left.id, compare.op, compare.right


def daily_days(call: Call, horizon: int) -> tuple[str, int]:
    """(series, days of it the call reads): a window reads its days; ``streak`` and the crossings
    count runs, which reach as far back as the ``horizon`` (``[features] series_days``)."""
    if call.name in ("delta", "change_over"):  # yesterday against the day n days before it
        series, days = window_args(call)
        return series, days + 1
    if call.name in WINDOW_FUNCTIONS:
        return window_args(call)
    if call.name in CROSSING_FUNCTIONS:
        return crossing_args(call)[0], horizon
    return streak_args(call)[0], horizon
