"""What the page derives from its frames before charting: the headline period, the retention trend,
the bridge's steps, weekly health bands, tasks per owner. Pure, and always aggregated: no chart
ever carries one mark per account."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from rules.revenue import CurrencyError, Retention, retention
from sync.report.data import OWNER_TASKS_SCHEMA

__all__ = [
    "Headline",
    "add_months",
    "bridge_steps",
    "headline",
    "retention_trend",
    "tasks_per_owner",
    "weekly_bands",
]

TREND_MONTHS = 12
"""NRR and GRR are over a trailing year when the MRR frame spans one (the usual reading of "NRR")."""


def add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month``'s (``n`` may be negative)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _months(mrr: pl.DataFrame) -> list[date]:
    return sorted(mrr.filter(pl.col("mrr") > 0).get_column("month").unique().to_list())


@dataclass(frozen=True, slots=True)
class Headline:
    """The page's first numbers: retention over ``start``..``end`` (months), and what upsync's tasks won.

    ``retention`` is None when the MRR frame has fewer than two months (``problem`` says why, in words)."""

    retention: Retention | None
    start: date | None
    end: date | None
    problem: str | None
    won_revenue: float
    won_deals: int
    tasks: int


def _window(months: list[date], first: date, last: date) -> tuple[date, date] | None:
    """The report's period as the text report reads it: from the month before ``first``'s (or the
    first month with MRR) to the last month with MRR up to ``last``."""
    until = date(last.year, last.month, 1)
    upto = [m for m in months if m <= until]
    if len(upto) < 2:
        return None
    end = upto[-1]
    start = max(upto[0], add_months(date(first.year, first.month, 1), -1))
    return (start, end) if start < end else (upto[-2], end)


def headline(mrr: pl.DataFrame, funnel: pl.DataFrame, *, first: date, last: date) -> Headline:
    """Retention over the report's period (the same as the text report's headline) and the
    funnel's total: tasks, deals won, revenue."""
    total = funnel.filter(pl.col("rule_id") == "TOTAL")
    row = total.row(0, named=True) if total.height else {}
    revenue, won, tasks = float(row.get("revenue") or 0.0), int(row.get("won") or 0), int(row.get("tasks") or 0)
    window = _window(_months(mrr), first, last)
    if window is None:
        note = "No MRR yet" if mrr.is_empty() else "MRR for one month only: retention needs two"
        return Headline(None, None, None, note, revenue, won, tasks)
    try:
        r = retention(mrr, start=window[0], end=window[1])
    except CurrencyError as e:
        return Headline(None, *window, str(e), revenue, won, tasks)
    return Headline(r, *window, None, revenue, won, tasks)


def retention_trend(mrr: pl.DataFrame, *, last: date) -> tuple[pl.DataFrame, int]:
    """(month, measure "NRR"/"GRR", value) for each month up to ``last``, and the window in months:
    a trailing year when the frame spans 13 months, else month over month. Raises CurrencyError."""
    months = [m for m in _months(mrr) if m <= date(last.year, last.month, 1)]
    span = TREND_MONTHS if len(months) > TREND_MONTHS else 1
    paying = mrr.filter(pl.col("mrr") > 0)
    rows: list[dict[str, object]] = []
    for end in months:
        start = add_months(end, -span)
        if start < months[0]:  # no month that far back: no point yet
            continue
        r = retention(paying, start=start, end=end)
        rows += [{"month": end, "measure": "NRR", "value": r.nrr}, {"month": end, "measure": "GRR", "value": r.grr}]
    schema = {"month": pl.Date(), "measure": pl.String(), "value": pl.Float64()}
    return pl.DataFrame(rows, schema=schema).drop_nulls("value"), span


def bridge_steps(r: Retention) -> pl.DataFrame:
    """The waterfall from the cohort's starting MRR to the period's end: one bar per step, each
    floating from ``base`` to ``top`` (kind: total, gain or loss)."""
    steps = [
        ("MRR at start", "total", r.start_mrr),
        ("New customers", "gain", r.new),
        ("Expansion", "gain", r.expansion),
        ("Contraction", "loss", -r.contraction),
        ("Churn", "loss", -r.churn),
    ]
    rows, level = [], 0.0
    for i, (step, kind, amount) in enumerate(steps):
        base = 0.0 if kind == "total" else level
        level = amount if kind == "total" else level + amount
        rows.append({"order": i, "step": step, "kind": kind, "amount": abs(amount), "base": base, "top": level})
    rows.append(
        {"order": len(steps), "step": "MRR at end", "kind": "total", "amount": r.end_mrr, "base": 0.0, "top": r.end_mrr}
    )
    return pl.DataFrame(rows)


def weekly_bands(health: pl.DataFrame) -> pl.DataFrame:
    """(week, band, accounts): each week (its Monday) as its last day with scores saw it."""
    if health.is_empty():
        return pl.DataFrame(schema={"week": pl.Date(), "band": pl.String(), "accounts": pl.Int64()})
    h = health.with_columns(pl.col("day").dt.truncate("1w").alias("week"))
    last = h.group_by("week").agg(pl.col("day").max())
    return (
        h.join(last, on=["week", "day"])
        .group_by("week", "band")
        .agg(pl.col("accounts").sum().cast(pl.Int64))
        .sort("week", "band")
    )


def tasks_per_owner(
    ledger: pl.DataFrame, tasks: pl.DataFrame, owners: Mapping[str, str], *, since: date, until: date
) -> pl.DataFrame:
    """Per owner, upsync's confirmed tasks created ``since``..``until`` (dates, both included):
    created; completed (closed in the CRM); open (neither closed there nor withdrawn by upsync).

    ``ledger``: key, owner_id, state, created_at, closed_at (upsync withdrew it); ``tasks``: the
    CRM's read-back (sync_key, is_closed, modified_at); ``owners``: id → name (unknown ids as they are).
    """
    confirmed = ledger.filter(
        (pl.col("state") == "confirmed") & pl.col("created_at").dt.date().is_between(since, until)
    ).unique("key", keep="first")
    closed = (
        tasks.filter(pl.col("sync_key").is_not_null())
        .sort("modified_at", nulls_last=False)
        .unique("sync_key", keep="last")
        .select(pl.col("sync_key").alias("key"), pl.col("is_closed").fill_null(False).alias("_closed"))
    )
    t = confirmed.join(closed, on="key", how="left").with_columns(pl.col("_closed").fill_null(False))
    named = pl.col("owner_id").replace_strict(dict(owners), default=pl.col("owner_id"), return_dtype=pl.String)
    out = (
        t.with_columns(pl.when(pl.col("owner_id").is_null()).then(pl.lit("(no owner)")).otherwise(named).alias("owner"))
        .group_by("owner")
        .agg(
            pl.len().alias("created"),
            pl.col("_closed").sum().alias("completed"),
            (~pl.col("_closed") & pl.col("closed_at").is_null()).sum().alias("open"),
        )
        .sort(["created", "owner"], descending=[True, False])
    )
    return out.select([pl.col(c).cast(t) for c, t in OWNER_TASKS_SCHEMA.items()])
