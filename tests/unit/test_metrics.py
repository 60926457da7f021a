"""M10 per-rule funnel and M11 over-selling watch on small hand-built frames."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import polars as pl
import pytest

from core.tables import OutcomeTables
from rules.metrics import FUNNEL_SCHEMA, TOTAL, funnel, overselling

SINCE, UNTIL = date(2026, 3, 1), date(2026, 5, 31)
DECLINES = ("Declined", "DEFERRED")


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def task(key: str, rule: str, account: str, day: str, state: str = "confirmed", **kw: Any) -> dict[str, Any]:
    return {"key": key, "rule_id": rule, "account_id": account, "state": state, "created_at": at(day), **kw}


def opp(crm_id: str, account: str, day: str, *, won: bool = False, amount: float = 0.0, **kw: Any) -> dict[str, Any]:
    return {
        "crm_id": crm_id,
        "account_id": account,
        "created_at": at(day, 15),
        "is_closed": won or kw.pop("lost", False),
        "is_won": won,
        "amount": amount,
        **kw,
    }


def sig(account: str, rule: str, first: date, last: date | None) -> dict[str, Any]:
    return {"account_id": account, "rule_id": rule, "first_fired_on": first, "last_fired_on": last}


def run(**rows: Any) -> dict[str, dict[str, Any]]:
    kw = {k: rows.pop(k) for k in ("rule_ids", "as_of", "opp_types", "outcome_days") if k in rows}
    out = funnel(
        OutcomeTables.from_rows(**rows),
        since=SINCE,
        until=UNTIL,
        outcome_days=kw.pop("outcome_days", 60),
        decline_statuses=DECLINES,
        **kw,
    )
    assert out.schema == pl.Schema(FUNNEL_SCHEMA)
    return {r["rule_id"]: r for r in out.to_dicts()}


def test_empty_inputs_give_zero_rows_not_errors() -> None:
    out = funnel(OutcomeTables(), since=SINCE, until=UNTIL, outcome_days=60, decline_statuses=DECLINES)
    assert out.height == 0 and list(out.columns) == list(FUNNEL_SCHEMA)
    m11 = overselling(OutcomeTables(), since=SINCE, until=UNTIL)
    assert m11.tasks == 0 and m11.tasks_per_account_month_mean is None and m11.offered_churn_rate is None


def test_configured_rules_are_listed_even_when_nothing_happened() -> None:
    rows = run(rule_ids=["b", "a"])
    assert list(rows) == ["b", "a", TOTAL]
    assert rows["a"]["tasks"] == 0 and rows["a"]["task_to_completed"] is None
    assert rows[TOTAL]["revenue"] == 0.0


def test_only_confirmed_tasks_created_in_the_period_count() -> None:
    rows = run(
        ledger=[
            task("k1", "a", "A1", "2026-03-01"),
            task("k2", "a", "A2", "2026-05-31"),
            task("k3", "a", "A3", "2026-02-28"),  # before the period
            task("k4", "a", "A4", "2026-06-01"),  # after it
            task("k5", "a", "A5", "2026-04-01", state="failed"),
            task("k6", "a", "A6", "2026-04-01", state="pending"),
        ]
    )
    assert rows["a"]["tasks"] == 2


def test_declined_completed_withdrawn_and_open_partition_the_tasks() -> None:
    rows = run(
        ledger=[
            task("k1", "a", "A1", "2026-04-01"),
            task("k2", "a", "A2", "2026-04-01"),
            task("k3", "a", "A3", "2026-04-01"),
            task("k4", "a", "A4", "2026-04-01"),
            task("k5", "a", "A5", "2026-04-01"),
            task("k6", "a", "A6", "2026-04-01", closed_at=at("2026-04-10")),
        ],
        tasks=[
            {"sync_key": "k1", "status": "Completed", "is_closed": True, "modified_at": at("2026-04-05")},
            {"sync_key": "k2", "status": "Declined", "is_closed": True, "modified_at": at("2026-04-05")},
            # HubSpot's DEFERRED is not a closed status, but it is a no
            {"sync_key": "k3", "status": "DEFERRED", "is_closed": False, "modified_at": at("2026-04-05")},
            {"sync_key": "k4", "status": "In Progress", "is_closed": False, "modified_at": at("2026-04-05")},
            # k5 not read back yet; k6 closed by upsync itself when its signal cleared
            {"sync_key": "k6", "status": "Completed", "is_closed": True, "modified_at": at("2026-04-10")},
        ],
    )
    a = rows["a"]
    assert (a["tasks"], a["completed"], a["declined"], a["withdrawn"], a["open"]) == (6, 1, 2, 1, 2)
    assert a["task_to_completed"] == pytest.approx(1 / 6)


def test_the_latest_read_back_of_a_task_decides_its_status() -> None:
    rows = run(
        ledger=[task("k1", "a", "A1", "2026-04-01")],
        tasks=[
            {"sync_key": "k1", "status": "Not Started", "is_closed": False, "modified_at": at("2026-04-02")},
            {"sync_key": "k1", "status": "Completed", "is_closed": True, "modified_at": at("2026-04-09")},
        ],
    )
    assert rows["a"]["completed"] == 1 and rows["a"]["open"] == 0


def test_an_opportunity_counts_within_outcome_days_after_the_task_and_not_before_it() -> None:
    rows = run(
        outcome_days=30,
        ledger=[
            task("k1", "a", "A1", "2026-04-01"),  # deal 30 days later: inside
            task("k2", "a", "A2", "2026-04-01"),  # deal 31 days later: outside
            task("k3", "a", "A3", "2026-04-01"),  # deal created the day before the task: not its outcome
            task("k4", "a", "A4", "2026-04-01"),  # deal on another account
        ],
        opportunities=[
            opp("o1", "A1", "2026-05-01"),
            opp("o2", "A2", "2026-05-02"),
            opp("o3", "A3", "2026-03-31"),
            opp("o4", "X", "2026-04-02"),
        ],
    )
    assert rows["a"]["opportunities"] == 1
    assert rows["a"]["task_to_opportunity"] == pytest.approx(0.25)


def test_a_task_followed_by_several_deals_counts_once() -> None:
    rows = run(
        ledger=[task("k1", "a", "A1", "2026-04-01")],
        opportunities=[
            opp("o1", "A1", "2026-04-02", won=True, amount=100.0),
            opp("o2", "A1", "2026-04-03", won=True, amount=50.0),
            opp("o3", "A1", "2026-04-04"),
        ],
    )
    a = rows["a"]
    assert (a["opportunities"], a["won"], a["revenue"]) == (1, 1, 150.0)
    assert a["opportunity_to_won"] == 1.0


def test_revenue_goes_once_to_the_latest_task_before_the_deal() -> None:
    rows = run(
        ledger=[
            task("k1", "a", "A1", "2026-04-01"),
            task("k2", "b", "A1", "2026-04-10"),
            task("k3", "c", "A1", "2026-04-20"),  # after the deal: neither influence nor credit
        ],
        opportunities=[opp("o1", "A1", "2026-04-15", won=True, amount=1000.0)],
    )
    # both earlier tasks were followed by the deal (influence) …
    assert (rows["a"]["opportunities"], rows["a"]["won"]) == (1, 1)
    assert (rows["b"]["opportunities"], rows["b"]["won"]) == (1, 1)
    assert rows["c"]["opportunities"] == 0
    # … but the money is counted once, for the latest offer before it
    assert (rows["a"]["revenue"], rows["b"]["revenue"], rows["c"]["revenue"]) == (0.0, 1000.0, 0.0)
    assert rows[TOTAL]["revenue"] == 1000.0
    assert rows[TOTAL]["opportunities"] == 2 and rows[TOTAL]["tasks"] == 3


def test_revenue_credited_to_a_task_outside_the_period_is_not_this_periods() -> None:
    rows = run(
        ledger=[
            task("k1", "a", "A1", "2026-05-25"),
            task("k2", "b", "A1", "2026-06-02"),  # after the period, still the latest before the deal
        ],
        opportunities=[opp("o1", "A1", "2026-06-05", won=True, amount=500.0)],
    )
    assert rows["a"]["won"] == 1
    assert rows["a"]["revenue"] == 0.0
    assert "b" not in rows


def test_no_credit_when_the_latest_task_is_too_long_before_the_deal() -> None:
    rows = run(
        outcome_days=10,
        ledger=[task("k1", "a", "A1", "2026-04-01")],
        opportunities=[opp("o1", "A1", "2026-04-30", won=True, amount=500.0)],
    )
    assert (rows["a"]["opportunities"], rows["a"]["won"], rows["a"]["revenue"]) == (0, 0, 0.0)


def test_lost_and_open_deals_are_opportunities_but_not_wins() -> None:
    rows = run(
        ledger=[task("k1", "a", "A1", "2026-04-01"), task("k2", "a", "A2", "2026-04-01")],
        opportunities=[opp("o1", "A1", "2026-04-05", lost=True, amount=10.0), opp("o2", "A2", "2026-04-05")],
    )
    a = rows["a"]
    assert (a["opportunities"], a["won"], a["revenue"], a["opportunity_to_won"]) == (2, 0, 0.0, 0.0)


def test_as_of_hides_what_happened_after_it() -> None:
    common: dict[str, Any] = {
        "ledger": [task("k1", "a", "A1", "2026-04-01"), task("k2", "a", "A2", "2026-05-10")],
        "tasks": [{"sync_key": "k1", "status": "Declined", "is_closed": True, "modified_at": at("2026-05-20")}],
        "opportunities": [opp("o1", "A1", "2026-04-05", won=True, amount=10.0, close_date=date(2026, 5, 20))],
    }
    later = run(**common)["a"]
    assert (later["tasks"], later["declined"], later["won"], later["revenue"]) == (2, 1, 1, 10.0)
    replay = run(**common, as_of=at("2026-05-01"))["a"]  # k2 not created yet, the no and the win not given
    assert (replay["tasks"], replay["declined"], replay["open"]) == (1, 0, 1)
    assert (replay["opportunities"], replay["won"], replay["revenue"]) == (1, 0, 0.0)


def test_opp_types_restrict_the_deals_that_count() -> None:
    rows = run(
        opp_types=["Existing Customer - Upgrade"],
        ledger=[task("k1", "a", "A1", "2026-04-01"), task("k2", "a", "A2", "2026-04-01")],
        opportunities=[
            opp("o1", "A1", "2026-04-05", opp_type="Existing Customer - Upgrade"),
            opp("o2", "A2", "2026-04-05", opp_type="New Business"),
        ],
    )
    assert rows["a"]["opportunities"] == 1


def test_fired_counts_accounts_whose_unblocked_span_meets_the_period() -> None:
    rows = run(
        rule_ids=["a"],
        signal_log=[
            sig("A1", "a", date(2026, 2, 1), date(2026, 3, 1)),
            sig("A2", "a", date(2026, 1, 1), date(2026, 2, 27)),  # last fired before the period
            sig("A3", "a", date(2026, 4, 1), None),  # seen, but only ever held back
            sig("A4", "a", date(2026, 6, 2), date(2026, 6, 3)),  # after the period
            sig("A5", "b", date(2026, 5, 1), date(2026, 7, 1)),
        ],
    )
    assert rows["a"]["fired"] == 1 and rows["b"]["fired"] == 1 and rows[TOTAL]["fired"] == 2
    assert list(rows) == ["a", "b", TOTAL]


def test_the_total_row_sums_the_rules_and_recomputes_the_ratios() -> None:
    rows = run(
        ledger=[task("k1", "a", "A1", "2026-04-01"), task("k2", "b", "A2", "2026-04-01")],
        tasks=[{"sync_key": "k1", "status": "Completed", "is_closed": True, "modified_at": at("2026-04-02")}],
        opportunities=[opp("o1", "A2", "2026-04-05", won=True, amount=7.5)],
    )
    total = rows[TOTAL]
    assert (total["tasks"], total["completed"], total["open"], total["opportunities"], total["won"]) == (2, 1, 1, 1, 1)
    assert total["revenue"] == 7.5
    assert total["task_to_completed"] == 0.5 and total["task_to_opportunity"] == 0.5
    assert total["opportunity_to_won"] == 1.0


def test_overselling_counts_tasks_per_account_month_and_compares_churn() -> None:
    tables = OutcomeTables.from_rows(
        ledger=[
            task("k1", "a", "A1", "2026-03-02"),
            task("k2", "b", "A1", "2026-03-20"),
            task("k3", "a", "A1", "2026-04-02"),
            task("k4", "a", "A2", "2026-04-02"),
            task("k5", "a", "A3", "2026-04-02", state="failed"),
        ],
        contracts=[
            # A1 renewed: covered at both ends
            {"account_id": "A1", "status": "Activated", "start_date": date(2025, 6, 1), "end_date": date(2026, 5, 31)},
            {"account_id": "A1", "status": "Activated", "start_date": date(2026, 6, 1), "end_date": date(2027, 5, 31)},
            # A2 lapsed without renewal: churned
            {"account_id": "A2", "status": "Activated", "start_date": date(2025, 6, 1), "end_date": date(2026, 4, 30)},
            # A3 never offered, stays
            {"account_id": "A3", "status": "Activated", "start_date": date(2025, 1, 1), "end_date": None},
            # A4 never offered, draft contract does not count: not a customer at start
            {"account_id": "A4", "status": "Draft", "start_date": date(2025, 1, 1), "end_date": None},
        ],
        accounts=[
            # A5: HubSpot-style contract end field, and the CRM marks it churned
            {"crm_id": "A5", "contract_end": date(2026, 12, 31), "lifecycle_stage": "Churned"},
        ],
    )
    m = overselling(tables, since=SINCE, until=UNTIL)
    assert m.tasks == 4 and m.accounts_offered == 2
    assert m.tasks_per_account_month_mean == pytest.approx(4 / 3) and m.tasks_per_account_month_max == 2
    assert m.customers_at_start == 4
    assert (m.offered, m.offered_churned, m.offered_churn_rate) == (2, 1, 0.5)
    assert (m.not_offered, m.not_offered_churned, m.not_offered_churn_rate) == (2, 1, 0.5)


def test_from_rows_names_an_unknown_table() -> None:
    with pytest.raises(ValueError, match="unknown table 'ledgr'"):
        OutcomeTables.from_rows(ledgr=[])


def test_a_sequence_counts_once_per_account_and_renewal_in_the_funnel_and_the_monthly_count() -> None:
    stages = [
        task(f"s{i}", "renewal", "A", day, window="2026-07-31")  # three stages of one renewal's sequence
        for i, day in enumerate(("2026-05-02", "2026-05-17", "2026-05-20"))
    ]
    rows = run(
        ledger=[*stages, task("k1", "seats", "A", "2026-05-03", window="2026-05")],
        tasks=[{"sync_key": "s0", "account_id": "A", "status": "Completed", "is_closed": True}],
    )
    assert (rows["renewal"]["tasks"], rows["renewal"]["completed"], rows["seats"]["tasks"]) == (1, 1, 1)
    m = overselling(
        OutcomeTables.from_rows(ledger=[*stages, task("k1", "seats", "A", "2026-05-03", window="2026-05")]),
        since=SINCE,
        until=UNTIL,
    )
    assert m.tasks_per_account_month_max == 2
