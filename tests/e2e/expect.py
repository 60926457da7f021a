"""What the sandbox world says should happen, computed straight from its data (not from upsync's code)."""

from __future__ import annotations

from typing import Any

from sandbox.server import Sandbox


def seat_heavy(sb: Sandbox, crm: str, threshold: float = 0.8) -> dict[str, dict[str, Any]]:
    """CRM account id → facts, for live accounts at ≥ threshold of purchased seats whose owner is active."""
    last: dict[str, dict[str, Any]] = {}
    for row in sb.world.usage.rows:
        ws = row["workspace_id"]
        if ws not in last or row["date"] > last[ws]["date"]:
            last[ws] = row
    out = {}
    if crm == "salesforce":
        users = sb.world.salesforce.objects["User"]
        for acc in sb.world.salesforce.objects["Account"].values():
            use = last.get(acc["Workspace_Id__c"])
            if use and use["seats_used"] >= threshold * acc["Seats_Purchased__c"] and users[acc["OwnerId"]]["IsActive"]:
                out[acc["Id"]] = {
                    "owner": acc["OwnerId"],
                    "used": use["seats_used"],
                    "limit": acc["Seats_Purchased__c"],
                }
    else:
        owners = sb.world.hubspot.objects["owners"]
        for company in sb.world.hubspot.objects["companies"].values():
            p = company["properties"]
            use = last.get(p["workspace_id"])
            limit = int(p["upsync_seats_purchased"])
            if use and use["seats_used"] >= threshold * limit and not owners[p["hubspot_owner_id"]]["archived"]:
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
