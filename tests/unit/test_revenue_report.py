"""The report's revenue part: [revenue] settings refused with their key path, the period's
measures from CRM rows, and the plain-words headline (sync/cli/revenue.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.errors import ConfigError
from core.tables import RevenueTables
from sync.cli.revenue import headline, revenue_measures
from sync.revenue_settings import RevenueSettings
from sync.settings import parse_settings

BASE = {"upsync": {"crm": "hubspot"}}


@pytest.mark.parametrize(
    ("revenue", "named"),
    [
        ({"currency": "usd"}, "revenue.currency"),
        ({"rates": {"EUR": 0}}, "revenue.rates"),
        ({"price_month": 12}, "revenue.price_month"),
        ({"segment_by": "colour"}, "revenue.segment_by"),
        ({"plan_families": ["Services"], "one_off_families": ["Services"]}, "revenue"),
    ],
)
def test_bad_revenue_settings_name_their_key(revenue: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({**BASE, "revenue": revenue}, {})
    assert named in str(caught.value)


def _tables() -> RevenueTables:
    """A ($100 a month from 2025), B ($200, its term ends 10 Apr 2026: churned), C (new in April),
    A adds an add-on of $50 in March (cross-sell) and upgrades its plan to $150 in May (upsell)."""
    won = [
        ("o1", "A", "2025-01-01"),
        ("o2", "B", "2025-04-11"),
        ("o3", "C", "2026-04-02"),
        ("o4", "A", "2026-03-15"),
        ("o5", "A", "2026-05-01"),
    ]
    lines = [
        ("o1", "team", 1200.0),
        ("o2", "team", 2400.0),
        ("o3", "team", 1200.0),
        ("o4", "analytics", 600.0),
        ("o5", "biz", 1800.0),
    ]
    return RevenueTables.from_rows(
        opportunities=[
            {"crm_id": o, "account_id": a, "is_won": True, "close_date": date.fromisoformat(d), "currency": None}
            for o, a, d in won
        ],
        line_items=[
            {"crm_id": f"l{i}", "opportunity_id": o, "product_id": p, "total_price": t}
            for i, (o, p, t) in enumerate(lines)
        ],
        products=[
            {"crm_id": "team", "name": "Team", "family": "Platform"},
            {"crm_id": "biz", "name": "Business", "family": "Platform"},
            {"crm_id": "analytics", "name": "Analytics", "family": "Add-on"},
        ],
        contracts=[
            {"account_id": "A", "status": "Activated", "start_date": date(2025, 1, 1), "end_date": date(2027, 12, 31)},
        ],
        accounts=[{"crm_id": "A", "account_type": "Customer"}, {"crm_id": "B", "account_type": "Partner"}],
    )


def _measures(tables: RevenueTables, settings: RevenueSettings) -> dict[str, Any]:
    revenue, _ = revenue_measures(
        tables,
        settings,
        first=date(2026, 3, 1),
        last=date(2026, 5, 31),
        as_of=date(2026, 6, 1),
        statuses=("Activated",),
    )
    return revenue


def test_the_period_runs_from_the_month_before_from_to_the_month_of_to() -> None:
    revenue = _measures(_tables(), RevenueSettings(plan_families=("Platform",)))
    # opening (end of February): A 100 + B 200; closing (end of May): A 150 + 50, C 100
    assert (revenue["from"], revenue["to"]) == ("2026-03-01", "2026-05-31")
    assert (revenue["start_mrr"], revenue["end_mrr"]) == (300.0, 300.0)
    assert (revenue["upsell"], revenue["cross_sell"], revenue["churn"], revenue["new"]) == (50.0, 50.0, 200.0, 100.0)
    assert revenue["nrr"] == pytest.approx(200 / 300) and revenue["grr"] == pytest.approx(100 / 300)
    assert (revenue["churned"], revenue["cohort"], revenue["logo_churn"]) == (1, 2, 0.5)
    assert revenue["segments"]["Partner"]["churn"] == 200.0 and revenue["segments"]["Customer"]["nrr"] == 2.0
    assert headline(revenue) == (
        "Net revenue retention 67 % (gross 33 %) from 1 Mar 2026 to 31 May 2026: $100 of expansion "
        "(upsell $50, cross-sell $50), $200 lost to churn (1 of 2 customers); MRR $300 → $300"
    )


def test_several_currencies_without_a_rate_are_an_error_in_the_report_not_a_sum() -> None:
    tables = _tables()
    tables = RevenueTables(
        opportunities=tables.opportunities.with_columns(
            currency=tables.opportunities["account_id"].replace({"B": "EUR"}).replace({"A": None, "C": None})
        ),
        line_items=tables.line_items,
        products=tables.products,
        contracts=tables.contracts,
        accounts=tables.accounts,
    )
    revenue = _measures(tables, RevenueSettings(plan_families=("Platform",)))
    assert "EUR" in revenue["error"] and "start_mrr" not in revenue
    assert headline(revenue).startswith("Revenue: not computed: MRR in EUR")
    converted = _measures(tables, RevenueSettings(rates={"EUR": 1.5}, plan_families=("Platform",)))
    assert converted["churn"] == 300.0
