"""Usage features: windows, utilisation against plan limits, tracked feature events, departments, series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import polars as pl

from core.tables import Tables
from rules.features.catalogue import FeatureParams
from rules.features.daily import usage_series
from rules.features.window import ratio


def usage_features(
    t: Tables,
    as_of: datetime,
    params: FeatureParams,
    uses: Iterable[tuple[str, int]],
    daily: Mapping[str, int],
) -> pl.DataFrame:
    today = as_of.date()
    weeks = params.series_weeks
    u = t.usage.filter(
        (pl.col("day") < today) & (pl.col("updated_at").is_null() | (pl.col("updated_at") <= as_of))
    ).with_columns((pl.lit(today) - pl.col("day")).dt.total_days().alias("_age"))
    tracked = list(dict.fromkeys([*params.tracked, *(f for f, _ in uses)]))
    event_cols = [f"_fe:{name}" for name in tracked]
    try:
        u = u.with_columns(feature_events(tracked))
    except pl.exceptions.ComputeError:  # a row that is not an object of numbers: read what can be read
        u = u.with_columns(feature_events(tracked, lenient=True))
    u = u.with_columns((pl.sum_horizontal(event_cols) if event_cols else pl.lit(0.0)).alias("_events"))
    age = pl.col("_age")

    def within(days: int) -> pl.Expr:
        return age <= days

    latest = pl.col("day") == pl.col("day").max()

    def last(col: str) -> pl.Expr:
        return pl.col(col).filter(latest).first()

    first_within_30 = pl.col("integrations").filter(pl.col("day") == pl.col("day").filter(within(30)).min()).first()

    aggs: list[pl.Expr] = [
        pl.col("day").max().alias("usage_day"),
        last("active_users").alias("active_users"),
        last("weekly_active_users").alias("wau"),
        last("seats_used").alias("seats_used"),
        last("seats_limit").alias("_usage_seats_limit"),
        last("storage_used_gb").alias("storage_used_gb"),
        ratio(last("storage_used_gb"), last("storage_limit_gb")).alias("storage_utilisation"),
        last("api_calls_used").alias("api_calls_used"),
        ratio(last("api_calls_used"), last("api_calls_limit")).alias("api_utilisation"),
        last("integrations").alias("integrations"),
        (last("integrations") - first_within_30).alias("integrations_added_30d"),
        pl.col("active_users").filter(within(7)).mean().alias("active_users_7d"),
        pl.col("active_users").filter(within(30)).mean().alias("active_users_30d"),
        pl.col("active_users").filter(within(90)).mean().alias("active_users_90d"),
        pl.col("active_users").filter((age > 30) & (age <= 37)).mean().alias("_users_30d_ago"),
        pl.col("premium_feature_views").filter(within(7)).sum().alias("premium_views_7d"),
        pl.col("pricing_page_views").filter(within(7)).sum().alias("pricing_views_7d"),
        pl.col("trials_started").filter(within(30)).sum().alias("trials_30d"),
        pl.col("day").filter(pl.col("trials_started") > 0).max().alias("trial_started_at"),
        pl.col("_events").filter(within(7)).sum().alias("events_7d"),
        pl.col("users_by_department").filter(latest).first().alias("_dept_now"),
        pl.col("users_by_department")
        .filter(pl.col("day") == pl.col("day").filter(age > 30).max())
        .first()
        .alias("_dept_before"),
        pl.col("_age").max().alias("_oldest"),
    ]
    for name, days in sorted(set(uses)):
        aggs.append(pl.col(f"_fe:{name}").filter(within(days)).sum().alias(f"uses:{name}:{days}d"))
    for metric, col in (("wau", "weekly_active_users"), ("active_users", "active_users"), ("seats_used", "seats_used")):
        for i in range(weeks):
            aggs.append(pl.col(col).filter((age > 7 * i) & (age <= 7 * (i + 1))).mean().alias(f"{metric}@w{i}"))
    for i in range(weeks):
        aggs.append(pl.col("_events").filter((age > 7 * i) & (age <= 7 * (i + 1))).mean().alias(f"events@w{i}"))
    g = (
        u.group_by("workspace_id")
        .agg(aggs)
        .with_columns(
            department_counts(pl.col("_dept_now")).alias("_dept_now"),
            department_counts(pl.col("_dept_before")).alias("_dept_before"),
        )
    )
    if daily:
        g = g.join(usage_series(u, daily), on="workspace_id", how="left")
    return g.with_columns(
        ratio(pl.col("active_users_7d"), pl.col("active_users_90d")).alias("usage_vs_90d"),
        (ratio(pl.col("active_users_7d"), pl.col("_users_30d_ago")) - 1).alias("users_growth_30d"),
        ratio(pl.col("events_7d"), pl.col("active_users_7d")).alias("events_per_user_week"),
        pl.col("_dept_now").list.len().cast(pl.Float64).alias("departments"),
        pl.when(pl.col("_oldest") > 30)
        .then(pl.col("_dept_now").list.set_difference(pl.col("_dept_before")).list.len().cast(pl.Float64))
        .otherwise(None)
        .alias("new_usage_departments_30d"),
    ).drop("_dept_now", "_dept_before", "_oldest", "_users_30d_ago")


def feature_events(tracked: Sequence[str], *, lenient: bool = False) -> list[pl.Expr]:
    """One column ``_fe:<name>`` per tracked feature from the ``feature_events`` JSON (absent: 0).

    Decoded once into a struct of just those keys: a path match per feature reads the whole JSON
    text again each time, eight times slower for eight features. ``lenient`` takes that slower path,
    where a value that is not a number (or a row that is not JSON) counts as absent."""
    if not tracked:
        return []
    if lenient:
        return [
            pl.col("feature_events")
            .str.json_path_match("$['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']")
            .cast(pl.Float64, strict=False)
            .fill_null(0.0)
            .alias(f"_fe:{name}")
            for name in tracked
        ]
    decoded = pl.col("feature_events").str.json_decode(pl.Struct({name: pl.Float64 for name in tracked}))
    return [decoded.struct.field(name).fill_null(0.0).alias(f"_fe:{name}") for name in tracked]


def department_counts(json: pl.Expr) -> pl.Expr:
    """The departments with at least one user in a ``users_by_department`` JSON object, each as its
    quoted key: the positive entries are rewritten to ``"key":+`` (whatever the count), then listed."""
    positive = json.str.replace_all(r'("(?:[^"\\]|\\.)*")\s*:\s*[1-9]', "${1}:+")
    return positive.str.extract_all(r'"(?:[^"\\]|\\.)*":\+')
