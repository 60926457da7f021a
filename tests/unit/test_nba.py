"""Next best action: coinciding signals rank higher, one action per account, routed to the right owner."""

from __future__ import annotations

import polars as pl

from rules import engine
from rules.nba import Responsibility, Role, Routing, owner_line
from tests.unit.accounts import AS_OF, World, evaluate, ruleset


def action(ev: object, account: str) -> dict[str, object]:
    actions = ev.actions  # type: ignore[attr-defined]
    rows: list[dict[str, object]] = actions.filter(pl.col("account") == account).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


BIG = {"id": "big", "kind": "upsell", "when": "seat_utilisation >= 80%", "value": "1000"}
SMALL = {"id": "small", "kind": "upsell", "when": "pricing_views_7d >= 1", "value": "900"}
SMALLER = {"id": "smaller", "kind": "cross-sell", "when": "integrations_added_30d >= 1", "value": "850", "offer": "X"}


def test_one_action_per_account_the_most_valuable_with_the_others_as_support() -> None:
    w = World()
    w.account("both")
    w.contract("both")
    w.usage("both", seats_used=90, pricing_page_views=lambda age: 1 if age == 2 else 0)
    w.account("small-only")
    w.contract("small-only")
    w.usage("small-only", pricing_page_views=lambda age: 1 if age == 2 else 0)
    w.customer("nothing")
    ev = evaluate(w, ruleset(BIG, SMALL))
    both = action(ev, "both")
    assert (both["rule_id"], both["coinciding"]) == ("big", 2.0)
    [materialised] = [a for a in engine.actions(ev, ruleset(BIG, SMALL), system="hubspot") if a.account_id == "both"]
    assert materialised.supporting == ("small",)
    assert both["score"] == 1000 * 1.25  # coincide_bonus 0.25 for the one other signal
    assert action(ev, "small-only")["rule_id"] == "small"
    assert ev.actions.filter(pl.col("account") == "nothing").is_empty()


def test_a_held_back_signal_neither_acts_nor_counts_as_coinciding() -> None:
    w = World()
    w.account("escalated")
    w.contract("escalated")
    w.usage("escalated", seats_used=90, pricing_page_views=lambda age: 1 if age == 2 else 0)
    w.ticket("escalated", 2, closed_after=None, is_escalated=True)
    save = {"id": "save-them", "kind": "save", "when": "open_escalations > 0", "value": "10"}
    ev = evaluate(w, ruleset(BIG, SMALL, save))
    chosen = action(ev, "escalated")
    assert (chosen["rule_id"], chosen["coinciding"]) == ("save-them", 1.0)


def test_a_recent_signal_from_the_log_boosts_todays_best_action() -> None:
    w = World()
    w.account("a")
    w.contract("a")
    w.usage("a", seats_used=90)
    w.add("signals", account_id="a", rule_id="small", first_fired_on=AS_OF.date(), last_fired_on=AS_OF.date())
    ev = evaluate(w, ruleset(BIG, SMALL))
    assert action(ev, "a")["score"] == 1250


def test_routing_follows_the_lifecycle_and_kind_through_the_responsibility_table() -> None:
    w = World()
    w.add("owners", crm_id="cs1", name="CS one", email="cs1@example.com", active=True)
    w.add("owners", crm_id="cs2", name="CS two", email="cs2@example.com", active=True)
    w.account("onboarding", owner_id="ae1")
    w.contract("onboarding", started=40, ends_in=325)
    w.usage("onboarding", seats_used=90, weekly_active_users=10, days=40)
    w.account("grown", owner_id="ae1")
    w.contract("grown")
    w.usage("grown", seats_used=90, weekly_active_users=80)
    routing = {
        "roles": {"cs": {"owners": ["cs1@example.com", "cs2"]}},
        "table": [
            {"lifecycle": "onboarding", "role": "cs"},
            {"lifecycle": "expansion", "kind": "upsell", "role": "account_owner"},
        ],
    }
    ev = evaluate(w, ruleset(BIG, routing=routing))
    onboarding = action(ev, "onboarding")
    assert (onboarding["lifecycle"], onboarding["role"]) == ("onboarding", "cs")
    assert onboarding["owner"] in ("cs1", "cs2")
    assert onboarding["owner_name"] == {"cs1": "CS one", "cs2": "CS two"}[onboarding["owner"]]
    assert owner_line(str(onboarding["owner_name"]), "cs") == f"{onboarding['owner_name']} (customer success)"
    grown = action(ev, "grown")
    assert (grown["lifecycle"], grown["role"], grown["owner"]) == ("expansion", "account_owner", "ae1")
    assert grown["owner_name"] == "Owner"
    assert owner_line("Owner", "account_owner") == "Owner (account owner)"
    assert owner_line(None, "account_owner") == "account owner"  # a user the pull did not read: the role alone
    assert owner_line(None, "key_accounts") == "key accounts"


def test_an_inactive_owner_falls_back_to_the_configured_owner_or_is_left_without_one() -> None:
    w = World()
    w.add("owners", crm_id="gone", name="Gone", email="gone@example.com", active=False)
    w.add("owners", crm_id="lead", name="Team lead", email="lead@example.com", active=True)
    w.account("a", owner_id="gone")
    w.contract("a")
    w.usage("a", seats_used=90)
    with_fallback = action(evaluate(w, ruleset(BIG, routing={"fallback_owner": "lead@example.com"})), "a")
    assert with_fallback["owner"] == "lead"
    assert "inactive" in str(with_fallback["owner_note"])
    without = action(evaluate(w, ruleset(BIG)), "a")
    assert without["owner"] is None and "fallback_owner" in str(without["owner_note"])


def test_a_pool_spreads_accounts_stably_over_its_active_members() -> None:
    routing = Routing(roles={"cs": Role(owners=("c1", "c2", "c3"))}, table=(Responsibility(role="cs"),))
    assert routing.role_names() == {"account_owner", "cs"}
    w = World()
    for i in range(12):
        w.account(f"a{i}")
        w.contract(f"a{i}")
        w.usage(f"a{i}", seats_used=90)
    for member in ("c1", "c2", "c3"):
        w.add("owners", crm_id=member, name=member, email=None, active=True)
    rules = ruleset(BIG, routing={"roles": {"cs": {"owners": ["c1", "c2", "c3"]}}, "table": [{"role": "cs"}]})
    first = {a["account"]: a["owner"] for a in evaluate(w, rules).actions.to_dicts()}
    again = {a["account"]: a["owner"] for a in evaluate(w, rules).actions.to_dicts()}
    assert first == again
    assert set(first.values()) == {"c1", "c2", "c3"}


def test_a_rule_of_literals_alone_fires_on_every_account() -> None:
    w = World()
    w.customer("a")
    w.customer("b")
    always = {"id": "always", "kind": "review", "when": "true", "value": "5", "guards": []}
    ev = evaluate(w, ruleset(always))
    assert sorted(ev.actions.get_column("account").to_list()) == ["a", "b"]
    assert set(ev.actions.get_column("score").to_list()) == {5.0}
