"""The world's answers in the CRM: upsync's tasks read back, and the opportunities opened and closed.

The CRM side of :mod:`sandbox.world.timeline.response`: a task is upsync's when it carries a sync
key (``Upsync_Sync_Key__c``, ``upsync_sync_key``), and its key names the rule and the account. An
opportunity is written the way the plan's deals are (``project.py``), stamped at 06:00 of its
morning so that the day's 09:00 pull reads it: created open, then closed won or lost.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sandbox.world.catalogue import HS_STAGE
from sandbox.world.formats import hs_time, sf_id, sf_time
from sandbox.world.hubspot_projection import HS_BASE
from sandbox.world.stores import HubSpotStore, SalesforceStore
from sandbox.world.timeline.response import Opening, SeenTask
from sandbox.world.variant import DEAL_KINDS

if TYPE_CHECKING:
    from sandbox.world.timeline.project import TimelineWorld


def upsync_tasks(tw: TimelineWorld) -> list[SeenTask]:
    """upsync's tasks as the CRM holds them: those carrying a sync key, by account, rule and day created."""
    crm_id = "salesforce_id" if tw.crm == "salesforce" else "hubspot_id"
    account_of = {getattr(k, crm_id): n for n, k in enumerate(tw.world.account_keys)}
    found: list[tuple[str, str]] = []  # (sync key, created)
    if tw.crm == "salesforce":
        rows = tw.world.salesforce.table("Task").values()
        found = [(str(r["Upsync_Sync_Key__c"]), str(r["CreatedDate"])) for r in rows if r.get("Upsync_Sync_Key__c")]
    else:
        objs = tw.world.hubspot.table("tasks").values()
        found = [
            (str(o["properties"]["upsync_sync_key"]), str(o["createdAt"]))
            for o in objs
            if o["properties"].get("upsync_sync_key")
        ]
    out: list[SeenTask] = []
    for key, created in found:
        parts = key.split("|")  # rule[#step][~hash]|account|period (a legacy hash key names no account)
        if len(parts) < 3 or parts[-2] not in account_of:
            continue
        rule = parts[0].partition("~")[0].partition("#")[0]
        out.append(SeenTask(account_of[parts[-2]], rule, (date.fromisoformat(created[:10]) - tw.start).days))
    return out


def open_deal(tw: TimelineWorld, o: Opening, stamp: datetime) -> None:
    """The window's opportunity, open ("Prospecting"), created and modified at ``stamp``."""
    from sandbox.world.timeline.project import OWNERS, display_name  # project imports this module

    p = tw.plans[o.account]
    name = f"{display_name(p)} - {o.product} ({o.kind})"
    kind = DEAL_KINDS.index(o.kind)
    if tw.crm == "salesforce":
        oid = tw.sf_next("006")
        owner = tw.sf_users[p.n % len(OWNERS)]
        at = sf_time(stamp)
        tw.world.salesforce.table("Opportunity")[oid] = {
            "Id": oid,
            "AccountId": sf_id("001", p.n + 1),
            "Name": name,
            "Type": tw.variant.sf_opportunity_types[kind],
            "StageName": "Prospecting",
            "IsClosed": False,
            "IsWon": False,
            "CloseDate": tw.day_text(o.close),
            "Amount": float(o.amount),
            "OwnerId": owner,
            "CreatedById": owner,
            "LastModifiedById": owner,
            "IsDeleted": False,
            "CreatedDate": at,
            "LastModifiedDate": at,
            "SystemModstamp": at,
        }
    else:
        hs, at = tw.hs, hs_time(stamp)
        oid = hs.next_id("deals")
        props = {
            "hs_object_id": oid,
            "dealname": name,
            "dealtype": tw.variant.hs_deal_types[kind],
            "dealstage": HS_STAGE["Prospecting"],
            "pipeline": "default",
            "closedate": hs_time(tw.at(o.close, 12)),
            "amount": str(o.amount),
            "hs_is_closed": "false",
            "hs_is_closed_won": "false",
            "hubspot_owner_id": hs.owners[p.n % len(OWNERS)],
            "createdate": at,
            "hs_lastmodifieddate": at,
        }
        tw.world.hubspot.table("deals")[oid] = hs.obj(oid, props, at, at)
        tw.world.hubspot.associations[("deals", oid, "companies")] = [(str(HS_BASE["companies"] + p.n + 1), 5)]
    tw.opportunities[(o.account, o.window.kind, o.window.start)] = oid


def close_deal(tw: TimelineWorld, o: Opening, stamp: datetime) -> None:
    """Won or lost that morning; a won deal gets its line item (the revenue), as the plan's deals do."""
    oid = tw.opportunities[(o.account, o.window.kind, o.window.start)]
    stage = "Closed Won" if o.won else "Closed Lost"
    if tw.crm == "salesforce":
        at, store = sf_time(stamp), tw.world.salesforce
        row = store.table("Opportunity")[oid]
        row.update({"StageName": stage, "IsClosed": True, "IsWon": o.won, "CloseDate": tw.day_text(o.close)})
        row["LastModifiedDate"] = row["SystemModstamp"] = at
        if o.won:
            stamps = {"CreatedDate": at, "LastModifiedDate": at, "SystemModstamp": at}
            owners = {k: row[k] for k in ("OwnerId", "CreatedById", "LastModifiedById", "IsDeleted")}
            sf_won_line(tw, store, oid, o.product, o.seats, o.amount, o.close, {**owners, **stamps})
        return
    at, hstore = hs_time(stamp), tw.world.hubspot
    obj = hstore.table("deals")[oid]
    obj["properties"].update(
        {
            "dealstage": HS_STAGE[stage],
            "hs_is_closed": "true",
            "hs_is_closed_won": "true" if o.won else "false",
            "closedate": hs_time(tw.at(o.close, 12)),
            "hs_lastmodifieddate": at,
        }
    )
    obj["updatedAt"] = at
    if o.won:
        hs_won_line(tw, hstore, oid, o.product, o.seats, o.amount, at)


def hs_won_line(
    tw: TimelineWorld, hstore: HubSpotStore, deal: str, product: str, seats: int, amount: int, at: str
) -> None:
    """A won HubSpot deal's line item (its revenue), associated with the deal."""
    hs = tw.hs
    lid = hs.next_id("line_items")
    line = {
        "hs_object_id": lid,
        "name": product,
        "hs_product_id": tw.hs_products[product],
        "quantity": str(seats),
        "price": str(amount // max(1, seats)),
        "amount": str(amount),
        "createdate": at,
        "hs_lastmodifieddate": at,
    }
    hstore.table("line_items")[lid] = hs.obj(lid, line, at, at)
    hstore.associations[("line_items", lid, "deals")] = [(deal, 20)]


def sf_won_line(
    tw: TimelineWorld,
    store: SalesforceStore,
    deal: str,
    product: str,
    seats: int,
    amount: int,
    close: int,
    system: dict[str, object],
) -> None:
    """A won Salesforce opportunity's line item (its revenue); ``system``: owner and stamp fields."""
    lid = tw.sf_next("00k")
    store.table("OpportunityLineItem")[lid] = {
        "Id": lid,
        "OpportunityId": deal,
        "Product2Id": tw.sf_products[product],
        "Quantity": float(seats),
        "UnitPrice": float(amount // max(1, seats)),
        "TotalPrice": float(amount),
        "ServiceDate": tw.day_text(close),
        **system,
    }
