"""Cross-sell conversion (M6) of upsync's offers, and the period's headline measures in one record. Pure.

**M6**: of the accounts upsync offered a cross-sell (``offers``: account, rule_id, offered_on, and
optionally the ``product`` offered), the share that within ``outcome_days`` of an offer bought a
product they did not have. MRR is monthly, so days are read as months:

- *did not have*: no MRR for the product in the month before the offer's month (the last whole
  month known before the offer);
- *bought within the window*: MRR for it in any month from the offer's month to the month of
  ``offered_on + outcome_days``. A product first paid in the offer's own month counts, although a
  monthly frame cannot tell whether it was bought before the offer in that month;
- with a ``product`` on the offer, only that product converts it; without one, any product new to
  the account does. An account offered several times converts if any offer did; per rule, each
  rule's accounts are counted apart.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from rules.revenue import month_of, paid
from rules.revenue_groups import GROUP_MEASURES, retention_by

__all__ = ["OFFERS_SCHEMA", "cross_sell_conversion", "measures"]

OFFERS_SCHEMA: dict[str, pl.DataType] = {"account": pl.String(), "rule_id": pl.String(), "offered_on": pl.Date()}
"""One row per cross-sell offer upsync made (a task written): to whom, by which rule, on which day."""


def _converted(offers: pl.DataFrame, mrr: pl.DataFrame, outcome_days: int) -> pl.LazyFrame:
    """Each offer (account, rule_id) with ``converted``: it bought a new product in the window."""
    missing = [c for c in OFFERS_SCHEMA if c not in offers.columns]
    if missing:
        raise ValueError(f"offers lacks {', '.join(missing)}: give account, rule_id, offered_on (a date) per offer")
    if outcome_days <= 0:
        raise ValueError(f"outcome_days must be a positive number of days, got {outcome_days}")
    named = "product" in offers.columns
    window = (
        offers.lazy()
        .with_row_index("offer")
        .select(
            "offer",
            "account",
            "rule_id",
            pl.col("product").alias("offered") if named else pl.lit(None, pl.String).alias("offered"),
            pl.col("offered_on").dt.truncate("1mo").alias("first"),
            pl.col("offered_on").dt.offset_by(f"{outcome_days}d").dt.truncate("1mo").alias("last"),
        )
    )
    p = paid(mrr).collect().lazy()
    had = window.join(p, on="account").filter(pl.col("month") == pl.col("first").dt.offset_by("-1mo"))
    bought = (
        window.join(p, on="account")
        .filter(pl.col("month").is_between(pl.col("first"), pl.col("last")))
        .filter(pl.col("offered").is_null() | (pl.col("product") == pl.col("offered")))
        .join(had.select("offer", "product"), on=["offer", "product"], how="anti")
        .select("offer")
        .unique()
        .with_columns(pl.lit(True).alias("converted"))
    )
    return window.join(bought, on="offer", how="left").select(
        "account", "rule_id", pl.col("converted").fill_null(False)
    )


def cross_sell_conversion(
    offers: pl.DataFrame, mrr: pl.DataFrame, *, outcome_days: int, by_rule: bool = False
) -> pl.DataFrame:
    """M6: ``offered`` (accounts), ``converted`` (of them, those that bought) and ``conversion``
    (their share, None without offers): one row, or one per ``rule_id`` when ``by_rule``."""
    keys = ["rule_id"] if by_rule else []
    per_account = _converted(offers, mrr, outcome_days).group_by("account", *keys).agg(pl.col("converted").any())
    if by_rule:
        counted = per_account.group_by("rule_id")
    else:
        counted = per_account.with_columns(pl.lit(0).alias("_all")).group_by("_all")
    out = counted.agg(pl.len().cast(pl.Int64).alias("offered"), pl.col("converted").sum().cast(pl.Int64)).collect()
    if not by_rule:
        out = out.drop("_all") if out.height else pl.DataFrame({"offered": [0], "converted": [0]})
    out = out.with_columns(
        pl.when(pl.col("offered") > 0).then(pl.col("converted") / pl.col("offered")).alias("conversion")
    )
    return out.sort("rule_id") if by_rule else out


def measures(
    mrr: pl.DataFrame,
    *,
    start: date,
    end: date,
    currency: str,
    cac: float | None = None,
    lifetime_months: float | None = None,
    offers: pl.DataFrame | None = None,
    outcome_days: int = 90,
) -> dict[str, Any]:
    """The whole book's measures from ``start`` to ``end`` as one record (for ``report --json``'s
    ``"revenue"``): ``currency``, ``from``, ``to`` (ISO dates), every column of
    :data:`rules.revenue_groups.GROUP_MEASURES`, and with ``offers`` the cross-sell conversion
    (``cross_sell_offered``, ``cross_sell_converted``, ``cross_sell_conversion``). ``mrr`` must be
    in ``currency`` already (:func:`rules.revenue.to_currency`). Undefined figures are None."""
    row = retention_by(mrr, None, start=start, end=end, cac=cac, lifetime_months=lifetime_months).row(0, named=True)
    out: dict[str, Any] = {
        "currency": currency,
        "from": month_of(start).isoformat(),
        "to": month_of(end).isoformat(),
        **{c: row[c] for c in GROUP_MEASURES},
        "cac": cac,
    }
    if offers is not None:
        m6 = cross_sell_conversion(offers, mrr, outcome_days=outcome_days).row(0, named=True)
        out |= {f"cross_sell_{k}": m6[k] for k in ("offered", "converted", "conversion")}
    return out
