"""G3 out of the box, G9 (churned) and G10 (stale usage) over a real pull of the sandbox world, on
both CRMs: the world's seat-heavy accounts are bent in the stand-in's stores (a deal lost, a
contract ended, a workspace gone quiet) and one cycle shows which rule each gets a task from.

The config names no deal types: the CRMs' standard values must be enough.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from rules.explain import explain_account
from sandbox.server import Sandbox
from sync.runner import evaluate_now, run_cycle
from tests.conftest import ANCHOR, make_context
from tests.e2e.expect import seat_heavy

pytestmark = pytest.mark.e2e

TODAY = ANCHOR.date()
RULES = """
[[rules]]
id = "renew"
kind = "upsell"
offer_kind = "renewal"
when = "is_customer"
value = "0.5"
playbook = "seat-expansion"

[[rules]]
id = "offer-add-on"
kind = "cross-sell"
when = "is_customer"
value = "0.1"
playbook = "seat-expansion"
skip_guards = ["G7"]
"""
LOST = {  # account → the type of the deal it lost, as each CRM records it by default
    "salesforce": {"upgrade": "Existing Customer - Upgrade", "renewal": "Existing Customer - Replacement"},
    "hubspot": {"new": "newbusiness", "renewal": "existingbusiness"},
}


def deals_of(sb: Sandbox, crm: str, account: str) -> list[dict[str, Any]]:
    if crm == "salesforce":
        return [o for o in sb.world.salesforce.objects["Opportunity"].values() if o["AccountId"] == account]
    links = sb.world.hubspot.associations
    deals = sb.world.hubspot.objects["deals"]
    return [d for did, d in deals.items() if any(c == account for c, _ in links.get(("deals", did, "companies"), []))]


def lose(sb: Sandbox, crm: str, account: str, deal_type: str) -> None:
    """One of the account's deals lost ten days ago, of ``deal_type``."""
    deal = deals_of(sb, crm, account)[0]
    closed = TODAY - timedelta(days=10)
    if crm == "salesforce":
        deal.update(Type=deal_type, StageName="Closed Lost", IsClosed=True, IsWon=False, CloseDate=closed.isoformat())
    else:
        deal["properties"].update(
            dealtype=deal_type,
            dealstage="closedlost",
            hs_is_closed="true",
            hs_is_closed_won="false",
            closedate=f"{closed.isoformat()}T00:00:00.000Z",
        )


def churn(sb: Sandbox, crm: str, account: str) -> None:
    """The account's contracts ended five days ago, its assets with them; its last won deal is old."""
    ended, long_ago = TODAY - timedelta(days=5), TODAY - timedelta(days=400)
    if crm == "salesforce":
        objects = sb.world.salesforce.objects
        for c in objects["Contract"].values():
            if c["AccountId"] == account:
                c["EndDate"] = min(c["EndDate"], ended.isoformat())
        for a in objects.get("Asset", {}).values():
            if a["AccountId"] == account:
                a["UsageEndDate"] = min(a["UsageEndDate"] or ended.isoformat(), ended.isoformat())
        for o in deals_of(sb, crm, account):
            if o["IsWon"]:
                o["CloseDate"] = min(o["CloseDate"], long_ago.isoformat())
    else:
        sb.world.hubspot.objects["companies"][account]["properties"]["contract_end_date"] = ended.isoformat()
        old = f"{long_ago.isoformat()}T00:00:00.000Z"
        store = sb.world.hubspot
        deals = {d["id"] for d in deals_of(sb, crm, account)}
        for d in deals_of(sb, crm, account):
            if d["properties"]["hs_is_closed_won"] == "true":
                d["properties"]["closedate"] = min(d["properties"]["closedate"], old)
        for lid, li in store.objects["line_items"].items():  # the recurring items' terms end with it
            term_end = li["properties"].get("hs_recurring_billing_end_date")
            if term_end and any(d in deals for d, _ in store.associations.get(("line_items", lid, "deals"), [])):
                li["properties"]["hs_recurring_billing_end_date"] = min(term_end, ended.isoformat())


def workspace_of(sb: Sandbox, crm: str, account: str) -> str:
    if crm == "salesforce":
        return str(sb.world.salesforce.objects["Account"][account]["Workspace_Id__c"])
    return str(sb.world.hubspot.objects["companies"][account]["properties"]["workspace_id"])


def quiet(sb: Sandbox, workspace: str, days: int) -> None:
    """The workspace sent nothing for its last ``days`` days."""
    since = (TODAY - timedelta(days=days)).isoformat()
    sb.world.usage.rows[:] = [r for r in sb.world.usage.rows if r["workspace_id"] != workspace or r["date"] < since]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_lost_deals_churn_and_a_quiet_workspace_hold_back_only_the_offers_they_concern(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    heavy = sorted(a for a in seat_heavy(sandbox, crm) if deals_of(sandbox, crm, a))
    assert len(heavy) >= 4
    bent = dict(zip((*LOST[crm], "churned", "quiet"), heavy, strict=False))
    for label, deal_type in LOST[crm].items():
        lose(sandbox, crm, bent[label], deal_type)
    churn(sandbox, crm, bent["churned"])
    quiet(sandbox, workspace_of(sandbox, crm, bent["quiet"]), days=4)

    ctx = make_context(tmp_path, sandbox, crm, extra=RULES)
    report = run_cycle(ctx)
    assert report.ok, report.summary()
    tasks: dict[str, set[str]] = {}  # account → the rules that got a task (each ripe window its own)
    for t in report.plan.creates:
        tasks.setdefault(t.account_id, set()).add(t.rule_id)
    evaluation = evaluate_now(ctx.store, crm, ctx.ruleset, as_of=ANCHOR)
    held = {(s["account"], s["rule_id"]): set(s["blocked"]) for s in evaluation.signals.to_dicts()}

    def guards_on(label: str, rule: str) -> set[str]:
        # read after the cycle: G2 also counts the tasks it just created, so it is left aside
        return held[(bent[label], rule)] - {"G2"}

    if crm == "salesforce":  # a lost upgrade cools the seat upsell, nothing else
        assert "G3" in guards_on("upgrade", "seats-near-limit")
        assert not guards_on("upgrade", "renew") and not guards_on("upgrade", "offer-add-on")
        assert "renew" in tasks[bent["upgrade"]] and "seats-near-limit" not in tasks[bent["upgrade"]]
    else:  # a lost new-business deal is no "no" from a customer
        assert not guards_on("new", "seats-near-limit")
        assert "seats-near-limit" in tasks[bent["new"]]
    # a lost renewal (Replacement / existingbusiness) cools the renewal offer, not the upsell or the cross-sell
    assert guards_on("renewal", "renew") == {"G3"}
    assert not guards_on("renewal", "seats-near-limit") and not guards_on("renewal", "offer-add-on")
    assert "seats-near-limit" in tasks[bent["renewal"]] and "renew" not in tasks[bent["renewal"]]

    # the churned account: its last usage still says seats are full, and no offer goes out
    assert "G9" in guards_on("churned", "seats-near-limit")
    assert (bent["churned"], "renew") not in held  # not a customer: the customer rules do not fire
    assert bent["churned"] not in tasks
    # the quiet workspace: the usage rule waits, the renewal (from the contract) does not
    assert guards_on("quiet", "seats-near-limit") == {"G10"}
    assert tasks[bent["quiet"]] >= {"renew"} and "seats-near-limit" not in tasks[bent["quiet"]]

    # `upsync explain` says why, in words
    def why(label: str) -> dict[str, str]:
        explained = explain_account(evaluation, ctx.ruleset, bent[label], system=crm)
        return dict(next(r for r in explained.rules if r.rule_id == "seats-near-limit").blocked)

    assert why("churned")["G9"] == f"churned on {TODAY - timedelta(days=5)}: no active contract"
    last = evaluation.features.filter(pl.col("account") == bent["quiet"])["usage_day"].item()
    assert last <= TODAY - timedelta(days=4)
    assert why("quiet")["G10"] == f"no usage data since {last} ({(TODAY - last).days} days)"
    ctx.close()
