"""What the sandbox world says should happen, computed straight from its data (not from upsync's code)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from sandbox.server import Sandbox

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_usage(heading: str) -> str:
    """The README's worked ``[usage]`` block under ``heading``, less its example base URL (the
    test points at the stand-in; everything else is read exactly as a reader would copy it)."""
    section = README.split(f"### {heading}", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no TOML block under {heading!r}"
    lines = block.group(1).splitlines()
    assert lines[0] == "[usage]" and lines[1].startswith("base_url = ")
    return "\n".join(lines[2:])


def seat_heavy(sb: Sandbox, crm: str, threshold: float = 0.8) -> dict[str, dict[str, Any]]:
    """CRM account id → facts, for live accounts at ≥ threshold of purchased seats whose owner is
    active and that no guard of an upsell holds back: not flagged do-not-contact (G6), NPS 7 or
    more where known (G1), no open escalation (G5), no upsell deal lost in the last 90 days (G3:
    its kind field, else its type, as the org records them)."""
    last: dict[str, dict[str, Any]] = {}
    for row in sb.world.usage.rows:
        ws = row["workspace_id"]
        if ws not in last or row["date"] > last[ws]["date"]:
            last[ws] = row
    today = sb.world.anchor.date()
    variant = sb.world.crm_variant  # the org's own field names, deal types and deal kind field
    kind_field = variant.deal_kind_field(crm)

    def says_no_to_upsell(type_value: str | None, kind_value: str | None) -> bool:
        """A lost deal holds back an upsell (G3): its kind field, else its type, says upsell."""
        return variant.lost_deal_kind(crm, type_value, kind_value) in ("upsell", "*")

    out = {}
    if crm == "salesforce":
        f = variant.sf_fields
        objects = sb.world.salesforce.objects
        users = objects["User"]
        escalated = {c["AccountId"] for c in objects.get("Case", {}).values() if c["IsEscalated"] and not c["IsClosed"]}
        lost = {
            o["AccountId"]
            for o in objects.get("Opportunity", {}).values()
            if says_no_to_upsell(o["Type"], o.get(kind_field) if kind_field else None)
            and o["IsClosed"]
            and not o["IsWon"]
            and (today - date.fromisoformat(o["CloseDate"])).days < 90
        }
        for acc in objects["Account"].values():
            use = last.get(acc[f["workspace_id"]])
            nps = acc.get(f["nps"])
            if (
                use
                and acc[f["seats_purchased"]]  # none purchased (a former customer): no plan to outgrow
                and use["seats_used"] >= threshold * acc[f["seats_purchased"]]
                and users[acc["OwnerId"]]["IsActive"]
                and not acc.get(f["do_not_contact"])
                and (nps is None or nps >= 7)
                and acc["Id"] not in escalated | lost
            ):
                out[acc["Id"]] = {
                    "owner": acc["OwnerId"],
                    "used": use["seats_used"],
                    "limit": acc[f["seats_purchased"]],
                }
    else:
        hs = sb.world.hubspot
        owners = hs.objects["owners"]
        h = variant.hs_properties

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
            if says_no_to_upsell(d["properties"]["dealtype"], d["properties"].get(kind_field) if kind_field else None)
            and d["properties"]["dealstage"] == "closedlost"
            and (today - date.fromisoformat(d["properties"]["closedate"][:10])).days < 90
        }
        for company in hs.objects["companies"].values():
            p = company["properties"]
            use = last.get(p[h["workspace_id"]])
            limit = int(p[h["seats_purchased"]])
            nps = float(p[h["nps"]]) if p.get(h["nps"]) else None
            if (
                use
                and limit  # none purchased (a former customer): no plan to outgrow
                and use["seats_used"] >= threshold * limit
                and not owners[p["hubspot_owner_id"]]["archived"]
                and p.get(h["do_not_contact"]) != "true"
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


def _typed(kind: str, object_type: str, crm_id: str) -> str:
    """A record's identity in its kind: activities gather several object types, whose ids may repeat."""
    return f"{object_type}/{crm_id}" if kind == "activities" else crm_id


def live_ids(sb: Sandbox, crm: str) -> dict[str, set[str]]:
    """Per canonical kind, the ids a complete pull must hold as live (not deleted); an activity's
    id is ``<object type>/<id>``."""
    out: dict[str, set[str]] = {}
    if crm == "salesforce":
        objects = sb.world.salesforce.objects
        for kind, sobjects in SF_KINDS.items():
            out[kind] = {
                _typed(kind, so, rid)
                for so in sobjects
                for rid, rec in objects.get(so, {}).items()
                if not rec.get("IsDeleted")
            }
    else:
        objects = sb.world.hubspot.objects
        for kind, types in HS_KINDS.items():
            out[kind] = {
                _typed(kind, t, rid)
                for t in types
                for rid, rec in objects.get(t, {}).items()
                if t == "owners" or not rec.get("archived")
            }
    return out


def stored_ids(store: Any, crm: str) -> dict[str, set[str]]:
    kinds = SF_KINDS if crm == "salesforce" else HS_KINDS
    return {
        kind: {
            _typed(kind, r.get("object_type") or "", r["crm_id"])
            for r in store.rows(kind, system=crm, include_deleted=False)
        }
        for kind in kinds
    }


def assert_store_matches(store: Any, sb: Sandbox, crm: str) -> None:
    """No missing, no extra, deletes applied: the store holds exactly the CRM's live records."""
    want, have = live_ids(sb, crm), stored_ids(store, crm)
    for kind in want:
        missing, extra = want[kind] - have[kind], have[kind] - want[kind]
        assert not missing and not extra, (
            f"{kind}: {len(missing)} missing {sorted(missing)[:5]}, {len(extra)} extra {sorted(extra)[:5]}"
        )
