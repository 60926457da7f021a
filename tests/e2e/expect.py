"""What the sandbox world says should happen, computed straight from its data (not from upsync's code)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox.server import Sandbox


def seat_heavy(sb: Sandbox, crm: str, threshold: float = 0.8) -> dict[str, dict[str, Any]]:
    """CRM account id → facts, for live accounts at ≥ threshold of purchased seats whose owner is
    active and that no guard of an upsell holds back: not flagged do-not-contact (G6), NPS 7 or
    more where known (G1), no open escalation (G5), no expansion deal lost in the last 90 days (G3)."""
    last: dict[str, dict[str, Any]] = {}
    for row in sb.world.usage.rows:
        ws = row["workspace_id"]
        if ws not in last or row["date"] > last[ws]["date"]:
            last[ws] = row
    today = sb.world.anchor.date()
    out = {}
    if crm == "salesforce":
        objects = sb.world.salesforce.objects
        users = objects["User"]
        escalated = {c["AccountId"] for c in objects.get("Case", {}).values() if c["IsEscalated"] and not c["IsClosed"]}
        lost = {
            o["AccountId"]
            for o in objects.get("Opportunity", {}).values()
            if o["Type"] == "Existing Business - Upgrade"
            and o["IsClosed"]
            and not o["IsWon"]
            and (today - date.fromisoformat(o["CloseDate"])).days < 90
        }
        for acc in objects["Account"].values():
            use = last.get(acc["Workspace_Id__c"])
            nps = acc.get("NPS__c")
            if (
                use
                and use["seats_used"] >= threshold * acc["Seats_Purchased__c"]
                and users[acc["OwnerId"]]["IsActive"]
                and not acc.get("Do_Not_Contact__c")
                and (nps is None or nps >= 7)
                and acc["Id"] not in escalated | lost
            ):
                out[acc["Id"]] = {
                    "owner": acc["OwnerId"],
                    "used": use["seats_used"],
                    "limit": acc["Seats_Purchased__c"],
                }
    else:
        hs = sb.world.hubspot
        owners = hs.objects["owners"]

        def company_of(object_type: str, object_id: str) -> str | None:
            links = hs.associations.get((object_type, object_id, "companies"), [])
            return links[0][0] if links else None

        escalated = {
            company_of("tickets", t["id"])
            for t in hs.objects.get("tickets", {}).values()
            if t["properties"]["hs_ticket_priority"] == "URGENT" and t["properties"]["hs_pipeline_stage"] != "4"
        }
        lost = {
            company_of("deals", d["id"])
            for d in hs.objects.get("deals", {}).values()
            if d["properties"]["dealtype"] == "existingbusiness"
            and d["properties"]["dealstage"] == "closedlost"
            and (today - date.fromisoformat(d["properties"]["closedate"][:10])).days < 90
        }
        for company in hs.objects["companies"].values():
            p = company["properties"]
            use = last.get(p["workspace_id"])
            limit = int(p["upsync_seats_purchased"])
            nps = float(p["nps_score"]) if p.get("nps_score") else None
            if (
                use
                and use["seats_used"] >= threshold * limit
                and not owners[p["hubspot_owner_id"]]["archived"]
                and p.get("do_not_contact") != "true"
                and (nps is None or nps >= 7)
                and company["id"] not in escalated | lost
            ):
                out[company["id"]] = {"owner": p["hubspot_owner_id"], "used": use["seats_used"], "limit": limit}
    return out


def upsync_tasks(sb: Sandbox, crm: str) -> list[dict[str, Any]]:
    """Tasks in the sandbox CRM that carry upsync's sync key, as (account, owner, key, raw)."""
    out = []
    if crm == "salesforce":
        for task in sb.world.salesforce.objects.get("Task", {}).values():
            if task.get("Upsync_Sync_Key__c"):
                out.append(
                    {
                        "account": task["WhatId"],
                        "owner": task["OwnerId"],
                        "key": task["Upsync_Sync_Key__c"],
                        "raw": task,
                    }
                )
    else:
        assoc = sb.world.hubspot.associations
        for task in sb.world.hubspot.objects.get("tasks", {}).values():
            p = task["properties"]
            if p.get("upsync_sync_key"):
                companies = [
                    cid for cid, type_id in assoc.get(("tasks", task["id"], "companies"), []) if type_id == 192
                ]
                out.append(
                    {
                        "account": companies[0] if companies else None,
                        "owner": p.get("hubspot_owner_id"),
                        "key": p["upsync_sync_key"],
                        "raw": task,
                    }
                )
    return out


SF_KINDS = {
    "owners": ("User",),
    "accounts": ("Account",),
    "contracts": ("Contract",),
    "opportunities": ("Opportunity",),
    "products": ("Product2",),
    "line_items": ("OpportunityLineItem",),
    "assets": ("Asset",),
    "contacts": ("Contact",),
    "activities": ("Task", "Event"),
    "tickets": ("Case",),
}
HS_KINDS = {
    "owners": ("owners",),
    "accounts": ("companies",),
    "contacts": ("contacts",),
    "opportunities": ("deals",),
    "products": ("products",),
    "line_items": ("line_items",),
    "tickets": ("tickets",),
    "activities": ("tasks", "calls", "meetings", "emails", "notes"),
}


def live_ids(sb: Sandbox, crm: str) -> dict[str, set[str]]:
    """Per canonical kind, the ids a complete pull must hold as live (not deleted)."""
    out: dict[str, set[str]] = {}
    if crm == "salesforce":
        objects = sb.world.salesforce.objects
        for kind, sobjects in SF_KINDS.items():
            out[kind] = {rid for so in sobjects for rid, rec in objects.get(so, {}).items() if not rec.get("IsDeleted")}
    else:
        objects = sb.world.hubspot.objects
        for kind, types in HS_KINDS.items():
            out[kind] = {
                rid
                for t in types
                for rid, rec in objects.get(t, {}).items()
                if t == "owners" or not rec.get("archived")
            }
    return out


def stored_ids(store: Any, crm: str) -> dict[str, set[str]]:
    kinds = SF_KINDS if crm == "salesforce" else HS_KINDS
    return {kind: {r["crm_id"] for r in store.rows(kind, system=crm, include_deleted=False)} for kind in kinds}


def assert_store_matches(store: Any, sb: Sandbox, crm: str) -> None:
    """No missing, no extra, deletes applied: the store holds exactly the CRM's live records."""
    want, have = live_ids(sb, crm), stored_ids(store, crm)
    for kind in want:
        missing, extra = want[kind] - have[kind], have[kind] - want[kind]
        assert not missing and not extra, (
            f"{kind}: {len(missing)} missing {sorted(missing)[:5]}, {len(extra)} extra {sorted(extra)[:5]}"
        )
