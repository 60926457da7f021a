"""Synthetic frames for the HTML report (bench, browser test, README screenshot): deterministic,
vectorised in polars (no numpy: the browser test runs with the dev extra alone)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import polars as pl

from core.tables import OutcomeTables
from rules.metrics import funnel
from rules.revenue import MRR_SCHEMA
from sync.report import LIFT_SCHEMA, ReportData
from sync.report.measures import add_months, tasks_per_owner

__all__ = ["RULES", "Raw", "report_of", "synthetic"]

RULES = (
    "seats-near-limit", "renewal-90d", "premium-trial", "wau-growth", "new-department", "api-near-limit",
    "storage-near-limit", "pricing-page", "onboarding-done", "onboarding-stalled", "health-rising",
    "signals-coincide", "dormant-account", "life-event", "co-purchase-payroll", "child-account",
    "qbr-due", "churn-risk-save", "integrations-up", "feature-depth", "dashboards-shared",
    "exec-sponsor-new", "nps-promoter", "contract-step-up", "bundle-trial",
)  # fmt: skip
_FIRST = ("Aiko", "Ben", "Chloé", "Daichi", "Emma", "Farid", "Grace", "Haruto", "Ines", "Jonas")
_LAST = ("Sato", "Miller", "Dubois", "Tanaka", "Rossi", "Khan", "Novak", "Suzuki", "Weber", "Silva",
         "Ito", "Brown", "Garcia", "Kato", "Nakamura", "Fischer", "Lopez", "Yamada", "Martin", "Costa")  # fmt: skip
UTC = timezone.utc
DECLINED = "Declined"


def _u(column: str, salt: int) -> pl.Expr:
    """A uniform number in [0, 1), fixed per row value and salt."""
    return (pl.col(column).hash(seed=salt) % 1_000_003).cast(pl.Float64) / 1_000_003


@dataclass(frozen=True, slots=True)
class Raw:
    """What the store would hold: per-account MRR, the outcome tables, the ledger with owners,
    per-account weekly health, the lift frame and owner names."""

    mrr: pl.DataFrame
    tables: OutcomeTables
    ledger: pl.DataFrame
    health: pl.DataFrame
    lift: pl.DataFrame
    owners: dict[str, str]
    first: date
    last: date


def _mrr(accounts: int, months: int, end: date) -> pl.DataFrame:
    a = pl.DataFrame({"i": pl.arange(0, accounts, eager=True)}).with_columns(
        (_u("i", 1) * 36).floor().cast(pl.Int32).sub(12).alias("start"),
        pl.when(_u("i", 2) < 0.2).then(((_u("i", 3) * 30).floor() + 3).cast(pl.Int32)).otherwise(999).alias("life"),
        ((_u("i", 4) * 40).floor() * 50 + 200).alias("base"),
        pl.when(_u("i", 5) < 0.35).then((_u("i", 6) * 24).floor().cast(pl.Int32)).otherwise(999).alias("up"),
        pl.when(_u("i", 7) < 0.25).then((_u("i", 8) * 24).floor().cast(pl.Int32)).otherwise(999).alias("cross"),
        pl.when(_u("i", 9) < 0.1).then((_u("i", 10) * 24).floor().cast(pl.Int32)).otherwise(999).alias("down"),
    )
    m = pl.DataFrame({"m": pl.arange(0, months, eager=True).cast(pl.Int32)})
    rows = a.join(m, how="cross").filter(
        (pl.col("m") >= pl.col("start")) & (pl.col("m") < pl.col("start") + pl.col("life"))
    )
    since = pl.col("m") - pl.col("start")
    core = rows.select(
        "i", "m", pl.lit("core").alias("product"),
        (pl.col("base") * pl.when(since >= pl.col("up")).then(1.5).otherwise(1.0)
         * pl.when(since >= pl.col("down")).then(0.7).otherwise(1.0)).alias("mrr"),
    )  # fmt: skip
    addon = rows.filter(since >= pl.col("cross")).select(
        "i", "m", pl.lit("analytics").alias("product"), (pl.col("base") * 0.3).round(0).alias("mrr")
    )
    first = add_months(end, -(months - 1))
    months_list = [add_months(first, k) for k in range(months)]
    return (
        pl.concat([core, addon])
        .select(
            pl.format("A{}", "i").alias("account"),
            pl.col("m").replace_strict(dict(enumerate(months_list)), return_dtype=pl.Date).alias("month"),
            "product",
            "mrr",
            pl.lit("USD").alias("currency"),
        )
        .cast(pl.Schema(MRR_SCHEMA))
    )


def _outcomes(accounts: int, owners: int, first: date, last: date) -> tuple[OutcomeTables, pl.DataFrame]:
    n = max(50, accounts * 6 // 10)
    days = (last - first).days + 1
    start = datetime.combine(first, datetime.min.time(), UTC)
    _rule = pl.col("r").replace_strict(dict(enumerate(RULES)), return_dtype=pl.String)
    t = pl.DataFrame({"j": pl.arange(0, n, eager=True)}).with_columns(
        (_u("j", 11) * accounts).floor().cast(pl.Int64).alias("acc"),
        # a rule's share of tasks falls with its rank: the funnel has big and small rules
        ((_u("j", 12) ** 1.6) * len(RULES)).floor().cast(pl.Int64).alias("r"),
        (pl.lit(start) + pl.duration(seconds=(_u("j", 13) * days * 86400).floor())).alias("created_at"),
    )
    ledger = t.select(
        pl.format("t{}", "j").alias("key"),
        _rule.alias("rule_id"),
        pl.format("A{}", "acc").alias("account_id"),
        pl.format("w{}", "j").alias("window"),
        pl.lit("confirmed").alias("state"),
        "created_at",
        pl.when(_u("j", 14) < 0.1).then(pl.col("created_at") + pl.duration(days=10)).alias("closed_at"),
        pl.format("O{}", (pl.col("acc") * 7919) % owners).alias("owner_id"),
    )
    done = _u("j", 15)
    tasks = t.select(
        pl.format("t{}", "j").alias("sync_key"),
        pl.format("A{}", "acc").alias("account_id"),
        pl.when(done < 0.55)
        .then(pl.lit("Completed"))
        .when(done < 0.65)
        .then(pl.lit(DECLINED))
        .otherwise(pl.lit("Open"))
        .alias("status"),
        (done < 0.65).alias("is_closed"),
        (pl.col("created_at") + pl.duration(days=5)).alias("modified_at"),
    )
    # opportunities follow a third of the tasks within 40 days; more often for the first rules
    opp = (
        t.filter(_u("j", 16) < 0.45 - pl.col("r") * 0.012)
        .select(
            pl.format("opp{}", "j").alias("crm_id"),
            pl.format("A{}", "acc").alias("account_id"),
            pl.lit("Upsell").alias("opp_type"),
            (_u("j", 17) < 0.45).alias("is_won"),
            (pl.col("created_at") + pl.duration(days=(_u("j", 18) * 40).floor() + 1)).alias("created_at"),
            ((_u("j", 19) * 40).floor() * 250 + 1000).alias("amount"),
        )
        .with_columns(
            pl.col("is_won").alias("is_closed"),
            (pl.col("created_at").dt.date() + pl.duration(days=20)).alias("close_date"),
        )
    )
    fired = (
        pl.concat(
            [
                ledger.select("account_id", "rule_id"),
                t.select(
                    pl.format("A{}", ((_u("j", 20) * accounts).floor().cast(pl.Int64))).alias("account_id"),
                    _rule.alias("rule_id"),
                ),
            ]
        )
        .unique()
        .with_columns(
            pl.lit(first).alias("first_fired_on"),
            pl.lit(last).alias("last_fired_on"),
            pl.lit(None, pl.String).alias("blocked_by"),
        )
    )
    tables = OutcomeTables(ledger=ledger, tasks=tasks, opportunities=opp, signal_log=fired).checked()
    return tables, ledger.select("key", "owner_id", "state", "created_at", "closed_at")


def _health(accounts: int, last: date, weeks: int = 52) -> pl.DataFrame:
    a = pl.DataFrame({"i": pl.arange(0, accounts, eager=True)})
    w = pl.DataFrame({"w": pl.arange(0, weeks, eager=True)})
    days = pl.lit(last) - pl.duration(days=(weeks - 1 - pl.col("w")) * 7)
    score = _u("i", 21) * 0.7 + pl.col("w").cast(pl.Float64) / weeks * 0.25 + _u("i", 22) * 0.05
    return a.join(w, how="cross").select(
        pl.format("A{}", "i").alias("account_id"),
        days.alias("day"),
        pl.when(score >= 0.55)
        .then(pl.lit("green"))
        .when(score >= 0.25)
        .then(pl.lit("yellow"))
        .otherwise(pl.lit("red"))
        .alias("band"),
    )


def _lift(ready: int = 20) -> pl.DataFrame:
    rows = []
    for k, rule in enumerate(RULES):
        treated, control = 4000 // (k + 1) + 150, 400 // (k + 1) + 15
        pt, pc = 0.30 - k * 0.006, 0.22 - k * 0.004
        lift = pt - pc
        se = math.sqrt(pt * (1 - pt) / treated + pc * (1 - pc) / control)
        enough = k < ready
        rows.append({
            "rule_id": rule, "treated": treated, "control": control,
            "treated_opportunities": round(pt * treated), "control_opportunities": round(pc * control),
            "treated_opportunity_rate": pt, "control_opportunity_rate": pc,
            "treated_won": round(pt * treated * 0.4), "control_won": round(pc * control * 0.4),
            "treated_win_rate": 0.4, "control_win_rate": 0.4,
            "treated_revenue": pt * 0.4 * 5000, "control_revenue": pc * 0.4 * 5000,
            "lift": lift, "lift_relative": lift / pc, "ci_low": lift - 1.96 * se, "ci_high": lift + 1.96 * se,
            "revenue_lift": lift * 2000, "revenue_ci_low": (lift - 1.96 * se) * 2000,
            "revenue_ci_high": (lift + 1.96 * se) * 2000, "enough_data": enough,
            "note": "" if enough else f"not enough data yet: {control} accounts in the control group, 100 needed",
        })  # fmt: skip
    return pl.DataFrame(rows, schema=LIFT_SCHEMA)


def synthetic(accounts: int = 2_000, *, months: int = 24, owners: int = 200, last: date = date(2026, 11, 30)) -> Raw:
    """``accounts`` customers over ``months`` months of MRR, a 90-day period of tasks from 25 rules,
    a year of weekly health and ``owners`` owners."""
    first = last - timedelta(days=89)
    tables, ledger = _outcomes(accounts, owners, first, last)
    names = {f"O{k}": f"{_FIRST[k % len(_FIRST)]} {_LAST[(k // len(_FIRST)) % len(_LAST)]}" for k in range(owners)}
    return Raw(
        mrr=_mrr(accounts, months, date(last.year, last.month, 1)),
        tables=tables,
        ledger=ledger,
        health=_health(accounts, last),
        lift=_lift(),
        owners=names,
        first=first,
        last=last,
    )


def report_of(raw: Raw, *, outcome_days: int = 60) -> ReportData:
    """The measures over the raw frames, as the CLI computes them from the store."""
    f = funnel(
        raw.tables,
        since=raw.first,
        until=raw.last,
        outcome_days=outcome_days,
        decline_statuses=[DECLINED],
        rule_ids=RULES,
    )
    return ReportData(
        system="salesforce",
        first=raw.first,
        last=raw.last,
        outcome_days=outcome_days,
        currency="USD",
        mrr=raw.mrr,
        funnel=f,
        lift=raw.lift,
        health=raw.health.group_by("day", "band").agg(pl.len().cast(pl.Int64).alias("accounts")),
        owners=tasks_per_owner(raw.ledger, raw.tables.tasks, raw.owners, since=raw.first, until=raw.last),
    )
