"""The report's revenue part: the period's MRR measures from the CRM's records, and their headline.

A period is whole months: from the opening MRR (the snapshot on the last day of the month before
``--from``'s) to the closing MRR (the snapshot on the last day of ``--to``'s month, or on
``--as-of`` within it). MRR comes from :func:`rules.mrr.mrr_by_month`, the measures from
:func:`rules.revenue.retention`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from core.tables import RevenueTables
from rules.mrr import month_start, mrr_by_month
from rules.revenue import CurrencyError, Retention, ltv, retention, to_currency
from sync.revenue_settings import RevenueSettings

__all__ = ["headline", "period_mrr", "revenue_measures"]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥"}


def period_mrr(
    tables: RevenueTables, settings: RevenueSettings, *, first: date, last: date, as_of: date, statuses: tuple[str, ...]
) -> tuple[pl.DataFrame, date, date]:
    """MRR per account, month and product in the reporting currency from the month before
    ``first``'s to ``last``'s, with the opening and closing months. Raises CurrencyError for a
    currency without a rate."""
    opening = month_start(month_start(first) - timedelta(days=1))
    closing = month_start(last)
    mrr = mrr_by_month(
        tables.opportunities,
        tables.line_items,
        tables.products,
        tables.contracts,
        first=opening,
        last=closing,
        as_of=as_of,
        params=settings.params(statuses),
    )
    return to_currency(mrr, settings.currency, settings.rates), opening, closing


def _figures(r: Retention, months: int, cac: float | None) -> dict[str, Any]:
    arpa = r.arpa
    monthly_churn = r.logo_churn / months if r.logo_churn is not None and months else None
    value = ltv(arpa, monthly_churn=monthly_churn) if arpa is not None else None
    return {
        "start_mrr": r.start_mrr,
        "end_mrr": r.end_mrr,
        "expansion": r.expansion,
        "upsell": r.upsell,
        "cross_sell": r.cross_sell,
        "contraction": r.contraction,
        "churn": r.churn,
        "new": r.new,
        "nrr": r.nrr,
        "grr": r.grr,
        "logo_churn": r.logo_churn,
        "mrr_churn": r.mrr_churn,
        "arpa": arpa,
        "arr_growth": r.arr_growth,
        "ltv": value,
        "cohort": r.cohort,
        "churned": r.churned,
        "paying_at_end": r.paying_at_end,
        "cac_payback_months": cac / arpa if cac is not None and arpa else None,
        "ltv_cac": value / cac if value is not None and cac else None,
    }


def revenue_measures(
    tables: RevenueTables, settings: RevenueSettings, *, first: date, last: date, as_of: date, statuses: tuple[str, ...]
) -> dict[str, Any]:
    """The ``"revenue"`` object of ``report --json``: the period's bridge and ratios (the fields of
    :class:`rules.revenue.Retention`, LTV, CAC payback), and the same per segment. A currency
    without a rate gives ``{"error", "hint"}`` instead of any sum."""
    period = {"currency": settings.currency, "from": None, "to": None}
    try:
        mrr, opening, closing = period_mrr(tables, settings, first=first, last=last, as_of=as_of, statuses=statuses)
    except CurrencyError as exc:
        return {
            **period,
            "error": str(exc),
            "hint": f"set [revenue] rates, e.g. rates = {{ EUR = 1.08 }} (one unit in {settings.currency})",
        }
    end_day = min((closing + timedelta(days=32)).replace(day=1) - timedelta(days=1), as_of)
    period.update({"from": (opening + timedelta(days=32)).replace(day=1).isoformat(), "to": end_day.isoformat()})
    months = (closing.year - opening.year) * 12 + closing.month - opening.month
    column = settings.segment_by
    segments = tables.accounts.select(
        pl.col("crm_id").alias("account"), pl.col(column).fill_null("(none)").alias("segment")
    )
    with_segment = mrr.join(segments, on="account", how="left").with_columns(pl.col("segment").fill_null("(none)"))
    by_segment = {
        str(name): _figures(retention(part.drop("segment"), start=opening, end=closing), months, settings.cac)
        for (name,), part in sorted(
            with_segment.partition_by("segment", as_dict=True).items(), key=lambda kv: str(kv[0])
        )
    }
    whole = _figures(retention(mrr, start=opening, end=closing), months, settings.cac)
    return {**period, **whole, "segment_by": column, "segments": by_segment}


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
