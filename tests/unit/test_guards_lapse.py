"""G3's lost deals as the CRMs record them, G9 (churned) and G10 (stale usage).

Each test builds a few accounts, fires rules on all of them and checks which ones a guard holds
back, and what ``upsync explain`` says about it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.errors import ConfigError
from rules import engine
from rules.explain import explain_account
from sync.config import parse_config
from tests.unit.accounts import AS_OF, ENV, World, blocked, bundled_raw, day, days_ago, evaluate, fired, ruleset

UPSELL: dict[str, Any] = {"id": "offer-more", "kind": "upsell", "when": "is_customer"}
CROSS_SELL: dict[str, Any] = {"id": "offer-other", "kind": "cross-sell", "when": "is_customer", "skip_guards": ["G7"]}
RENEWAL: dict[str, Any] = {"id": "renew", "kind": "upsell", "offer_kind": "renewal", "when": "days_to_renewal <= 90"}
OFFERS = (UPSELL, CROSS_SELL, RENEWAL)


def lost(w: World, account: str, opp_type: str | None, *, ago: int = 20, deal_kind: str | None = None) -> None:
    w.customer(account, ends_in=60)
    w.add(
        "opportunities",
        crm_id=f"o-{account}",
        account_id=account,
        opp_type=opp_type,
        deal_kind=deal_kind,
        is_closed=True,
        is_won=False,
        close_date=day(ago),
        created_at=days_ago(ago + 40),
    )


def cooled(w: World, **sections: Any) -> dict[str, set[str]]:
    """Rule id → the accounts G3 holds it back on."""
    ev = evaluate(w, ruleset(*OFFERS, **sections))
    return {r["id"]: blocked(ev, r["id"], "G3") for r in OFFERS}


def test_salesforces_standard_opportunity_types_cool_down_the_offer_they_said_no_to() -> None:
    w = World()
    lost(w, "upgrade", "Existing Customer - Upgrade")
    lost(w, "replacement", "Existing Customer - Replacement")
    lost(w, "downgrade", "Existing Customer - Downgrade")
    lost(w, "new", "New Customer")
    assert cooled(w) == {"offer-more": {"upgrade"}, "offer-other": set(), "renew": {"replacement"}}


def test_a_lost_hubspot_existing_business_deal_is_a_lost_renewal_not_a_no_to_every_offer() -> None:
    w = World()
    lost(w, "existing", "existingbusiness")
    lost(w, "new", "newbusiness")
    assert cooled(w) == {"offer-more": set(), "offer-other": set(), "renew": {"existing"}}


def test_a_deal_kind_field_decides_over_the_type_where_it_holds_a_value() -> None:
    w = World()
    lost(w, "cross-sell", "existingbusiness", deal_kind="Cross-sell")
    lost(w, "upsell", "Existing Customer - Replacement", deal_kind="UPSELL")
    lost(w, "services", "Existing Customer - Upgrade", deal_kind="Professional services")  # says: no offer of ours
    lost(w, "no-kind", "existingbusiness", deal_kind="")  # empty: the type decides
    assert cooled(w) == {"offer-more": {"upsell"}, "offer-other": {"cross-sell"}, "renew": {"no-kind"}}


def test_an_orgs_own_kind_values_and_types_are_mapped_by_config() -> None:
    w = World()
    lost(w, "expansion", None, deal_kind="Expansion")
    lost(w, "renewal", "Renewal")
    g3 = {"deal_kinds": {"Expansion": "upsell"}, "deal_types": {"Renewal": "renewal"}}
    assert cooled(w, guards={"G3": g3}) == {"offer-more": {"expansion"}, "offer-other": set(), "renew": {"renewal"}}


def test_a_lost_upsell_holds_upsell_offers_for_90_days_then_releases_them() -> None:
    w = World()
    lost(w, "acme", "Existing Customer - Upgrade", ago=80)
    rules = ruleset(UPSELL)
    assert blocked(evaluate(w, rules), "offer-more", "G3") == {"acme"}
    later = engine.evaluate(rules, w.tables(), as_of=AS_OF + timedelta(days=11))
    assert "acme" in fired(later, "offer-more") and blocked(later, "offer-more", "G3") == set()


def test_a_deal_kind_mapped_to_no_kind_upsync_knows_is_named_in_the_config() -> None:
    raw = bundled_raw()
    raw["guards"]["G3"]["deal_kinds"] = {"Upsell": "upgrade"}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    text = str(caught.value)
    assert "guards.G3" in text and "'Upsell' maps to unknown kind 'upgrade'" in text and "renewal" in text


SEATS = {"id": "seats", "kind": "upsell", "when": "seat_utilisation >= 80%", "reason": "{seats_used:.0f} seats"}
WIN_BACK = {"id": "win-back", "kind": "save", "when": "not is_customer and days_since(churned_on) <= 30"}


def test_a_churned_account_with_stale_high_seat_usage_gets_no_upsell_but_does_get_a_save() -> None:
    w = World()
    w.account("gone")
    w.contract("gone", ends_in=-10)  # ended ten days ago
    w.usage("gone", seats_used=95, stopped=9)  # the workspace closed a day later
    w.customer("busy")
    w.rows["usage"] = [dict(r, seats_used=95) if r["workspace_id"] == "ws-busy" else r for r in w.rows["usage"]]
    rules = ruleset(SEATS, WIN_BACK)
    ev = evaluate(w, rules)
    assert fired(ev, "seats") == {"gone", "busy"}
    assert blocked(ev, "seats", "G9") == {"gone"}
    assert blocked(ev, "seats") == {"gone"}
    assert fired(ev, "win-back") == {"gone"} and blocked(ev, "win-back") == set()
    assert ev.actions.filter(ev.actions["account"] == "gone")["rule_id"].to_list() == ["win-back"]
    why = dict(explain_account(ev, rules, "gone", system="salesforce").rules[0].blocked)
    assert why["G9"] == f"churned on {day(10)}: no active contract"
    assert why["G10"] == f"no usage data since {day(10)} (10 days)"


def test_an_account_type_that_says_former_customer_holds_offers_back() -> None:
    w = World()
    w.customer("former", account_type="Former customer")  # the CRM says so though a contract runs
    w.customer("direct", account_type="Customer - Direct")
    w.customer("lifecycle", lifecycle_stage="churned")
    assert blocked(evaluate(w, ruleset(UPSELL)), "offer-more", "G9") == {"former", "lifecycle"}


def test_a_workspace_gone_quiet_holds_usage_rules_not_a_renewal_and_fresh_data_releases_it() -> None:
    w = World()
    w.account("quiet")
    w.contract("quiet", ends_in=60)
    w.usage("quiet", seats_used=95, stopped=3)  # the newest row is four days old
    w.account("late")
    w.contract("late", ends_in=60)
    w.usage("late", seats_used=95, stopped=1)  # two days old: a feed a day late is not stale
    rules = ruleset(SEATS, RENEWAL)
    ev = evaluate(w, rules)
    assert fired(ev, "seats") == {"quiet", "late"} and fired(ev, "renew") == {"quiet", "late"}
    assert blocked(ev, "seats", "G10") == {"quiet"}
    assert blocked(ev, "renew") == set()  # reads the contract, not usage
    why = dict(explain_account(ev, rules, "quiet", system="salesforce").rules[0].blocked)
    assert why == {"G10": f"no usage data since {day(4)} (4 days)"}

    w.usage("quiet", seats_used=95, days=3)  # the rows arrive
    assert blocked(evaluate(w, rules), "seats") == set()


def test_a_rule_may_skip_the_stale_usage_guard_or_wait_longer() -> None:
    w = World()
    w.account("quiet")
    w.contract("quiet")
    w.usage("quiet", seats_used=95, stopped=3)
    skips = {**SEATS, "id": "skips", "skip_guards": ["G10"]}
    patient = {**SEATS, "id": "patient", "guard_params": {"G10": {"stale_usage_days": 7}}}
    ev = evaluate(w, ruleset(SEATS, skips, patient))
    assert (blocked(ev, "seats"), blocked(ev, "skips"), blocked(ev, "patient")) == ({"quiet"}, set(), set())


def test_a_rule_on_a_daily_series_reads_usage_and_one_on_ticket_counts_does_not() -> None:
    # what a stale usage feed holds (G10, the breaker): usage, wherever a rule reads it from
    daily = ruleset({"id": "d", "kind": "upsell", "when": "change_over(seats_used, 30) >= 20%"})
    tickets = ruleset({"id": "t", "kind": "upsell", "when": "rising(tickets, 2)"})
    assert daily.rules[0].reads_usage and not tickets.rules[0].reads_usage
