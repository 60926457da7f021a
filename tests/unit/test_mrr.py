"""MRR per account, month and product from won deals, line items, products and contracts
(rules/mrr.py), on small tables computed by hand. Prices are annual (price_months 12): a $1,200
line is $100 a month."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from rules.mrr import MrrParams, months, mrr_by_month
from rules.revenue import CurrencyError, retention, to_currency

PRODUCTS = [
    {"crm_id": "p-team", "name": "Team", "family": "Platform"},
    {"crm_id": "p-biz", "name": "Business", "family": "Platform"},
    {"crm_id": "p-analytics", "name": "Analytics", "family": "Add-on"},
    {"crm_id": "p-onboarding", "name": "Onboarding", "family": "Services"},
]
AS_OF = date(2026, 12, 31)

OPP = {"crm_id": pl.String, "account_id": pl.String, "is_won": pl.Boolean, "close_date": pl.Date, "currency": pl.String}
LINE = {
    "crm_id": pl.String,
    "opportunity_id": pl.String,
    "product_id": pl.String,
    "total_price": pl.Float64,
    "service_date": pl.Date,
    "term_start": pl.Date,
    "term_end": pl.Date,
    "mrr": pl.Float64,
    "billing_frequency": pl.String,
}
CONTRACT = {"account_id": pl.String, "status": pl.String, "start_date": pl.Date, "end_date": pl.Date}


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def _mrr(
    deals: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    contracts: list[dict[str, Any]] | None = None,
    *,
    first: date = date(2026, 1, 1),
    last: date = date(2026, 12, 1),
    as_of: date = AS_OF,
    params: MrrParams | None = None,
) -> dict[tuple[str, str, str], float]:
    """(account, YYYY-MM, product) → MRR."""
    frame = mrr_by_month(
        _frame(deals, OPP),
        _frame([{"crm_id": f"li-{i}", **li} for i, li in enumerate(lines)], LINE),
        pl.DataFrame(PRODUCTS),
        _frame(contracts or [], CONTRACT),
        first=first,
        last=last,
        as_of=as_of,
        params=params or MrrParams(plan_families=("Platform",), one_off_families=("Services",)),
    )
    return {(r["account"], r["month"].isoformat()[:7], r["product"]): r["mrr"] for r in frame.to_dicts()}


def _won(crm_id: str, account: str, close: date, currency: str | None = None) -> dict[str, Any]:
    return {"crm_id": crm_id, "account_id": account, "is_won": True, "close_date": close, "currency": currency}


def _contract(account: str, start: date, end: date, status: str = "Activated") -> dict[str, Any]:
    return {"account_id": account, "status": status, "start_date": start, "end_date": end}


def test_a_renewal_replaces_the_line_it_renews_and_the_contract_bounds_each_term() -> None:
    deals = [_won("o1", "A", date(2025, 7, 1)), _won("o2", "A", date(2026, 7, 1))]
    lines = [
        {"opportunity_id": "o1", "product_id": "p-team", "total_price": 1200.0, "service_date": date(2025, 7, 1)},
        {"opportunity_id": "o2", "product_id": "p-team", "total_price": 1800.0, "service_date": date(2026, 7, 1)},
    ]
    contracts = [
        _contract("A", date(2025, 7, 1), date(2026, 6, 30)),
        _contract("A", date(2026, 7, 1), date(2027, 6, 30)),
    ]
    got = _mrr(deals, lines, contracts)
    assert got[("A", "2026-06", "Platform")] == 100.0  # the first term, to its last day
    assert got[("A", "2026-07", "Platform")] == 150.0  # the renewal, not both
    assert got[("A", "2026-12", "Platform")] == 150.0
    assert len(got) == 12


def test_an_upgrade_replaces_the_plan_from_its_start_and_an_add_on_is_its_own_product() -> None:
    deals = [_won("o1", "A", date(2026, 1, 1)), _won("o2", "A", date(2026, 4, 10)), _won("o3", "A", date(2026, 5, 3))]
    lines = [
        {"opportunity_id": "o1", "product_id": "p-team", "total_price": 1200.0, "service_date": date(2026, 1, 1)},
        {"opportunity_id": "o2", "product_id": "p-biz", "total_price": 2400.0, "service_date": date(2026, 4, 10)},
        {"opportunity_id": "o3", "product_id": "p-analytics", "total_price": 600.0, "service_date": date(2026, 5, 3)},
    ]
    contracts = [_contract("A", date(2026, 1, 1), date(2026, 12, 31))]
    got = _mrr(deals, lines, contracts)
    assert got[("A", "2026-03", "Platform")] == 100.0
    assert got[("A", "2026-04", "Platform")] == 200.0  # mid-month: counts in its month, Team no longer
    assert ("A", "2026-04", "Analytics") not in got
    assert got[("A", "2026-05", "Analytics")] == 50.0  # a cross-sell: its own product, beside the plan
    assert got[("A", "2026-12", "Platform")] == 200.0
    r = retention(
        pl.DataFrame(
            [
                {"account": a, "month": date.fromisoformat(m + "-01"), "product": p, "mrr": v, "currency": "USD"}
                for (a, m, p), v in got.items()
            ]
        ),
        start=date(2026, 3, 1),
        end=date(2026, 5, 1),
    )
    assert (r.upsell, r.cross_sell, r.contraction) == (100.0, 50.0, 0.0)


def test_churn_when_the_contract_ends_without_renewal_and_a_return_later() -> None:
    deals = [_won("o1", "A", date(2025, 6, 15)), _won("o2", "A", date(2026, 9, 1))]
    lines = [
        {"opportunity_id": "o1", "product_id": "p-team", "total_price": 1200.0},  # no line date: the close date
        {"opportunity_id": "o2", "product_id": "p-team", "total_price": 2400.0},
    ]
    contracts = [_contract("A", date(2025, 6, 15), date(2026, 6, 14))]
    got = _mrr(deals, lines, contracts)
    assert got[("A", "2026-05", "Platform")] == 100.0
    # the term ends on 14 June: June's snapshot (30 June) no longer holds it; nothing until the return
    assert [m for (_, m, _) in got] == [
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
        "2026-05",
        "2026-09",
        "2026-10",
        "2026-11",
        "2026-12",
    ]
    assert got[("A", "2026-09", "Platform")] == 200.0  # back, on the default 12-month term


def test_one_off_services_never_count_and_hubspot_own_terms_and_mrr_win() -> None:
    deals = [_won("o1", "A", date(2026, 2, 20))]
    lines: list[dict[str, Any]] = [
        {"opportunity_id": "o1", "product_id": "p-onboarding", "total_price": 3000.0},
        {
            "opportunity_id": "o1",
            "product_id": "p-analytics",
            "total_price": 999.0,
            "term_start": date(2026, 3, 1),
            "term_end": date(2026, 8, 31),
            "mrr": 70.0,
            "billing_frequency": "annually",
        },
        # a line without a product, billed quarterly: recurring by its frequency, 300 / 3 a month
        {"opportunity_id": "o1", "product_id": None, "total_price": 300.0, "billing_frequency": "quarterly"},
    ]
    got = _mrr(deals, lines)
    assert not [k for k in got if k[2] == "Onboarding"]
    assert ("A", "2026-02", "Analytics") not in got  # its billing term starts in March
    assert got[("A", "2026-03", "Analytics")] == 70.0  # hs_mrr as HubSpot computed it
    assert got[("A", "2026-08", "Analytics")] == 70.0 and ("A", "2026-09", "Analytics") not in got
    assert [v for (a, m, p), v in got.items() if m == "2026-02" and p != "Analytics"] == [100.0]


def test_lost_open_and_future_deals_count_nothing_and_no_month_past_as_of() -> None:
    deals: list[dict[str, Any]] = [
        {"crm_id": "o1", "account_id": "A", "is_won": False, "close_date": date(2026, 1, 5)},
        {"crm_id": "o2", "account_id": "A", "is_won": None, "close_date": date(2026, 1, 5)},
        _won("o3", "B", date(2026, 3, 1)),
    ]
    lines = [{"opportunity_id": o, "product_id": "p-team", "total_price": 1200.0} for o in ("o1", "o2", "o3")]
    got = _mrr(deals, lines, as_of=date(2026, 2, 27))
    assert got == {}
    got = _mrr(deals, lines, as_of=date(2026, 4, 10))
    assert sorted(got) == [("B", "2026-03", "Platform"), ("B", "2026-04", "Platform")]


def test_several_currencies_are_kept_apart_and_never_summed_without_a_rate() -> None:
    deals = [
        _won("o1", "A", date(2026, 1, 1), "EUR"),
        _won("o2", "B", date(2026, 1, 1)),
        _won("o3", "C", date(2026, 1, 1), ""),
    ]
    lines = [{"opportunity_id": o, "product_id": "p-team", "total_price": 1200.0} for o in ("o1", "o2", "o3")]
    frame = mrr_by_month(
        _frame(deals, OPP),
        _frame(lines, LINE),
        pl.DataFrame(PRODUCTS),
        _frame([], CONTRACT),
        first=date(2026, 1, 1),
        last=date(2026, 3, 1),
        as_of=AS_OF,
        params=MrrParams(currency="JPY", plan_families=("Platform",), one_off_families=("Services",)),
    )
    assert sorted(set(zip(frame["account"], frame["currency"], strict=True))) == [
        ("A", "EUR"),
        ("B", "JPY"),
        ("C", "JPY"),
    ]
    with pytest.raises(CurrencyError, match="EUR"):
        retention(frame, start=date(2026, 1, 1), end=date(2026, 3, 1))
    converted = to_currency(frame, "JPY", {"EUR": 160.0})
    assert retention(converted, start=date(2026, 1, 1), end=date(2026, 3, 1)).start_mrr == 100 * 160 + 100 + 100


def test_months_lists_first_days() -> None:
    assert months(date(2025, 11, 15), date(2026, 2, 3)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
