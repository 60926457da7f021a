"""The report's revenue part: the period's MRR measures from the CRM's records, and their headline.

A period is whole months: from the opening MRR (the snapshot on the last day of the month before
``--from``'s) to the closing MRR (the snapshot on the last day of ``--to``'s month, or on
``--as-of`` within it). MRR comes from :func:`rules.mrr.mrr_by_month`, the measures from
:mod:`rules.revenue_offers` and :mod:`rules.revenue_groups`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from core.tables import OutcomeTables, RevenueTables
from rules.engine import RuleSet
from rules.mrr import month_start, mrr_by_month
from rules.revenue import MRR_SCHEMA, CurrencyError, to_currency
from rules.revenue_groups import GROUP_MEASURES, cohorts, retention_by
from rules.revenue_offers import measures
from sync.revenue_settings import RevenueSettings

__all__ = ["book_mrr", "cross_sell_offers", "headline", "revenue_measures"]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥"}


def book_mrr(
    tables: RevenueTables, settings: RevenueSettings, *, last: date, as_of: date, statuses: tuple[str, ...]
) -> pl.DataFrame:
    """MRR per account, month and product in the reporting currency, from the month of the first won
    deal (cohorts need each account's first paid month) to ``last``'s month. Raises CurrencyError
    for a currency without a rate."""
    closes = tables.opportunities.get_column("close_date").drop_nulls()
    earliest = closes.min() if closes.len() else None
    first = month_start(earliest) if isinstance(earliest, date) else month_start(last)
    mrr = mrr_by_month(
        tables.opportunities,
        tables.line_items,
        tables.products,
        tables.contracts,
        first=min(first, month_start(last)),
        last=month_start(last),
        as_of=as_of,
        params=settings.params(statuses),
    )
    return to_currency(mrr, settings.currency, settings.rates)


def _by(frame: pl.DataFrame, column: str) -> dict[str, dict[str, Any]]:
    """A breakdown's rows keyed by group value (``(none)`` for accounts without one)."""
    return {
        "(none)" if row[column] is None else str(row[column]): {c: row[c] for c in GROUP_MEASURES}
        for row in frame.iter_rows(named=True)
    }


def revenue_measures(
    tables: RevenueTables,
    settings: RevenueSettings,
    *,
    first: date,
    last: date,
    as_of: date,
    statuses: tuple[str, ...],
    offers: pl.DataFrame | None = None,
    outcome_days: int = 90,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """The ``"revenue"`` object of ``report --json`` and the MRR frame it was computed from.

    The object: the period's bridge and ratios (:data:`rules.revenue_groups.GROUP_MEASURES`: NRR,
    GRR, churn, ARPA, ARR growth, upsell rate, LTV, CAC payback…), cross-sell conversion of
    upsync's cross-sell tasks (``offers``), and the same per segment (``[revenue] segment_by``),
    owner and cohort (the month an account first paid). A currency without a rate gives
    ``{"error", "hint"}`` instead of any sum, and an empty frame."""
    try:
        mrr = book_mrr(tables, settings, last=last, as_of=as_of, statuses=statuses)
    except CurrencyError as exc:
        hint = f"set [revenue] rates, e.g. rates = {{ EUR = 1.08 }} (one unit in {settings.currency})"
        failed = {"currency": settings.currency, "from": None, "to": None, "error": str(exc), "hint": hint}
        return failed, pl.DataFrame(schema=MRR_SCHEMA)
    opening = month_start(month_start(first) - timedelta(days=1))
    closing = month_start(last)
    end_day = min((closing + timedelta(days=32)).replace(day=1) - timedelta(days=1), as_of)
    whole = measures(
        mrr,
        start=opening,
        end=closing,
        currency=settings.currency,
        cac=settings.cac,
        offers=offers,
        outcome_days=outcome_days,
    )
    whole |= {"from": month_start(first).isoformat(), "to": end_day.isoformat()}
    accounts = tables.accounts.select(pl.col("crm_id").alias("account"), settings.segment_by, "owner_id")
    segment = accounts.select("account", pl.col(settings.segment_by).alias("segment"))
    owner = accounts.select("account", pl.col("owner_id").alias("owner"))
    breakdowns = {
        name: _by(retention_by(mrr, groups, start=opening, end=closing, cac=settings.cac), column)
        for name, groups, column in (
            ("segments", segment, "segment"),
            ("owners", owner, "owner"),
            ("cohorts", cohorts(mrr), "cohort_month"),
        )
    }
    return {**whole, "segment_by": settings.segment_by, **breakdowns}, mrr


def _money(amount: float, currency: str) -> str:
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{amount:,.0f}" if symbol else f"{amount:,.0f} {currency}"


def _day(text: str) -> str:
    d = date.fromisoformat(text)
    return f"{d.day} {d:%b %Y}"


def headline(revenue: dict[str, Any]) -> str:
    """The report's first line, in plain words."""
    if "error" in revenue:
        return f"Revenue: not computed: {revenue['error']} ({revenue['hint']})"
    if not revenue["cohort"]:
        return f"No paying customer at the start of the period ({_day(revenue['from'])}): no retention to report yet."
    cur = revenue["currency"]
    nrr, grr = revenue["nrr"], revenue["grr"]
    return (
        f"Net revenue retention {nrr:.0%} (gross {grr:.0%}) from {_day(revenue['from'])} to {_day(revenue['to'])}: "
        f"{_money(revenue['expansion'], cur)} of expansion (upsell {_money(revenue['upsell'], cur)}, "
        f"cross-sell {_money(revenue['cross_sell'], cur)}), {_money(revenue['churn'], cur)} lost to churn "
        f"({revenue['churned']} of {revenue['cohort']} customers); "
        f"MRR {_money(revenue['start_mrr'], cur)} → {_money(revenue['end_mrr'], cur)}"
    ).replace("%", " %")


def cross_sell_offers(tables: OutcomeTables, ruleset: RuleSet, *, first: date, last: date) -> pl.DataFrame:
    """upsync's cross-sell offers created ``first``..``last``: its confirmed tasks of rules whose
    offer is a cross-sell (``offer_kind``), as (account, rule_id, offered_on) for M6."""
    rules = [r.id for r in ruleset.rules if r.offer_kind == "cross-sell"]
    day = pl.col("created_at").dt.date()
    return tables.ledger.filter(
        (pl.col("state") == "confirmed") & pl.col("rule_id").is_in(rules) & day.is_between(first, last)
    ).select(pl.col("account_id").alias("account"), "rule_id", day.alias("offered_on"))
