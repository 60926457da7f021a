"""`upsync explain` and `upsync backtest` as pure functions over small tables."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from rules import engine
from rules.backtest import backtest
from rules.explain import explain_account, find_accounts, held_windows
from rules.plan import Skip
from tests.unit.accounts import AS_OF, World, day, evaluate, ruleset

SEATS = {
    "id": "seats",
    "kind": "upsell",
    "signal": "S5",
    "when": "seat_utilisation >= 80% and seats_used >= 5",
    "reason": "{seats_used:.0f} of {seat_limit:.0f} seats",
    "subject": "Seats at {seat_utilisation:.0%} for {account}",
    "value": "1000",
}
PRICING = {"id": "pricing", "kind": "upsell", "when": "pricing_views_7d >= 1", "value": "500"}


def world() -> World:
    w = World()
    w.account("acme", name="Acme KK")
    w.contract("acme")
    w.usage("acme", seats_used=90, pricing_page_views=lambda age: 1 if age == 2 else 0)
    w.account("escalated", name="Escalated Ltd")
    w.contract("escalated")
    w.usage("escalated", seats_used=95)
    w.ticket("escalated", 3, closed_after=None, is_escalated=True)
    w.customer("quiet", name="Quiet Inc")
    return w


def test_explain_shows_each_verdict_with_the_values_that_decided_it() -> None:
    ev = evaluate(world(), ruleset(SEATS, PRICING))
    result = explain_account(ev, ruleset(SEATS, PRICING), "acme", system="salesforce")
    verdicts = {r.rule_id: r for r in result.rules}
    assert verdicts["seats"].verdict == "fired"
    assert verdicts["seats"].checks == (("seat_utilisation >= 80%", True), ("seats_used >= 5", True))
    assert verdicts["seats"].reason == "90 of 100 seats"
    assert result.action is not None
    assert (result.action.rule_id, result.action.subject) == ("seats", "Seats at 90% for Acme KK")
    assert result.action.reasons[0] == "90 of 100 seats"
    assert result.action.reasons[1].startswith("also pricing: pricing_views_7d >= 1 (pricing_views_7d 1)")
    shown = {f.name: f.shown for f in result.features}
    assert (shown["seat_utilisation"], shown["seats_used"], shown["is_customer"]) == ("90%", "90", "yes")


def test_explain_names_the_guard_that_held_a_rule_back_and_why() -> None:
    rules = ruleset(SEATS)
    result = explain_account(evaluate(world(), rules), rules, "escalated", system="salesforce")
    [seats] = result.rules
    assert seats.verdict == "held back"
    assert seats.blocked == (("G5", "1 open escalation(s)"),)
    assert result.action is None


def test_explain_of_a_quiet_account_says_nothing_fired() -> None:
    rules = ruleset(SEATS)
    result = explain_account(evaluate(world(), rules), rules, "quiet", system="salesforce")
    assert [r.verdict for r in result.rules] == ["not fired"]
    assert result.rules[0].checks[0] == ("seat_utilisation >= 80%", False)


def test_accounts_are_found_by_id_or_by_part_of_the_name() -> None:
    features = evaluate(world(), ruleset(SEATS)).features
    assert find_accounts(features, "acme") == [("acme", "Acme KK")]
    assert find_accounts(features, "ltd") == [("escalated", "Escalated Ltd")]
    assert find_accounts(features, "zzz") == []
    with pytest.raises(KeyError):
        explain_account(evaluate(world(), ruleset(SEATS)), ruleset(SEATS), "nobody", system="salesforce")


def test_a_backtest_replays_each_day_and_makes_one_task_per_rule_and_period() -> None:
    w = World()
    w.account("crossed", name="Crossed")
    w.contract("crossed")
    w.usage("crossed", seats_used=lambda age: 90 if age <= 10 else 50)  # over 80% for the last 10 days
    w.customer("steady")
    rules = ruleset(SEATS)
    result = backtest(rules, w.tables(), start=day(20), end=day(0), system="salesforce")
    fired_days = result.hits.filter(~pl.col("held")).get_column("day").to_list()
    assert fired_days == [day(n) for n in range(9, -1, -1)]  # the day after the first row over 80% arrived
    # one task in May, and the rule's month window starts afresh on June 1st
    assert result.tasks.select("day", "rule_id", "account").rows() == [
        (day(9), "seats", "crossed"),
        (day(0), "seats", "crossed"),
    ]
    weekly = result.by_week().filter(pl.col("rule_id") == "seats")
    assert weekly.get_column("fired").sum() == weekly.height  # one account, counted once a week
    assert weekly.get_column("tasks").sum() == 2


def test_a_backtest_starts_a_new_task_in_a_new_period_and_reads_nothing_from_its_future() -> None:
    w = World()
    w.account("always", name="Always")
    w.contract("always")
    w.usage("always", seats_used=90, days=120)
    weekly = {**SEATS, "window": "week"}
    result = backtest(ruleset(weekly), w.tables(), start=date(2026, 5, 18), end=date(2026, 5, 31), system="salesforce")
    assert result.tasks.get_column("day").to_list() == [date(2026, 5, 18), date(2026, 5, 25)]  # two ISO weeks
    assert AS_OF.date() == date(2026, 6, 1)


def test_a_backtest_rejects_an_end_before_its_start() -> None:
    with pytest.raises(ValueError, match="end is before start"):
        backtest(ruleset(SEATS), World().tables(), start=day(1), end=day(2))


def test_every_ripe_rule_is_an_action_and_the_next_best_one_is_primary() -> None:
    rules = ruleset(SEATS, PRICING)
    acts = engine.actions(evaluate(world(), rules), rules, system="salesforce", every=True)
    assert sorted((a.account_id, a.rule_id, a.primary) for a in acts) == [
        ("acme", "pricing", False),
        ("acme", "seats", True),
    ]
    [pricing] = [a for a in acts if a.rule_id == "pricing"]
    assert (pricing.owner_id, pricing.subject) == ("o1", "Pricing: Acme KK")


def test_plan_and_explain_list_every_rule_that_fired_without_a_task_and_why() -> None:
    rules = ruleset(SEATS, PRICING)
    ev = evaluate(world(), rules)
    cap = "G2: 2 offers in the last 30 days (cap 2), 1 of them this cycle (higher value went first)"
    skipped = [
        Skip(key="k1", rule_id="pricing", account_id="acme", reason=cap),
        Skip(key="k2", rule_id="seats", account_id="acme", reason="already written"),
    ]
    held = held_windows(ev, rules, skipped=skipped, held_rules={"pricing": "usage not pulled for 3 days"})
    assert [(h.account_id, h.rule_id, h.reason) for h in held] == [
        ("escalated", "seats", "G5: 1 open escalation(s)"),
        ("acme", "pricing", "held: usage not pulled for 3 days"),
        ("acme", "pricing", cap),
    ]
    one = explain_account(ev, rules, "acme", system="salesforce", skipped=skipped)
    assert [(h.rule_id, h.reason) for h in one.held] == [("pricing", cap)]
