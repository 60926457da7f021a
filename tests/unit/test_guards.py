"""Every guard G1–G8: a rule fires on every account of a small table; the guard holds back exactly these.
(G3's lost deals, G9 and G10: test_guards_lapse.py.)"""

from __future__ import annotations

from typing import Any

from tests.unit.accounts import World, blocked, day, days_ago, evaluate, fired, ruleset

UPSELL = {"id": "offer-more", "kind": "upsell", "when": "is_customer"}
SAVE = {"id": "save-them", "kind": "save", "when": "is_customer"}


def customers(*names: str, **account: Any) -> World:
    w = World()
    for name in names:
        w.customer(name, **account)
    return w


def test_g1_no_offer_to_a_red_or_detractor_account_but_saves_go_ahead() -> None:
    w = customers("nps-8", "nps-unknown")
    w.customer("nps-5", nps=5)
    w.rows["accounts"][0]["nps"] = 8
    w.account("red")
    w.contract("red")
    w.usage("red", weekly_active_users=5, feature_events=lambda age: {"documents": 5})
    w.ticket("red", 3, closed_after=None, is_escalated=True)
    ev = evaluate(w, ruleset(UPSELL, SAVE))
    assert fired(ev, "offer-more") == {"nps-8", "nps-unknown", "nps-5", "red"}
    assert blocked(ev, "offer-more", "G1") == {"nps-5", "red"}
    assert blocked(ev, "save-them") == set()


def test_g2_at_most_two_offers_in_30_days() -> None:
    w = customers("two-recent", "one-recent", "two-old", "own-task-this-month")

    def offer(account: str, rule: str, ago: int, window: str) -> None:
        w.add(
            "ledger",
            key=f"{account}-{rule}-{ago}",
            rule_id=rule,
            account_id=account,
            window=window,
            state="confirmed",
            created_at=days_ago(ago),
        )

    offer("two-recent", "other-offer", 5, "2026-05")
    offer("two-recent", "third-offer", 12, "2026-05")
    offer("one-recent", "other-offer", 5, "2026-05")
    offer("two-old", "other-offer", 40, "2026-04")
    offer("two-old", "third-offer", 45, "2026-04")
    offer("own-task-this-month", "other-offer", 5, "2026-05")
    offer("own-task-this-month", "offer-more", 0, "2026-06")  # this rule's own task: the same offer, not another
    ev = evaluate(w, ruleset(UPSELL, {"id": "other-offer", "kind": "upsell", "when": "false"}))
    assert blocked(ev, "offer-more", "G2") == {"two-recent"}


def test_g3_a_declined_offer_or_a_lost_deal_cools_down_for_90_days() -> None:
    w = customers("declined", "declined-long-ago", "lost-upgrade", "lost-renewal", "untouched")
    for account, ago in (("declined", 30), ("declined-long-ago", 100)):
        key = f"k-{account}"
        w.add(
            "ledger",
            key=key,
            rule_id="offer-more",
            account_id=account,
            window="2026-02",
            state="confirmed",
            created_at=days_ago(ago + 5),
        )
        w.add(
            "activities",
            crm_id=f"t-{account}",
            account_id=account,
            activity_type="task",
            subject="Offer more",
            status="Declined",
            sync_key=key,
            activity_at=days_ago(ago + 5),
            modified_at=days_ago(ago),
        )
    for account, kind in (
        ("lost-upgrade", "Existing Customer - Upgrade"),  # Salesforce's standard Type values
        ("lost-renewal", "Existing Customer - Replacement"),
    ):
        w.add(
            "opportunities",
            crm_id=f"o-{account}",
            account_id=account,
            opp_type=kind,
            is_closed=True,
            is_won=False,
            close_date=day(20),
            created_at=days_ago(60),
        )
    ev = evaluate(w, ruleset(UPSELL))
    assert blocked(ev, "offer-more", "G3") == {"declined", "lost-upgrade"}


def test_g4_no_upsell_in_the_first_30_days_unless_the_rule_skips_it() -> None:
    w = World()
    for name, started in (("day-10", 10), ("day-40", 40)):
        w.account(name)
        w.contract(name, started=started, ends_in=300)
        w.usage(name, days=started)
    enablement = {"id": "train-them", "kind": "upsell", "when": "is_customer", "skip_guards": ["G4"]}
    ev = evaluate(w, ruleset(UPSELL, enablement))
    assert blocked(ev, "offer-more", "G4") == {"day-10"}
    assert blocked(ev, "train-them") == set()


def test_g5_an_open_escalation_blocks_offers() -> None:
    w = customers("open-escalated", "closed-escalated", "open-urgent", "open-normal")
    w.ticket("open-escalated", 3, closed_after=None, is_escalated=True)
    w.ticket("closed-escalated", 20, closed_after=2, is_escalated=True)
    w.ticket("open-urgent", 3, closed_after=None, priority="URGENT")
    w.ticket("open-normal", 3, closed_after=None, priority="MEDIUM")
    ev = evaluate(w, ruleset(UPSELL))
    assert blocked(ev, "offer-more", "G5") == {"open-escalated", "open-urgent"}


def test_g6_do_not_contact_and_holds_block_every_kind() -> None:
    w = customers("flagged", do_not_contact=True)
    w.customer("collections", account_type="Collections")
    w.customer("fine")
    ev = evaluate(w, ruleset(UPSELL, SAVE))
    assert blocked(ev, "offer-more", "G6") == {"flagged", "collections"}
    assert blocked(ev, "save-them", "G6") == {"flagged", "collections"}


def test_g7_cross_sell_only_what_relates_to_what_the_account_or_its_group_owns() -> None:
    w = customers("owns-analytics", "owns-nothing-related", "owns-dashboards", "child-of-owner")
    w.customer("parent-owns-dashboards")
    w.rows["accounts"][3]["parent_id"] = "parent-owns-dashboards"
    for crm_id, name in (("an", "Analytics Pro"), ("db", "Custom Dashboards"), ("st", "Storage Plus")):
        w.add("products", crm_id=crm_id, name=name)
    for account, product in (
        ("owns-analytics", "an"),
        ("owns-nothing-related", "st"),
        ("owns-dashboards", "db"),
        ("parent-owns-dashboards", "db"),
    ):
        w.add("assets", account_id=account, product_id=product, status="Installed", purchase_date=day(300))
    dashboards = {"id": "sell-dashboards", "kind": "cross-sell", "when": "is_customer", "offer": "Custom Dashboards"}
    ev = evaluate(w, ruleset(dashboards, guards={"G7": {"related": {"Custom Dashboards": ["Analytics Pro"]}}}))
    assert blocked(ev, "sell-dashboards", "G7") == {"owns-nothing-related", "owns-dashboards", "parent-owns-dashboards"}


def test_g8_a_rule_whose_reason_names_an_unknown_value_is_held_back() -> None:
    w = customers("known", nps=9)
    w.customer("unknown")
    why = {"id": "promoter", "kind": "upsell", "when": "is_customer", "reason": "NPS {nps:.0f}"}
    ev = evaluate(w, ruleset(why))
    assert blocked(ev, "promoter", "G8") == {"unknown"}


def test_a_rule_can_list_its_guards_and_override_their_parameters() -> None:
    w = customers("nps-6", nps=6)
    w.customer("nps-9", nps=9)
    lenient = {"id": "lenient", "kind": "upsell", "when": "is_customer", "guard_params": {"G1": {"min_nps": 5}}}
    strict = {"id": "strict", "kind": "save", "when": "is_customer", "guards": ["G1"]}
    ev = evaluate(w, ruleset(lenient, strict))
    assert blocked(ev, "lenient") == set()
    assert blocked(ev, "strict", "G1") == {"nps-6"}
