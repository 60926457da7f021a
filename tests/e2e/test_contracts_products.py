"""Contracts and products as the CRM holds them, over a real pull: an earlier-ending contract's
renewal, products matched by name pattern and family, and the date each was first bought."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Sandbox
from sync.runner import evaluate_now, pull_all
from tests.conftest import ANCHOR, make_context

pytestmark = pytest.mark.e2e

RULES = """
[[rules]]
id = "analytics-without-dashboards"
kind = "cross-sell"
offer = "Custom Dashboards"
when = "owns('analytics*') and not owns('Custom Dashboards')"
playbook = "seat-expansion"

[[rules]]
id = "analytics-this-year"
kind = "upsell"
when = "days_since(acquired('analytics pro')) <= 365"
playbook = "seat-expansion"

[[rules]]
id = "any-add-on"
kind = "upsell"
when = "owns('Add-on')"
playbook = "seat-expansion"
"""
TODAY = ANCHOR.date()


@pytest.fixture(params=["salesforce", "hubspot"])
def pulled(request: pytest.FixtureRequest, tmp_path: Path, sandbox: Sandbox) -> Iterator[tuple[str, Any]]:
    crm = request.param
    if crm == "salesforce":
        # a second, earlier-ending contract on the first customer with a contract: its renewal comes first
        contracts = sandbox.world.salesforce.objects["Contract"]
        first = next(c for c in contracts.values() if c["Status"] == "Activated" and c["EndDate"] > "2026-09-01")
        extra = dict(first, Id="800000000000EXTRA", StartDate="2026-01-01", EndDate="2026-07-01")
        contracts[extra["Id"]] = extra
    else:
        # HubSpot keeps terms on recurring line items: a second, earlier-ending term on a won deal
        store = sandbox.world.hubspot
        lines = store.objects["line_items"]
        lid, line = next(
            (i, li)
            for i, li in lines.items()
            if li["properties"].get("hs_recurring_billing_end_date", "") > "2026-09-01"
        )
        extra = {**line, "id": "13999999999", "properties": {**line["properties"], "hs_object_id": "13999999999"}}
        extra["properties"].update(
            hs_recurring_billing_start_date="2026-01-01", hs_recurring_billing_end_date="2026-07-01"
        )
        lines["13999999999"] = extra
        store.associations[("line_items", "13999999999", "deals")] = list(
            store.associations[("line_items", lid, "deals")]
        )
    ctx = make_context(tmp_path, sandbox, crm, extra=RULES)
    reports = pull_all(ctx, as_of=ANCHOR)
    assert not [r.error for r in reports if r.error]
    yield crm, ctx
    ctx.close()


def _sf_owned(sb: Sandbox) -> dict[str, dict[str, date]]:
    """Account → product name → first purchase date, from the Salesforce store's current assets
    and won deals' line items (accounts with assets: assets only)."""
    objects = sb.world.salesforce.objects
    name = {p["Id"]: p["Name"] for p in objects["Product2"].values()}
    out: dict[str, dict[str, date]] = {}
    for a in objects["Asset"].values():
        current = a["Status"] != "Obsolete" and (a["UsageEndDate"] is None or a["UsageEndDate"] >= TODAY.isoformat())
        if current and a["PurchaseDate"] <= TODAY.isoformat():
            bought = date.fromisoformat(a["PurchaseDate"])
            mine = out.setdefault(a["AccountId"], {})
            mine[name[a["Product2Id"]]] = min(mine.get(name[a["Product2Id"]], bought), bought)
    with_assets = {a["AccountId"] for a in objects["Asset"].values()}
    won = {o["Id"]: o for o in objects["Opportunity"].values() if o["IsWon"] and o["CloseDate"] <= TODAY.isoformat()}
    for li in objects["OpportunityLineItem"].values():
        deal = won.get(li["OpportunityId"])
        if deal is None or deal["AccountId"] in with_assets:
            continue
        bought = date.fromisoformat(deal["CloseDate"])
        mine = out.setdefault(deal["AccountId"], {})
        mine[name[li["Product2Id"]]] = min(mine.get(name[li["Product2Id"]], bought), bought)
    return out


def _hs_owned(sb: Sandbox) -> dict[str, dict[str, date]]:
    """Company → product name → first purchase date: won deals' line items in the HubSpot store."""
    store = sb.world.hubspot
    products = {p["id"]: p["properties"]["name"] for p in store.objects["products"].values()}
    out: dict[str, dict[str, date]] = {}
    for li_id, li in store.objects["line_items"].items():
        for deal_id, _ in store.associations.get(("line_items", li_id, "deals"), []):
            deal = store.objects["deals"][deal_id]["properties"]
            if str(deal.get("hs_is_closed_won")).lower() != "true" or deal["closedate"][:10] > TODAY.isoformat():
                continue
            bought = date.fromisoformat(deal["closedate"][:10])
            for company, _ in store.associations.get(("deals", deal_id, "companies"), []):
                mine = out.setdefault(company, {})
                product = products.get(li["properties"].get("hs_product_id", ""), li["properties"]["name"])
                mine[product] = min(mine.get(product, bought), bought)
    return out


def test_products_match_by_pattern_and_family_and_acquired_is_the_first_purchase(
    pulled: tuple[str, Any], sandbox: Sandbox
) -> None:
    crm, ctx = pulled
    ev = evaluate_now(ctx.store, crm, ctx.ruleset, as_of=ANCHOR)
    fired = {r["rule_id"]: set(r["account"]) for r in ev.signals.group_by("rule_id").agg("account").to_dicts()}
    owned = _sf_owned(sandbox) if crm == "salesforce" else _hs_owned(sandbox)
    want = {a for a, p in owned.items() if "Analytics Pro" in p and "Custom Dashboards" not in p}
    assert want and fired["analytics-without-dashboards"] == want
    add_ons = {"Analytics Pro", "Custom Dashboards", "Workflow Automation", "Storage Plus", "API Plus"}
    assert fired["any-add-on"] == {a for a, p in owned.items() if add_ons & set(p)}  # by the family "Add-on"
    recent = {a for a, p in owned.items() if "Analytics Pro" in p and (TODAY - p["Analytics Pro"]).days <= 365}
    assert recent and fired["analytics-this-year"] == recent
    bought = dict(zip(ev.features["account"], ev.features["acquired:analytics pro"], strict=True))
    assert {a: bought[a] for a in owned if "Analytics Pro" in owned[a]} == {
        a: p["Analytics Pro"] for a, p in owned.items() if "Analytics Pro" in p
    }


def test_the_next_renewal_is_the_earliest_ending_active_contract(pulled: tuple[str, Any], sandbox: Sandbox) -> None:
    crm, ctx = pulled
    ev = evaluate_now(ctx.store, crm, ctx.ruleset, as_of=ANCHOR)
    rows = {r["account"]: r for r in ev.features.select("account", "next_renewal", "contract_end").to_dicts()}
    if crm == "salesforce":
        account = sandbox.world.salesforce.objects["Contract"]["800000000000EXTRA"]["AccountId"]
    else:
        store = sandbox.world.hubspot
        ((deal, _),) = store.associations[("line_items", "13999999999", "deals")]
        ((account, _),) = store.associations[("deals", deal, "companies")]
    assert rows[account]["next_renewal"] == date(2026, 7, 1)
    assert rows[account]["contract_end"] > date(2026, 9, 1)  # the latest active end, as before
    soon = [a for a, r in rows.items() if r["next_renewal"] and r["next_renewal"] - TODAY <= timedelta(days=90)]
    assert soon
