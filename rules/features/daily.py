"""Daily series: one list column per series the rules read, one value a day, oldest first, yesterday last.

Only the series and the days the rules ask for are built (``{name: days}``, from the compiled
rules): 100,000 accounts × 180 days of every series would be gigabytes. A day without a usage
row is null; every value is a finite number or null (the rule language relies on it).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rules.expr.functions import daily_column
from rules.features.window import ratio

_SEATS_LIMIT = "_seats_limit"
"""The plan's seat limit each day: the denominator of the per-seat series when the CRM has no seats."""

_FROM_USAGE: dict[str, pl.Expr] = {
    "active_users": pl.col("active_users"),
    "wau": pl.col("weekly_active_users"),
    "seats_used": pl.col("seats_used"),
    "storage_used_gb": pl.col("storage_used_gb"),
    "api_calls_used": pl.col("api_calls_used"),
    "integrations": pl.col("integrations"),
    "premium_views": pl.col("premium_feature_views"),
    "pricing_views": pl.col("pricing_page_views"),
    "trials_started": pl.col("trials_started"),
    "events": pl.col("_events"),
    "storage_utilisation": ratio(pl.col("storage_used_gb"), pl.col("storage_limit_gb")),
    "api_utilisation": ratio(pl.col("api_calls_used"), pl.col("api_calls_limit")),
    _SEATS_LIMIT: pl.col("seats_limit"),
}
"""Series read from the usage rows (``_events``: the tracked feature events of the day)."""

_PER_SEAT = {"seat_utilisation": "seats_used", "wau_ratio": "wau"}
"""Series over the account's seat limit (seats purchased in the CRM, else the day's plan limit):
built per account, once the CRM's seats are joined (:func:`per_seat_series`)."""


def _usage_days(daily: Mapping[str, int]) -> dict[str, int]:
    """The series to build from usage rows, with their days: the per-seat ones need their
    numerator and the plan's seat limit over as many days."""
    wanted: dict[str, int] = {}
    for name, days in daily.items():
        for source in (_PER_SEAT[name], _SEATS_LIMIT) if name in _PER_SEAT else (name,):
            wanted[source] = max(days, wanted.get(source, 0))
    return wanted


def usage_series(u: pl.DataFrame, daily: Mapping[str, int]) -> pl.DataFrame:
    """``workspace_id`` and a list column per series built from usage rows, for every workspace
    in ``u`` (usage rows before today, with ``_age`` in days and ``_events``).

    Each value is written straight into its slot (workspace × day) of one flat column, then cut
    into rows of the series' length: no join with a grid of every workspace and day, which costs
    ten times more."""
    wanted = _usage_days(daily)
    u = u.filter(pl.col("workspace_id").is_not_null())
    schema = {"workspace_id": pl.String(), **{daily_column(n): pl.List(pl.Float64()) for n in wanted}}
    if u.is_empty() or not wanted:
        return pl.DataFrame(schema=schema)
    u = u.with_columns((pl.col("workspace_id").rank("dense").cast(pl.Int64) - 1).alias("_ws"))
    workspaces = u.select("_ws", "workspace_id").unique("_ws").sort("_ws")
    count = workspaces.height
    columns: dict[str, pl.Series] = {"workspace_id": workspaces.get_column("workspace_id")}
    for days in sorted(set(wanted.values())):
        names = [n for n, d in wanted.items() if d == days]
        rows = u.filter(pl.col("_age") <= days).select(
            (pl.col("_ws") * days + days - pl.col("_age")).alias("_slot"),
            *[_finite(_FROM_USAGE[n]).alias(n) for n in names],
        )
        slots = rows.get_column("_slot")
        for name in names:
            flat = pl.repeat(None, count * days, dtype=pl.Float64, eager=True)
            flat.scatter(slots, rows.get_column(name))
            columns[daily_column(name)] = flat.reshape((count, days)).cast(pl.List(pl.Float64))
    return pl.DataFrame(columns).select(list(schema))


def per_seat_series(daily: Mapping[str, int]) -> list[pl.Expr]:
    """The per-seat series the rules read, over a frame with ``seats_purchased`` and the lists
    :func:`usage_series` built (the same definition as ``seat_utilisation`` and ``wau_ratio``)."""
    out = []
    for name, numerator in _PER_SEAT.items():
        if name not in daily:
            continue
        days = daily[name]
        used = pl.col(daily_column(numerator)).list.tail(days)
        purchased = pl.col("seats_purchased")
        per_seat = (
            pl.when(purchased > 0)
            .then(used / purchased)
            .otherwise(used / pl.col(daily_column(_SEATS_LIMIT)).list.tail(days))
        )
        # a zero limit divides to inf or NaN: unknown, as the latest-day ratio says
        out.append(per_seat.list.eval(_finite(pl.element())).alias(daily_column(name)))
    return out


def _finite(e: pl.Expr) -> pl.Expr:
    e = e.cast(pl.Float64)
    return pl.when(e.is_finite()).then(e)
