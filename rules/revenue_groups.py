"""Revenue measures per group: segment, owner or cohort (M1–M9 broken down). Pure.

A breakdown takes ``groups``, each account's one group value: an account column (type, industry,
a size band), its owner, or its **cohort**, the month it first paid (:func:`cohorts`). Accounts
the groups do not name fall in a group of their own (value None), so the groups' amounts and
counts always add up to the whole book's (:func:`rules.revenue.retention`). The value is the one
given, whatever it was earlier in the period (the shell reads segment and owner as they are now).

Beside the period's bridge (:data:`rules.revenue.BRIDGE_COLUMNS`) a breakdown carries:

- ``monthly_churn``: logo churn per month over the period's months (accounts that stopped paying
  from one month to the next / accounts paying in the month before, summed over the months);
- ``ltv`` (M3): ARPA at the end × lifetime, the lifetime given or 1 / ``monthly_churn``;
- ``new_customers``: accounts whose first paid month ever is inside the period (after ``start``,
  up to ``end``; a returning account is not a new customer), ``new_customer_mrr`` their mean MRR
  in that first month;
- with an acquisition cost ``cac`` per new customer (M9): ``cac_payback_months`` = cac /
  ``new_customer_mrr`` (months of a new customer's MRR that pay its acquisition back) and
  ``ltv_cac`` = ltv / cac. Without ``cac`` both are None, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from rules.revenue import (
    BRIDGE_COLUMNS,
    account_bridge,
    bridge_totals,
    finish_bridge,
    month_of,
    month_pairs,
    paid,
)

__all__ = ["GROUP_MEASURES", "Groups", "cohorts", "monthly_bridge_by", "retention_by"]

Groups = pl.DataFrame | Mapping[str, object]
"""``account`` → group value: a frame of ``account`` and one more column (its name names the
breakdown: ``segment``, ``owner_id``, ``cohort_month``), or a mapping (the column is then ``group``)."""

GROUP_MEASURES = (
    *BRIDGE_COLUMNS,
    "monthly_churn",
    "ltv",
    "new_customers",
    "new_customer_mrr",
    "cac_payback_months",
    "ltv_cac",
)
"""A breakdown's columns after the group's: the bridge, then LTV and acquisition (M3, M9)."""

_RESERVED = {"account", "product", "month", "period", "from", "to", "was", "now", *GROUP_MEASURES}


def cohorts(mrr: pl.DataFrame) -> pl.DataFrame:
    """Each account's cohort: the first month it paid anything (``account``, ``cohort_month``; the
    column ``cohort`` is taken by the count of accounts paying at the start)."""
    return paid(mrr).group_by("account").agg(pl.col("month").min().alias("cohort_month")).sort("account").collect()


def _groups(groups: Groups | None) -> tuple[pl.DataFrame | None, list[str]]:
    """The groups as a frame (``account``, name) and the name, checked: one value per account."""
    if groups is None:
        return None, []
    if not isinstance(groups, pl.DataFrame):
        frame = pl.DataFrame({"account": pl.Series(list(groups), dtype=pl.String), "group": list(groups.values())})
    else:
        frame = groups.with_columns(pl.col("account").cast(pl.String)) if "account" in groups.columns else groups
    names = [c for c in frame.columns if c != "account"]
    if "account" not in frame.columns or len(names) != 1:
        raise ValueError(
            f"groups has columns {frame.columns}: give 'account' and exactly one group column "
            "(segment, owner_id, cohort_month, …)"
        )
    (name,) = names
    if name in _RESERVED:
        raise ValueError(f"group column {name!r} clashes with a measure's name: rename it (e.g. {name}_group)")
    twice = frame.filter(pl.col("account").is_duplicated()).get_column("account")
    if twice.len():
        raise ValueError(
            f"groups {name!r}: account {twice[0]!r} has {(frame['account'] == twice[0]).sum()} values; "
            "give each account one group (the one it has now)"
        )
    return frame.select("account", name), [name]


def _with_groups(accounts: pl.LazyFrame, groups: pl.DataFrame | None) -> pl.LazyFrame:
    return accounts if groups is None else accounts.join(groups.lazy(), on="account", how="left")


def monthly_bridge_by(mrr: pl.DataFrame, groups: Groups, *, start: date, end: date) -> pl.DataFrame:
    """:func:`rules.revenue.monthly_bridge` per group: one row per month after ``start`` up to
    ``end`` and group that had a paying account at either end of that month (an NRR trend per
    segment, owner or cohort). Rows of one month add up to that month's whole-book row."""
    g, by = _groups(groups)
    p = paid(mrr).collect().lazy()
    accounts = _with_groups(account_bridge(p, month_pairs(start, end)), g)
    out = finish_bridge(bridge_totals(accounts, ["period", *by]))
    return out.select(pl.col("period").alias("month"), *by, *BRIDGE_COLUMNS).sort("month", *by).collect()


def retention_by(
    mrr: pl.DataFrame,
    groups: Groups | None,
    *,
    start: date,
    end: date,
    cac: float | None = None,
    lifetime_months: float | None = None,
) -> pl.DataFrame:
    """The period's measures per group (columns: the group's, then :data:`GROUP_MEASURES`), one row
    per group with an account paying at ``start`` or ``end`` or a new customer in between; sorted
    by group. ``groups=None`` is the whole book in one row. ``cac`` is the acquisition cost of a new
    customer, in the frame's currency; ``lifetime_months`` replaces 1 / monthly churn in LTV."""
    if cac is not None and not cac > 0:
        raise ValueError(f"cac must be a positive amount per new customer, got {cac!r}: leave it unset if unknown")
    if lifetime_months is not None and not lifetime_months > 0:
        raise ValueError(f"lifetime_months must be positive, got {lifetime_months!r}")
    g, by = _groups(groups)
    keys = by or ["_all"]  # the whole book: one group of every account
    first, last = month_of(start), month_of(end)
    p = paid(mrr).collect().lazy()  # read once, joined three ways below

    def grouped(accounts: pl.LazyFrame) -> pl.LazyFrame:
        return accounts.with_columns(pl.lit(0).alias("_all")) if g is None else _with_groups(accounts, g)

    period = pl.DataFrame({"period": [last], "from": [first], "to": [last]})
    sums = bridge_totals(grouped(account_bridge(p, period)), keys)
    monthly = (
        bridge_totals(grouped(account_bridge(p, month_pairs(first, last))), [*keys, "period"])
        .group_by(keys)
        .agg(_share(pl.col("churned").sum(), pl.col("cohort").sum()).alias("monthly_churn"))
    )
    firsts = p.group_by("account").agg(pl.col("month").min())
    newcomers = (
        p.join(firsts.filter((pl.col("month") > first) & (pl.col("month") <= last)), on=["account", "month"])
        .group_by("account")
        .agg(pl.col("mrr").sum())
        .pipe(grouped)
        .group_by(keys)
        .agg(pl.len().cast(pl.Int64).alias("new_customers"), pl.col("mrr").mean().alias("new_customer_mrr"))
    )
    joined = sums.join(monthly, on=keys, how="full", coalesce=True, nulls_equal=True)
    out = joined.join(newcomers, on=keys, how="full", coalesce=True, nulls_equal=True).collect()
    if g is None and out.is_empty():  # nobody paid: the book is still one row, of zeros
        out = pl.DataFrame({"_all": [0]}).join(out, on="_all", how="left")
    out = out.with_columns(pl.col(c).fill_null(0) for c in _COUNTS).with_columns(
        pl.col(c).fill_null(0.0) for c in _AMOUNTS
    )
    ltv: pl.Expr
    if lifetime_months is None:
        ltv = pl.when(pl.col("monthly_churn") > 0).then(pl.col("arpa") / pl.col("monthly_churn"))
    else:
        ltv = pl.col("arpa") * lifetime_months
    per_cac = pl.lit(cac, dtype=pl.Float64)
    ready = finish_bridge(out.lazy()).with_columns(ltv.alias("ltv"))
    ready = ready.with_columns(
        (per_cac / pl.col("new_customer_mrr")).alias("cac_payback_months"), (pl.col("ltv") / per_cac).alias("ltv_cac")
    )
    result = ready.select(*by, *GROUP_MEASURES).collect()
    return result.sort(by, nulls_last=True) if by else result


_COUNTS = ("cohort", "churned", "paying", "upsold", "new_customers")
_AMOUNTS = tuple(c for c in BRIDGE_COLUMNS[:12] if c not in _COUNTS)


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then(part / whole).otherwise(None)
