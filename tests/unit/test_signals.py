"""Every signal S1–S18 as the bundled config.toml ships it: a small table of accounts, the exact set it fires on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.accounts import World, bundled_ruleset, day, days_ago, evaluate, feature, fired


def ramp(start: float, end: float, days: int = 56) -> Callable[[int], float]:
    """A metric that moves linearly from ``start`` (``days`` ago) to ``end`` (yesterday)."""
    return lambda age: round(end + (start - end) * (age - 1) / (days - 1), 3)


def test_s1_weekly_active_users_above_the_plan_level_and_climbing() -> None:
    w = World()
    w.customer("flat-low")
    for name, wau, seats in (
        ("climbing", ramp(40, 85), 100),
        ("flat-high", 85, 100),
        ("climbing-low", ramp(20, 50), 100),
        ("tiny", ramp(4, 8.5), 10),
    ):
        w.account(name, seats_purchased=seats)
        w.contract(name)
        w.usage(name, weekly_active_users=wau, seats_limit=seats)
    w.account("no-usage")
    w.contract("no-usage")
    ev = evaluate(w, bundled_ruleset(["high-weekly-usage"]))
    assert fired(ev, "high-weekly-usage") == {"climbing"}


def test_s2_a_trial_started_or_premium_features_viewed_repeatedly() -> None:
    w = World()
    w.customer("quiet")
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("trial", {"trials_started": lambda age: 1 if age == 5 else 0}),
        ("views", {"premium_feature_views": lambda age: 1 if age <= 3 else 0}),
        ("two-views", {"premium_feature_views": lambda age: 1 if age <= 2 else 0}),
        ("old-trial", {"trials_started": lambda age: 1 if age == 20 else 0}),
        ("old-views", {"premium_feature_views": lambda age: 1 if 8 <= age <= 12 else 0}),
    )
    for name, metrics in cases:
        w.account(name)
        w.contract(name)
        w.usage(name, **metrics)
    ev = evaluate(w, bundled_ruleset(["premium-interest"]))
    assert fired(ev, "premium-interest") == {"trial", "views"}


def test_s3_more_contacts_or_a_new_department_within_30_days() -> None:
    w = World()
    for name in ("grew-20pct", "new-department", "grew-10pct", "new-usage-department", "prospect-grew"):
        if name == "prospect-grew":
            w.account(name)
        else:
            w.customer(name)
    contacts = {
        "grew-20pct": [("Sales", 100)] * 5 + [("Sales", 10)],
        "new-department": [("Sales", 100)] * 5 + [("Legal", 10)],
        "grew-10pct": [("Sales", 100)] * 10 + [("Sales", 10)],
        "new-usage-department": [("Sales", 100)] * 5,
        "prospect-grew": [("Sales", 100)] * 2 + [("Sales", 5)] * 2,
    }
    for account, people in contacts.items():
        for i, (department, ago) in enumerate(people):
            w.add(
                "contacts", crm_id=f"{account}-{i}", account_id=account, department=department, created_at=days_ago(ago)
            )
    w.rows["usage"] = [u for u in w.rows["usage"] if u["workspace_id"] != "ws-new-usage-department"]
    w.usage(
        "new-usage-department",
        users_by_department=lambda age: {"Sales": 20, "Finance": 3} if age <= 10 else {"Sales": 20},
    )
    ev = evaluate(w, bundled_ruleset(["stakeholder-growth"]))
    assert fired(ev, "stakeholder-growth") == {"grew-20pct", "new-department", "new-usage-department"}
    assert feature(ev, "new-department", "new_departments_30d") == 1


def test_s4_the_current_contract_ends_within_90_days() -> None:
    w = World()
    w.customer("in-60-days", ends_in=60)
    w.customer("in-120-days", ends_in=120)
    w.account("lapsed")
    w.contract("lapsed", ends_in=-10)
    w.account("crm-field", contract_end=day(-30))  # HubSpot: the end date lives on the company
    w.customer("draft-renewal", ends_in=200)
    w.contract("draft-renewal", started=-201, ends_in=30, status="Draft")
    ev = evaluate(w, bundled_ruleset(["renewal-approaching"]))
    assert fired(ev, "renewal-approaching") == {"in-60-days", "crm-field"}
    assert feature(ev, "in-60-days", "days_to_renewal") == 60


def test_s5_seats_at_80_percent_of_what_was_bought() -> None:
    w = World()
    for name, used, bought in (("85pct", 85, 100), ("79pct", 79, 100), ("plan-limit", 8, None)):
        w.account(name, seats_purchased=bought)
        w.contract(name)
        w.usage(name, seats_used=used, seats_limit=10 if bought is None else 100)
    w.account("no-usage")
    w.contract("no-usage")
    w.account("not-yet-delivered")
    w.contract("not-yet-delivered")
    w.usage("not-yet-delivered", seats_used=lambda age: 90 if age == 1 else 70, updated_late=True)
    ev = evaluate(w, bundled_ruleset(["seats-near-limit"]))
    assert fired(ev, "seats-near-limit") == {"85pct", "plan-limit"}
    assert feature(ev, "not-yet-delivered", "seats_used") == 70  # yesterday's row arrived after as_of


def test_s5_storage_or_api_calls_near_the_plan_limit() -> None:
    w = World()
    for name, storage, api in (("storage", 85, 1000), ("api", 10, 9000), ("both-low", 70, 7000)):
        w.account(name)
        w.contract(name)
        w.usage(name, storage_used_gb=storage, api_calls_used=api)
    ev = evaluate(w, bundled_ruleset(["capacity-near-limit"]))
    assert fired(ev, "capacity-near-limit") == {"storage", "api"}


def test_s6_a_key_feature_used_over_and_over() -> None:
    w = World()
    for name, active, reports in (("power", 10, 10), ("casual", 10, 5), ("too-few-users", 3, 30)):
        w.account(name)
        w.contract(name)
        events: dict[str, Any] = {"reports": reports, "documents": 50}
        w.usage(name, active_users=active, feature_events=lambda age, e=events: e)
    ev = evaluate(w, bundled_ruleset(["key-feature-habit"]))
    assert fired(ev, "key-feature-habit") == {"power"}


def test_s7_integrations_added_within_30_days() -> None:
    w = World()
    for name, integrations in (
        ("added", lambda age: 3 if age <= 10 else 2),
        ("steady", 3),
        ("added-long-ago", lambda age: 3 if age <= 40 else 2),
    ):
        w.account(name)
        w.contract(name)
        w.usage(name, integrations=integrations)
    ev = evaluate(w, bundled_ruleset(["integrations-spreading"]))
    assert fired(ev, "integrations-spreading") == {"added"}


def test_s8_pricing_page_viewed_this_week() -> None:
    w = World()
    for name, views in (
        ("this-week", lambda age: 1 if age == 3 else 0),
        ("last-month", lambda age: 1 if age == 10 else 0),
    ):
        w.account(name)
        w.contract(name)
        w.usage(name, pricing_page_views=views)
    ev = evaluate(w, bundled_ruleset(["pricing-page-visit"]))
    assert fired(ev, "pricing-page-visit") == {"this-week"}


def test_s9_activation_reached_about_a_month_after_the_start() -> None:
    w = World()
    for name, started, wau in (
        ("activated", 40, 60),
        ("not-activated", 40, 20),
        ("long-ago", 200, 60),
        ("too-soon", 20, 60),
    ):
        w.account(name)
        w.contract(name, started=started, ends_in=365 - started)
        w.usage(name, weekly_active_users=wau, days=min(started, 56))
    ev = evaluate(w, bundled_ruleset(["onboarding-complete"]))
    assert fired(ev, "onboarding-complete") == {"activated"}


def test_s10_adopted_but_not_used_after_30_days() -> None:
    w = World()
    for name, started, wau in (("stalled", 45, 10), ("activated", 45, 60), ("too-soon", 10, 10), ("long-ago", 200, 10)):
        w.account(name)
        w.contract(name, started=started, ends_in=365 - started)
        w.usage(name, weekly_active_users=wau, days=min(started, 56))
    ev = evaluate(w, bundled_ruleset(["onboarding-stalled"]))
    assert fired(ev, "onboarding-stalled") == {"stalled"}


def test_s11_health_rising_for_three_weeks() -> None:
    w = World()
    for name in ("rising", "flat", "fell-last-week"):
        w.customer(name)
    today = feature(evaluate(w, bundled_ruleset(["health-rising"])), "rising", "health")
    history = {
        "rising": (today - 20, today - 12, today - 6),
        "flat": (today,) * 3,
        "fell-last-week": (today - 20, today - 12, today + 5),
    }
    for account, (w3, w2, w1) in history.items():
        for weeks, score in ((3, w3), (2, w2), (1, w1)):
            w.add("health", account_id=account, day=day(7 * weeks), score=score, band="green")
    ev = evaluate(w, bundled_ruleset(["health-rising"]))
    assert fired(ev, "health-rising") == {"rising"}
    assert feature(ev, "rising", "health@w3") == today - 20


def test_s12_several_signals_within_14_days() -> None:
    w = World()
    w.account("two-now")
    w.contract("two-now")
    w.usage("two-now", seats_used=90, pricing_page_views=lambda age: 1 if age == 2 else 0)
    for name in ("one-now", "one-now-one-recent", "one-now-one-old"):
        w.account(name)
        w.contract(name)
        w.usage(name, seats_used=90)
    w.add(
        "signals",
        account_id="one-now-one-recent",
        rule_id="pricing-page-visit",
        first_fired_on=day(5),
        last_fired_on=day(5),
    )
    w.add(
        "signals",
        account_id="one-now-one-old",
        rule_id="pricing-page-visit",
        first_fired_on=day(20),
        last_fired_on=day(20),
    )
    ev = evaluate(w, bundled_ruleset(["seats-near-limit", "pricing-page-visit", "several-signals"]))
    assert fired(ev, "several-signals") == {"two-now", "one-now-one-recent"}


def test_s13_usage_halved_or_no_contact_for_60_days() -> None:
    w = World()
    w.account("usage-halved")
    w.contract("usage-halved")
    w.usage("usage-halved", active_users=lambda age: 10 if age <= 7 else 30)
    w.activity("usage-halved", "call", "Check-in", 5)
    w.account("silent")
    w.contract("silent")
    w.usage("silent")
    w.activity("silent", "call", "Check-in", 70)
    w.customer("steady")
    w.account("prospect")
    w.usage("prospect", active_users=lambda age: 1 if age <= 7 else 30)
    ev = evaluate(w, bundled_ruleset(["dormant-account"]))
    assert fired(ev, "dormant-account") == {"usage-halved", "silent"}


def test_s14_employees_jump_a_new_child_or_a_parent_change() -> None:
    w = World()
    for name in ("grew", "parent", "reorganised", "grew-a-little"):
        w.customer(name)
    w.account("new-child", parent_id="parent", created_at=days_ago(10))
    w.add(
        "account_events",
        account_id="grew",
        field="employees",
        old_value="100",
        new_value="150",
        changed_at=days_ago(50),
    )
    w.add(
        "account_events",
        account_id="grew-a-little",
        field="employees",
        old_value="100",
        new_value="110",
        changed_at=days_ago(50),
    )
    w.add(
        "account_events",
        account_id="reorganised",
        field="parent_id",
        old_value=None,
        new_value="x",
        changed_at=days_ago(30),
    )
    ev = evaluate(w, bundled_ruleset(["life-event"]))
    assert fired(ev, "life-event") == {"grew", "parent", "reorganised"}


def test_s15_owners_of_a_who_lack_b_when_most_owners_of_a_added_b() -> None:
    w = World()
    w.add("products", crm_id="pa", name="Accounting")
    w.add("products", crm_id="pb", name="Payroll")
    w.add("products", crm_id="pc", name="Expenses")

    def owns(account: str, product: str, ago: int) -> None:
        w.add("assets", account_id=account, product_id=product, status="Installed", purchase_date=day(ago))

    for i in range(8):
        w.customer(f"adopter-{i}")
        owns(f"adopter-{i}", "pa", 400)
        owns(f"adopter-{i}", "pb", 350)
    for i in range(2):
        w.customer(f"stayer-{i}")
        owns(f"stayer-{i}", "pa", 400)
    w.customer("target")
    owns("target", "pa", 300)
    for i in range(6):  # customers of other products: Payroll is not what everyone has
        w.customer(f"elsewhere-{i}")
        owns(f"elsewhere-{i}", "pc", 300)
    ev = evaluate(w, bundled_ruleset(["co-purchase"]))
    assert fired(ev, "co-purchase") == {"stayer-0", "stayer-1", "target"}
    assert feature(ev, "target", "copurchase_product") == "Payroll"
    assert (
        feature(ev, "target", "copurchase_evidence")
        == "73% of accounts with Accounting added Payroll within 6 months (lift 1.5)"
    )


def test_s16_a_group_company_without_a_contract() -> None:
    w = World()
    w.customer("parent")
    w.add("products", crm_id="p1", name="Upsync Team")
    w.add("assets", account_id="parent", product_id="p1", status="Installed", purchase_date=day(400))
    w.account("child-prospect", parent_id="parent")
    w.customer("child-customer", parent_id="parent")
    w.account("standalone-prospect")
    ev = evaluate(w, bundled_ruleset(["group-expansion"]))
    assert fired(ev, "group-expansion") == {"child-prospect"}
    assert feature(ev, "child-prospect", "group_product") == "Upsync Team"


def test_s17_a_business_review_every_90_days() -> None:
    w = World()
    for name, review in (("reviewed-100-days-ago", 100), ("reviewed-30-days-ago", 30)):
        w.account(name)
        w.contract(name)
        w.activity(name, "meeting", "QBR with the CFO", review)
    w.account("never-reviewed")
    w.contract("never-reviewed", started=200)
    w.account("new-never-reviewed")
    w.contract("new-never-reviewed", started=40, ends_in=325)
    w.account("prospect")
    w.activity("prospect", "call", "Discovery call", 10)
    ev = evaluate(w, bundled_ruleset(["business-review-due"]))
    assert fired(ev, "business-review-due") == {"reviewed-100-days-ago", "never-reviewed"}


def test_s18_tickets_up_half_or_health_red() -> None:
    w = World()
    w.customer("doubling")
    for ago in (2, 5, 9, 20):
        w.ticket("doubling", ago)
    for ago in (35, 50):
        w.ticket("doubling", ago)
    w.customer("from-nothing")
    for ago in (3, 6, 12):
        w.ticket("from-nothing", ago)
    w.customer("a-few")
    for ago in (3, 6, 40):
        w.ticket("a-few", ago)
    w.account("red")
    w.contract("red")
    w.usage("red", weekly_active_users=5, feature_events=lambda age: {"documents": 5})
    w.ticket("red", 3, closed_after=None, is_escalated=True)
    ev = evaluate(w, bundled_ruleset(["churn-risk"]))
    assert feature(ev, "red", "health_band") == "red"
    assert fired(ev, "churn-risk") == {"doubling", "from-nothing", "red"}


@pytest.mark.parametrize("rule_id", ["seats-near-limit", "renewal-approaching", "churn-risk"])
def test_an_empty_store_fires_nothing(rule_id: str) -> None:
    assert fired(evaluate(World(), bundled_ruleset([rule_id])), rule_id) == set()


def test_a_usage_row_with_bad_feature_events_counts_what_it_can_and_the_rest_goes_on() -> None:
    w = World()
    w.account("odd")
    w.contract("odd")
    w.usage("odd", seats_used=90)
    for i, row in enumerate(w.rows["usage"]):
        if i == 0:
            row["feature_events"] = '{"reports": "lots", "documents": 40}'
        elif i == 1:
            row["feature_events"] = "not json"
    ev = evaluate(w, bundled_ruleset(["seats-near-limit"]))
    assert fired(ev, "seats-near-limit") == {"odd"}
    assert feature(ev, "odd", "events_7d") == 40 + 5 * 360  # the bad day's readable count, the broken day's none
