"""MRR per account, month and product (:data:`rules.revenue.MRR_SCHEMA`) from the CRM's own records. Pure.

The CRM already says what each customer pays: its won deals' line items, their products and the
account's contracts. The model, for every line item of a won deal closed by ``as_of``:

- **recurring or not**: a line with a billing frequency (HubSpot ``recurringbillingfrequency``)
  is recurring; otherwise it is unless its product's family is one of ``one_off_families``
  (services, set-up fees: they never count as MRR);
- **term start**: HubSpot's ``hs_recurring_billing_start_date``, else the line's date
  (Salesforce OpportunityLineItem ``ServiceDate``), else the deal's close date;
- **term end**: HubSpot's ``hs_recurring_billing_end_date``, else the end of the account's
  activated contract whose term covers the start (the latest-starting one), else
  ``default_term_months`` after the start;
- **monthly amount**: HubSpot's own ``hs_mrr``, else the line's total over its billing frequency's
  months (``annually`` 12…), else the line's total over ``price_months`` (how many months a
  price covers: 12 for annual list prices; Salesforce ``TotalPrice`` = quantity × sales price);
- **replacement**: a later line in the same slot replaces the earlier one from the later one's
  start (a renewal re-lists what continues; a re-quote states the whole new quantity). A slot is
  the product, except that every product of a family in ``plan_families`` shares one slot, the
  family: an account has one plan at a time, and moving to a higher edition replaces the old one;
- **the month's MRR** is a snapshot on the month's last day (on ``as_of`` for the month holding
  it): a line counts when it started on or before that day and ends on or after it. A mid-month
  start counts in its month; a term ending before the month's last day does not.
- **product** (the frame's column) is the slot, so an upgrade of the plan is an upsell of the
  plan, and an add-on bought anew a cross-sell;
- **currency**: the deal's (HubSpot ``deal_currency_code``, Salesforce ``CurrencyIsoCode`` in a
  multi-currency org), else ``currency``, the org's one currency.

Vectorised: lines are expanded to the months they span in one step (100k accounts × 24 months
is a few million rows), never looped per account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from rules.revenue import MRR_SCHEMA

__all__ = ["FREQUENCY_MONTHS", "MrrParams", "month_start", "months", "mrr_by_month"]

FREQUENCY_MONTHS: dict[str, int] = {
    "weekly": 0,  # not a whole number of months: by its own hs_mrr, else by price_months
    "biweekly": 0,
    "monthly": 1,
    "quarterly": 3,
    "per_six_months": 6,
    "annually": 12,
    "per_two_years": 24,
    "per_three_years": 36,
    "per_four_years": 48,
    "per_five_years": 60,
}
"""HubSpot's ``recurringbillingfrequency`` values → the months one billed amount covers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MrrParams:
    """How line items become MRR (``[revenue]`` in config.toml)."""

    currency: str = "USD"
    plan_families: tuple[str, ...] = ()
    one_off_families: tuple[str, ...] = ()
    default_term_months: int = 12
    price_months: int = 12
    activated_statuses: tuple[str, ...] = ("Activated",)


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=MRR_SCHEMA)


def mrr_by_month(
    opportunities: pl.DataFrame,
    line_items: pl.DataFrame,
    products: pl.DataFrame,
    contracts: pl.DataFrame,
    *,
    first: date,
    last: date,
    as_of: date,
    params: MrrParams | None = None,
) -> pl.DataFrame:
    """:data:`MRR_SCHEMA` rows for the months from ``first``'s to ``last``'s (none past ``as_of``).

    ``opportunities``: crm_id, account_id, is_won, close_date, currency; ``line_items``: crm_id,
    opportunity_id, product_id, total_price, service_date, term_start, term_end, mrr,
    billing_frequency; ``products``: crm_id, name, family; ``contracts``: account_id, status,
    start_date, end_date. Only won deals closed by ``as_of`` count."""
    p = params or MrrParams()
    first_month, last_month = month_start(first), month_start(min(last, as_of))
    if last_month < first_month:
        return _empty()
    won = opportunities.filter(pl.col("is_won").fill_null(False) & (pl.col("close_date") <= as_of)).select(
        pl.col("crm_id").alias("opportunity_id"),
        pl.col("account_id").alias("account"),
        "close_date",
        pl.col("currency").replace("", None).fill_null(p.currency).alias("currency"),
    )
    catalogue = products.select(pl.col("crm_id").alias("product_id"), "name", "family").unique("product_id")
    frequency = pl.col("billing_frequency").replace("", None)
    lines = (
        line_items.join(won, on="opportunity_id", how="inner")
        .filter(pl.col("account").is_not_null())
        .join(catalogue, on="product_id", how="left")
        .filter(frequency.is_not_null() | ~pl.col("family").fill_null("").is_in(list(p.one_off_families)))
        .with_columns(
            pl.coalesce("term_start", "service_date", "close_date").alias("start"),
            pl.when(pl.col("family").is_in(list(p.plan_families)))
            .then(pl.col("family"))
            .otherwise(pl.coalesce("name", "product_id"))
            .alias("product"),
            frequency.replace_strict(FREQUENCY_MONTHS, default=None, return_dtype=pl.Int64).alias("_months"),
        )
        .with_columns(
            pl.coalesce(
                pl.col("mrr"),
                pl.when(pl.col("_months") > 0).then(pl.col("total_price") / pl.col("_months")),
                pl.col("total_price") / p.price_months,
            )
            .fill_null(0.0)
            .alias("monthly")
        )
        .filter(pl.col("start").is_not_null())
        .with_row_index("_line")
    )
    if lines.is_empty():
        return _empty()
    lines = _with_end(lines, contracts, p)
    lines = _replaced(lines)
    return _expand(lines, first_month, last_month, as_of)


def _with_end(lines: pl.DataFrame, contracts: pl.DataFrame, p: MrrParams) -> pl.DataFrame:
    """Each line's term end: its own, else its covering activated contract's, else the default term."""
    active = contracts.filter(pl.col("status").is_in(list(p.activated_statuses))).select(
        pl.col("account_id").alias("account"), "start_date", "end_date"
    )
    covering = (
        lines.select("_line", "account", "start")
        .join(active, on="account", how="inner")
        .filter((pl.col("start_date") <= pl.col("start")) & (pl.col("end_date") >= pl.col("start")))
        .sort("start_date")
        .group_by("_line")
        .agg(pl.col("end_date").last().alias("_contract_end"))
    )
    default_end = pl.col("start").dt.offset_by(f"{p.default_term_months}mo") - pl.duration(days=1)
    return (
        lines.join(covering, on="_line", how="left")
        .with_columns(pl.coalesce("term_end", "_contract_end", default_end).alias("end"))
        .drop("_contract_end")
    )


def _replaced(lines: pl.DataFrame) -> pl.DataFrame:
    """Each line ends at the latest the day before the next later start in its account's slot."""
    starts = (
        lines.select("account", "product", "start")
        .unique()
        .sort("account", "product", "start")
        .with_columns(pl.col("start").shift(-1).over("account", "product").alias("_next"))
    )
    cut = pl.col("_next") - pl.duration(days=1)
    return (
        lines.join(starts, on=["account", "product", "start"], how="left")
        .with_columns(
            pl.when(pl.col("_next").is_not_null() & (cut < pl.col("end"))).then(cut).otherwise("end").alias("end")
        )
        .drop("_next")
    )


def _expand(lines: pl.DataFrame, first_month: date, last_month: date, as_of: date) -> pl.DataFrame:
    """One row per line and month it is live on the month's snapshot day, summed per account,
    month, product and currency."""
    live = lines.filter(pl.col("end") >= pl.col("start")).with_columns(
        pl.max_horizontal(pl.col("start").dt.truncate("1mo"), pl.lit(first_month)).alias("_from"),
        pl.min_horizontal(pl.col("end").dt.truncate("1mo"), pl.lit(last_month)).alias("_to"),
    )
    live = live.filter(pl.col("_from") <= pl.col("_to"))
    if live.is_empty():
        return _empty()
    snapshot = pl.min_horizontal(pl.col("month").dt.month_end(), pl.lit(as_of))
    return (
        live.select(
            "account",
            "product",
            "currency",
            "monthly",
            "start",
            "end",
            pl.date_ranges("_from", "_to", interval="1mo").alias("month"),
        )
        .explode("month")
        .filter((pl.col("start") <= snapshot) & (pl.col("end") >= snapshot))
        .group_by("account", "month", "product", "currency")
        .agg(pl.col("monthly").sum().alias("mrr"))
        .select(list(MRR_SCHEMA))
        .cast(pl.Schema(MRR_SCHEMA))
        .sort("account", "month", "product")
    )


def months(first: date, last: date) -> list[date]:
    """The first days of the months from ``first``'s to ``last``'s."""
    out, m = [], month_start(first)
    while m <= last:
        out.append(m)
        m = month_start(m + timedelta(days=32))
    return out
