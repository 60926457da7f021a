"""Outcomes: did the tasks work? The per-rule funnel (M10) and the over-selling watch (M11). Pure.

M10 is the loop that tunes the rules: a rule whose tasks are declined or lead nowhere needs a
stricter threshold (or retiring); one whose tasks turn into won deals earns a looser one. So every
number here is per rule and follows one task from the signal to the money, and every count is
defined so that a rule is credited only for what its own tasks plausibly caused.

Inputs are frames (:class:`OutcomeTables`), the period and, for replays, ``as_of``: nothing here
reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from core.tables import OutcomeTables

__all__ = [
    "FUNNEL_SCHEMA",
    "TOTAL",
    "Outcomes",
    "Overselling",
    "funnel",
    "outcomes",
    "overselling",
]

_UTC = pl.Datetime("us", "UTC")
TOTAL = "TOTAL"
"""The ``rule_id`` of the funnel's closing row: every rule together."""

FUNNEL_SCHEMA: dict[str, pl.DataType] = {
    "rule_id": pl.String(),
    "fired": pl.Int64(),
    "tasks": pl.Int64(),
    "completed": pl.Int64(),
    "declined": pl.Int64(),
    "withdrawn": pl.Int64(),
    "open": pl.Int64(),
    "opportunities": pl.Int64(),
    "won": pl.Int64(),
    "revenue": pl.Float64(),
    "task_to_completed": pl.Float64(),
    "task_to_opportunity": pl.Float64(),
    "opportunity_to_won": pl.Float64(),
}
"""The funnel's columns, in order."""

_COUNTS = ("fired", "tasks", "completed", "declined", "withdrawn", "open", "opportunities", "won")


def _ratio(num: str, den: str) -> pl.Expr:
    """num / den, null when the denominator is zero (a rate of nothing is unknown, not 0%)."""
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def _day(column: str) -> pl.Expr:
    return pl.col(column).dt.date()


def _confirmed(ledger: pl.DataFrame) -> pl.DataFrame:
    """Tasks that exist in the CRM: confirmed ledger rows, one per key."""
    return (
        ledger.filter((pl.col("state") == "confirmed") & pl.col("created_at").is_not_null())
        .unique("key", keep="first", maintain_order=True)
        .select("key", "rule_id", "account_id", "window", "created_at", "closed_at")
    )


def _outcome_opportunities(opps: pl.DataFrame, as_of: datetime | None, opp_types: Sequence[str] | None) -> pl.DataFrame:
    """Opportunities that can be an outcome: known creation time, created (and won) by ``as_of``."""
    o = opps.filter(pl.col("created_at").is_not_null() & pl.col("account_id").is_not_null())
    if opp_types is not None:
        o = o.filter(pl.col("opp_type").is_in(list(opp_types)))
    won = pl.col("is_won").fill_null(False)
    if as_of is not None:
        o = o.filter(pl.col("created_at") <= as_of)
        won = won & (pl.col("close_date").is_null() | (pl.col("close_date") <= as_of.date()))
    return o.unique("crm_id", keep="last", maintain_order=True).select(
        pl.col("crm_id").alias("opp_id"),
        "account_id",
        pl.col("created_at").alias("opp_at"),
        won.alias("opp_won"),
        pl.when(won).then(pl.col("amount").fill_null(0.0)).otherwise(0.0).alias("opp_amount"),
    )


def funnel(
    tables: OutcomeTables,
    *,
    since: date,
    until: date,
    outcome_days: int,
    decline_statuses: Sequence[str],
    rule_ids: Sequence[str] = (),
    as_of: datetime | None = None,
    opp_types: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The per-rule funnel (M10) of the period ``since``..``until`` (dates, both included).

    One row per rule (``rule_ids`` first, always listed so a rule that never fires shows as zeros,
    then any other rule seen, by id), then a ``TOTAL`` row that sums them (its ``fired`` counts
    (account, rule) pairs) and recomputes the ratios; no rule and no data give an empty frame.
    Columns are :data:`FUNNEL_SCHEMA`. The cohort is the tasks created in the period; their
    outcomes are followed for ``outcome_days`` wherever that ends, up to ``as_of`` (None:
    everything stored; a replay passes its time so it sees neither tasks nor outcomes of its own
    future).

    - **fired**: accounts the rule fired on unblocked in the period. The signal log keeps a first
      day seen and a last day fired per (account, rule), so this counts spans that overlap the
      period: exact for a period ending today, an upper bound for an older one.
    - **tasks**: tasks upsync created in the period and the CRM confirmed (ledger ``confirmed``).
    - **declined**: of those, tasks whose CRM status is one of ``decline_statuses`` (G3's "no"),
      whether or not the CRM counts that status as closed (HubSpot's DEFERRED is not).
    - **withdrawn**: tasks upsync closed itself because their signal cleared (ledger ``closed_at``)
      before anyone answered them: not a rep's "done", so they must not inflate completed.
    - **completed**: tasks closed in the CRM with any other status. **open**: the rest, tasks not
      read back yet (or deleted in the CRM) included. completed + declined + withdrawn + open =
      tasks. A status counts only if the CRM last modified the task by ``as_of`` (the store keeps
      only its latest state).
    - **opportunities**: tasks whose account had an opportunity *created* after the task, at the
      latest ``outcome_days`` calendar days (UTC) after its day (a deal already open before the
      task is not its outcome). A task counts once however many deals follow. It is influence,
      not credit: two rules' tasks on one account can both be followed by the same deal; that is
      what each rule's conversion rate should see.
    - **won**: of those tasks, the ones with at least one of the following deals won.
    - **revenue**: won amounts, each deal credited once, to one task: the most recent confirmed
      task on its account created at or before the deal (any period, any rule; ties broken by the
      later key), and only if the deal came within ``outcome_days`` of it. Last touch, because the
      sum over rules must be money that exists, and the latest offer is the one the deal answered.
      A deal credited to a task outside the period counts in that period's report, not this one's.
    - ratios: ``task_to_completed`` = completed / tasks, ``task_to_opportunity`` = opportunities /
      tasks, ``opportunity_to_won`` = won / opportunities; null when the denominator is 0.

    A lost deal is G3's other "no", but here it is simply an opportunity not won: the declined
    column is about the task, the rep's answer to it.
    """
    t = tables.checked()
    window = timedelta(days=outcome_days)
    declines = list(decline_statuses)

    confirmed = _confirmed(t.ledger)
    if as_of is not None:
        confirmed = confirmed.filter(pl.col("created_at") <= as_of)
    cohort = confirmed.filter(_day("created_at").is_between(since, until))

    status = t.tasks.filter(pl.col("sync_key").is_not_null())
    if as_of is not None:
        status = status.filter(pl.col("modified_at").is_null() | (pl.col("modified_at") <= as_of))
    status = status.sort("modified_at", nulls_last=False).unique("sync_key", keep="last", maintain_order=True)
    cohort = cohort.join(
        status.select(pl.col("sync_key").alias("key"), "status", "is_closed"), on="key", how="left"
    ).with_columns(pl.col("status").is_in(declines).fill_null(False).alias("_declined"))
    withdrawn = pl.col("closed_at").is_not_null()
    if as_of is not None:
        withdrawn = withdrawn & (pl.col("closed_at") <= as_of)
    cohort = cohort.with_columns((withdrawn & ~pl.col("_declined")).alias("_withdrawn")).with_columns(
        (pl.col("is_closed").fill_null(False) & ~pl.col("_declined") & ~pl.col("_withdrawn")).alias("_completed"),
    )

    opps = _outcome_opportunities(t.opportunities, as_of, opp_types)
    in_window = _day("opp_at") <= _day("created_at") + window
    following = (
        cohort.select("key", "account_id", "created_at")
        .join(opps, on="account_id")
        .filter((pl.col("opp_at") >= pl.col("created_at")) & in_window)
        .group_by("key")
        .agg(pl.lit(True).alias("_opportunity"), pl.col("opp_won").any().alias("_won"))
    )

    # last touch: each deal to the latest confirmed task on its account at or before its creation
    credit = (
        opps.filter(pl.col("opp_won"))
        .join(confirmed.select("key", "account_id", "created_at"), on="account_id")
        .filter(pl.col("created_at") <= pl.col("opp_at"))
        .sort("opp_id", "created_at", "key")
        .group_by("opp_id", maintain_order=True)
        .last()
        .filter(in_window)
        .group_by("key")
        .agg(pl.col("opp_amount").sum().alias("_revenue"))
    )

    cohort = (
        cohort.join(following, on="key", how="left")
        .join(credit, on="key", how="left")
        .with_columns(
            pl.col("_opportunity").fill_null(False),
            pl.col("_won").fill_null(False),
            pl.col("_revenue").fill_null(0.0),
        )
    )
    # a proposal is one (rule, account, period): a sequence's stages (A4) are one, answered by any stage
    units = cohort.group_by("rule_id", "account_id", pl.coalesce("window", "key").alias("_unit")).agg(
        pl.col("_completed").any(),
        pl.col("_declined").any(),
        pl.col("_withdrawn").all(),
        pl.col("_opportunity").any(),
        pl.col("_won").any(),
        pl.col("_revenue").sum(),
    )
    per_rule = units.group_by("rule_id").agg(
        pl.len().cast(pl.Int64).alias("tasks"),
        pl.col("_completed").sum().cast(pl.Int64).alias("completed"),
        pl.col("_declined").sum().cast(pl.Int64).alias("declined"),
        pl.col("_withdrawn").sum().cast(pl.Int64).alias("withdrawn"),
        (~pl.col("_completed") & ~pl.col("_declined") & ~pl.col("_withdrawn")).sum().cast(pl.Int64).alias("open"),
        pl.col("_opportunity").sum().cast(pl.Int64).alias("opportunities"),
        pl.col("_won").sum().cast(pl.Int64).alias("won"),
        pl.col("_revenue").sum().cast(pl.Float64).alias("revenue"),
    )

    fired = (
        t.signal_log.filter(
            pl.col("last_fired_on").is_not_null()
            & (pl.col("last_fired_on") >= since)
            & (pl.col("first_fired_on").is_null() | (pl.col("first_fired_on") <= until))
        )
        .group_by("rule_id")
        .agg(pl.col("account_id").n_unique().cast(pl.Int64).alias("fired"))
    )

    seen = set(per_rule.get_column("rule_id").to_list()) | set(fired.get_column("rule_id").to_list())
    order = list(dict.fromkeys(rule_ids)) + sorted(r for r in seen - set(rule_ids) if r is not None)
    if not order:
        return pl.DataFrame(schema=FUNNEL_SCHEMA)
    rows = (
        pl.DataFrame({"rule_id": order, "_order": range(len(order))}, schema={"rule_id": pl.String, "_order": pl.Int64})
        .join(fired, on="rule_id", how="left")
        .join(per_rule, on="rule_id", how="left")
        .with_columns(*(pl.col(c).fill_null(0) for c in _COUNTS), pl.col("revenue").fill_null(0.0))
        .sort("_order")
    )
    total = rows.select(pl.lit(TOTAL).alias("rule_id"), *(pl.col(c).sum() for c in (*_COUNTS, "revenue")))
    out = pl.concat([rows.select("rule_id", *_COUNTS, "revenue"), total], how="vertical")
    return out.with_columns(
        _ratio("completed", "tasks").alias("task_to_completed"),
        _ratio("opportunities", "tasks").alias("task_to_opportunity"),
        _ratio("won", "opportunities").alias("opportunity_to_won"),
    ).select([pl.col(c).cast(dt) for c, dt in FUNNEL_SCHEMA.items()])


@dataclass(frozen=True, slots=True, kw_only=True)
class Overselling:
    """M11, the over-selling watch: how hard accounts are pushed, and whether pushing costs customers.

    ``tasks_per_account_month_*`` are over (account, calendar month) pairs with at least one task:
    how many tasks an account that was contacted got that month (G2's cap is the thing to compare).
    Churn compares customers at the start of the period that received at least one task in it
    (offered) with those that did not; rates are null when a group is empty.
    """

    tasks: int
    accounts_offered: int
    tasks_per_account_month_mean: float | None
    tasks_per_account_month_max: int
    customers_at_start: int
    offered: int
    offered_churned: int
    offered_churn_rate: float | None
    not_offered: int
    not_offered_churned: int
    not_offered_churn_rate: float | None


def _covered(t: OutcomeTables, day: date, statuses: Sequence[str] | None) -> pl.DataFrame:
    """(account_id): accounts under contract on ``day``: an (activated) contract running that day,
    or the CRM's contract end field on or after it (HubSpot has no contract object)."""
    c = t.contracts.filter(
        pl.col("start_date").is_not_null()
        & (pl.col("start_date") <= day)
        & (pl.col("end_date").is_null() | (pl.col("end_date") >= day))
    )
    if statuses is not None:
        c = c.filter(pl.col("status").is_in(list(statuses)))
    field_end = t.accounts.filter(pl.col("contract_end") >= day).select(pl.col("crm_id").alias("account_id"))
    return pl.concat([c.select("account_id"), field_end]).drop_nulls().unique()


def overselling(
    tables: OutcomeTables,
    *,
    since: date,
    until: date,
    contract_statuses: Sequence[str] | None = ("Activated",),
    churned_values: Sequence[str] = ("churned", "former customer"),
) -> Overselling:
    """M11 over ``since``..``until`` (dates, both included), from confirmed tasks and contracts.

    Customers at start: accounts under contract on ``since`` (see :func:`_covered`;
    ``contract_statuses`` None takes every status). Churned: of those, accounts under no contract
    on ``until`` (every contract ended or lapsed without a renewal), or whose account type or
    lifecycle stage is one of ``churned_values`` (case-insensitive: the CRM says so). It compares,
    it does not prove: offers go to accounts chosen for a reason, so a gap is a question to ask.
    """
    t = tables.checked()
    cohort = _confirmed(t.ledger).filter(_day("created_at").is_between(since, until))
    months = cohort.group_by("account_id", pl.col("created_at").dt.strftime("%Y-%m").alias("month")).agg(
        pl.concat_str("rule_id", pl.coalesce("window", "key"), separator="|").n_unique().alias("n")  # a sequence: one
    )
    mean = months.get_column("n").mean() if months.height else None
    peak = months.get_column("n").max() if months.height else 0
    offered_ids = set(cohort.get_column("account_id").drop_nulls().to_list())

    start = set(_covered(t, since, contract_statuses).get_column("account_id").to_list())
    end = set(_covered(t, until, contract_statuses).get_column("account_id").to_list())
    markers = [v.lower() for v in churned_values]
    flagged = set(
        t.accounts.filter(
            pl.col("account_type").str.to_lowercase().is_in(markers).fill_null(False)
            | pl.col("lifecycle_stage").str.to_lowercase().is_in(markers).fill_null(False)
        )
        .get_column("crm_id")
        .to_list()
    )
    churned = {a for a in start if a not in end or a in flagged}
    offered = start & offered_ids
    not_offered = start - offered_ids

    def rate(num: int, den: int) -> float | None:
        return num / den if den else None

    return Overselling(
        tasks=cohort.height,
        accounts_offered=len(offered_ids),
        tasks_per_account_month_mean=float(mean) if isinstance(mean, int | float) else None,
        tasks_per_account_month_max=int(peak) if isinstance(peak, int | float) else 0,
        customers_at_start=len(start),
        offered=len(offered),
        offered_churned=len(offered & churned),
        offered_churn_rate=rate(len(offered & churned), len(offered)),
        not_offered=len(not_offered),
        not_offered_churned=len(not_offered & churned),
        not_offered_churn_rate=rate(len(not_offered & churned), len(not_offered)),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """What ``upsync report`` shows: the funnel per rule, its total row, and the over-selling watch."""

    rules: list[dict[str, Any]]
    total: dict[str, Any] | None
    overselling: Overselling


def outcomes(
    tables: OutcomeTables,
    *,
    since: date,
    until: date,
    outcome_days: int,
    decline_statuses: Sequence[str],
    rule_ids: Sequence[str] = (),
    as_of: datetime | None = None,
    contract_statuses: Sequence[str] | None = ("Activated",),
) -> Outcomes:
    """M10 and M11 over ``since``..``until``: :func:`funnel` split into its rule rows and total, and
    :func:`overselling`."""
    rows = funnel(
        tables,
        since=since,
        until=until,
        outcome_days=outcome_days,
        decline_statuses=decline_statuses,
        rule_ids=rule_ids,
        as_of=as_of,
    ).to_dicts()
    return Outcomes(
        rules=[r for r in rows if r["rule_id"] != TOTAL],
        total=next((r for r in rows if r["rule_id"] == TOTAL), None),
        overselling=overselling(tables, since=since, until=until, contract_statuses=contract_statuses),
    )
