"""The helper functions expressions may call, and the frame columns those functions read."""

from __future__ import annotations

from rules.expr.nodes import Call, Name, Number, String

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
}

SERIES_FUNCTIONS = frozenset({"rising", "falling", "change"})
"""Functions of a weekly series name and a number of weeks: ``rising(wau, 3)``."""

PRODUCT_FUNCTIONS = frozenset({"owns", "acquired"})
"""Functions of a product name pattern: ``owns("Accounting*")`` (true/false), ``acquired(...)`` (a date)."""

LITERAL_FUNCTIONS = SERIES_FUNCTIONS | PRODUCT_FUNCTIONS | {"uses"}
"""Functions whose arguments are names and literals that pick columns, not values to evaluate."""

DAY_FUNCTIONS = frozenset({"days_since", "days_until"})
"""Functions of a date that count days from the day the rules run as of (``TODAY_COLUMN``)."""

FRAME_FUNCTIONS = LITERAL_FUNCTIONS | DAY_FUNCTIONS
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
