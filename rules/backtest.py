"""Replay the rules day by day over stored history: what would have fired when, and which tasks would
have been created. Pure: nothing is written anywhere.

Each day is evaluated as of noon UTC with the records that existed then (see :mod:`rules.features`).
What a replay cannot read from the store it simulates as it goes, so that every day sees the days
before it: the signal log (S12), the tasks the cycles would have created (the ledger: G2's cap and
the idempotency period, so a rule that keeps firing makes one task per period, not one per day) and
the daily health scores (S11). Fields the CRM overwrote in place are taken as stored today, apart
from those the change log keeps (employees, parent, owner): a known limit of replaying a CRM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from core.tables import RUN_GRACE_DAYS, TABLE_SCHEMAS, Tables
from rules import engine
from rules.engine import RuleSet
from rules.plan import op_key, period_of

__all__ = ["Backtest", "backtest"]

NOON = time(12, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backtest:
    """What the replay saw: ``hits`` has a row per day, rule and account it fired on (``held``: a
    guard held it back); ``tasks`` a row per task the cycles would have created (one per account's
    next best action whose key was not written before)."""

    start: date
    end: date
    hits: pl.DataFrame  # day, rule_id, account, held
    tasks: pl.DataFrame  # day, rule_id, account, owner

    def by_week(self) -> pl.DataFrame:
        """Per ISO week and rule: distinct accounts it fired on (``fired``), distinct accounts it was
        held back on (``held``), and tasks created (``tasks``)."""
        week = pl.col("day").dt.strftime("%G-W%V").alias("week")
        hits = (
            self.hits.with_columns(week)
            .group_by("week", "rule_id")
            .agg(
                pl.col("account").filter(~pl.col("held")).n_unique().cast(pl.Int64).alias("fired"),
                pl.col("account").filter(pl.col("held")).n_unique().cast(pl.Int64).alias("held"),
            )
        )
        tasks = self.tasks.with_columns(week).group_by("week", "rule_id").agg(pl.len().cast(pl.Int64).alias("tasks"))
        return (
            hits.join(tasks, on=["week", "rule_id"], how="full", coalesce=True)
            .with_columns(pl.col("fired", "held", "tasks").fill_null(0))
            .sort("week", "rule_id")
        )


_HITS = {"day": pl.Date(), "rule_id": pl.String(), "account": pl.String(), "held": pl.Boolean()}


def fold_signals(log: pl.DataFrame, fired: pl.DataFrame, day: date) -> pl.DataFrame:
    """The signal log with ``fired`` (account_id, rule_id) seen on ``day``, as the store folds it:
    one row per pair; a run continues when seen within ``RUN_GRACE_DAYS``, else starts today."""
    today = pl.lit(day, dtype=pl.Date)
    seen = (
        fired.unique()
        .join(log, on=["account_id", "rule_id"], how="left")
        .select(
            "account_id",
            "rule_id",
            pl.coalesce("first_fired_on", today).alias("first_fired_on"),
            today.alias("last_fired_on"),
            today.alias("last_seen_on"),
            pl.when(pl.col("last_seen_on") >= day - timedelta(days=RUN_GRACE_DAYS))
            .then(pl.coalesce("run_started_on", "first_fired_on"))
            .otherwise(today)
            .alias("run_started_on"),
        )
    )
    kept = log.join(seen.select("account_id", "rule_id"), on=["account_id", "rule_id"], how="anti")
    return pl.concat([kept, seen.select(log.columns).cast(log.schema)])


def backtest(
    ruleset: RuleSet,
    tables: Tables,
    *,
    start: date,
    end: date,
    every: int = 1,
    system: str = "crm",
    progress: Callable[[date], None] | None = None,
) -> Backtest:
    """Evaluate every ``every``-th day from ``start`` to ``end`` (inclusive), carrying the simulated
    history from one day to the next."""
    if end < start:
        raise ValueError("end is before start")
    t = tables.checked()
    weeks = ruleset.params.features.series_weeks
    first = datetime.combine(start, NOON)
    health = t.health.filter(pl.col("day") < start)
    have = set(health.get_column("day").to_list())
    for i in range(1, weeks):
        at = first - timedelta(days=7 * i)
        if not any(abs((d - at.date()).days) <= 3 for d in have):
            points = engine.health_points(ruleset, t, as_of=at)
            health = pl.concat([health, points.select(list(TABLE_SCHEMAS["health"]))])
    signals = t.signals.filter(pl.col("last_fired_on") < start)
    ledger = t.ledger.filter(pl.col("created_at") < first)
    written = set(ledger.get_column("key").to_list())
    hits: list[pl.DataFrame] = []
    task_rows: list[dict[str, object]] = []
    windows = {r.id: r.source.window for r in ruleset.rules}
    current = start
    while current <= end:
        as_of = datetime.combine(current, NOON)
        if progress is not None:
            progress(current)
        view = replace(t, health=health, signals=signals, ledger=ledger)
        ev = engine.evaluate(ruleset, view, as_of=as_of)
        live = ev.signals.filter(pl.col("blocked").list.len() == 0)
        hits.append(
            ev.signals.select(
                pl.lit(current).alias("day"), "rule_id", "account", (pl.col("blocked").list.len() > 0).alias("held")
            )
        )
        new_ledger = []
        for a in ev.actions.select("account", "rule_id", "owner").to_dicts():
            if a["owner"] is None:
                continue
            period = period_of(windows[a["rule_id"]], as_of)
            key = op_key(a["rule_id"], system, a["account"], period)
            if key in written:
                continue
            written.add(key)
            new_ledger.append(
                {
                    "key": key,
                    "rule_id": a["rule_id"],
                    "account_id": a["account"],
                    "window": period,
                    "state": "confirmed",
                    "created_at": as_of,
                }
            )
            task_rows.append({"day": current, "rule_id": a["rule_id"], "account": a["account"], "owner": a["owner"]})
        if new_ledger:
            ledger = pl.concat([ledger, pl.DataFrame(new_ledger, schema=TABLE_SCHEMAS["ledger"])])
        health = pl.concat([health, ev.health_rows().select(list(TABLE_SCHEMAS["health"]))])
        signals = fold_signals(signals, live.select(pl.col("account").alias("account_id"), "rule_id"), current)
        current += timedelta(days=every)
    all_hits = pl.concat(hits) if hits else pl.DataFrame(schema=_HITS)
    tasks = pl.DataFrame(
        task_rows, schema={"day": pl.Date, "rule_id": pl.String, "account": pl.String, "owner": pl.String}
    )
    return Backtest(start=start, end=end, hits=all_hits.cast(_HITS), tasks=tasks)  # type: ignore[arg-type]
