"""Canonical records projected into HubSpot CRM objects and v4 associations."""

from __future__ import annotations

from typing import Any, Final

from sandbox.world.catalogue import (
    HS_PRIORITY,
    HS_STAGE,
    HS_TICKET_STAGE,
    PRODUCTS,
    mrr_of,
    recurring,
    tier_of,
)
from sandbox.world.clock import DAY, Clock
from sandbox.world.records import Account, Bundle, Line, owner_email
from sandbox.world.stores import HubSpotStore
from sandbox.world.variant import HS_DEAL_KIND_PROPERTY, CrmVariant
from sandbox.world.vocabulary import INDUSTRIES

# HubSpot object id ranges: one block per type, so ids read as what they are; objects created at
# run time (tasks upsync writes) get ids from 30_000_000_001 up.
HS_BASE: Final = {
    "companies": 10_000_000_000,
    "contacts": 11_000_000_000,
    "deals": 12_000_000_000,
    "line_items": 13_000_000_000,
    "products": 14_000_000_000,
    "tickets": 15_000_000_000,
    "tasks": 16_000_000_000,
    "calls": 17_000_000_000,
    "meetings": 18_000_000_000,
    "emails": 19_000_000_000,
    "notes": 20_000_000_000,
}
HS_RUNTIME_IDS: Final = 30_000_000_001
# HUBSPOT_DEFINED association type ids, from the record that belongs to another towards its owner
# (contact → company, task → deal…): the direction upsync reads them in.
_HS_ASSOC: Final = {
    ("contacts", "companies"): 1,
    ("deals", "companies"): 5,
    ("line_items", "deals"): 20,
    ("tickets", "companies"): 26,
    ("companies", "companies"): 14,
    ("tasks", "companies"): 192,
    ("tasks", "contacts"): 204,
    ("tasks", "deals"): 216,
    ("calls", "companies"): 182,
    ("calls", "contacts"): 194,
    ("calls", "deals"): 206,
    ("meetings", "companies"): 188,
    ("meetings", "contacts"): 200,
    ("meetings", "deals"): 212,
    ("emails", "companies"): 186,
    ("emails", "contacts"): 198,
    ("emails", "deals"): 210,
    ("notes", "companies"): 190,
    ("notes", "contacts"): 202,
    ("notes", "deals"): 214,
}
_HS_ENGAGEMENT: Final = {"email": "emails", "call": "calls", "meeting": "meetings", "task": "tasks", "note": "notes"}


def _amount(value: float) -> str:
    """A calculated currency amount as HubSpot returns it: up to two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


class HubSpotProjection:
    """Canonical records → HubSpot CRM objects and v4 associations (``HubSpotStore``)."""

    def __init__(self, clock: Clock, variant: CrmVariant | None = None) -> None:
        self.clock = clock
        self.variant = variant or CrmVariant()
        self.store = HubSpotStore()
        # the portal's own names for the custom company properties and its deal type options
        self.renames = self.variant.hs_renames()
        if self.renames:
            self.store.property_renames["companies"] = dict(self.renames)
        self.kind_property = self.variant.hs_deal_kind_property
        if self.kind_property is not None and self.kind_property != HS_DEAL_KIND_PROPERTY:
            self.store.property_renames["deals"] = {HS_DEAL_KIND_PROPERTY: self.kind_property}
        if self.variant.hs_deal_options != CrmVariant().hs_deal_options:
            self.store.property_options[("deals", "dealtype")] = self.variant.hs_deal_options
        # overlapping: every engagement type counts from the tasks' block, so the n-th task,
        # call, meeting, email and note share an id (HubSpot ids are unique per type only)
        self.bases = dict(HS_BASE)
        if self.variant.hs_engagement_ids == "overlapping":
            self.bases.update(dict.fromkeys(_HS_ENGAGEMENT.values(), HS_BASE["tasks"]))
        self.owners: list[str] = []
        self.products: list[str] = []
        self.counters = dict.fromkeys(HS_BASE, 0)
        self.tables = {name: self.store.table(name) for name in ("owners", *HS_BASE)}
        self.assoc = self.store.associations
        self._numbers: dict[int, str] = {}

    def next_id(self, object_type: str) -> str:
        n = self.counters[object_type] + 1
        self.counters[object_type] = n
        return str(self.bases[object_type] + n)

    def number(self, value: int) -> str:
        """Shared string for an integer property value (amounts, quantities repeat a lot)."""
        text = self._numbers.get(value)
        if text is None:
            text = self._numbers[value] = str(value)
        return text

    def obj(self, object_id: str, properties: dict[str, str], created: str, modified: str) -> dict[str, Any]:
        return {
            "id": object_id,
            "properties": properties,
            "createdAt": created,
            "updatedAt": modified,
            "archived": False,
            "archivedAt": None,
        }

    def start(self, owners: list[tuple[str, str, bool]]) -> None:
        clock = self.clock
        table = self.tables["owners"]
        for i, (first, last, active) in enumerate(owners):
            hid = str(70_000_001 + i)
            table[hid] = {
                "id": hid,
                "email": owner_email(first, last, i),
                "firstName": first,
                "lastName": last,
                "userId": 9_000_001 + i,
                "createdAt": clock.hs(clock.at(max(30, 400 - i), 540)),
                "updatedAt": clock.hs(clock.at(30 + i % 300, 540)),
                "archived": not active,
                "teams": [],
            }
            self.owners.append(hid)
        products = self.tables["products"]
        for k, p in enumerate(PRODUCTS):
            pid = self.next_id("products")
            stamp = clock.hs(clock.at(900 - k, 540))
            products[pid] = self.obj(
                pid,
                {
                    "hs_object_id": pid,
                    "name": p.name,
                    "hs_sku": p.code,
                    "product_family": p.family,
                    "price": self.number(p.price),
                    "createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                },
                stamp,
                stamp,
            )
            self.products.append(pid)

    def term(self, b: Bundle, li: Line) -> dict[str, str]:
        """The billing of a recurring line item on a won deal, as HubSpot keeps it on the line
        (knowledge.hubspot.com, "HubSpot's default line item properties": Billing start date, Term,
        Billing frequency): from the line's date (a term's start, or an expansion's close) to the end
        of the contract covering it (co-termed), billed annually. ``hs_mrr`` is HubSpot's own
        calculated, read-only monthly amount of a recurring line (community.hubspot.com, "Deal Recalc
        Amount, Annual Contract Value, Annual Recurring Revenue": MRR and ARR are calculated from the
        recurring line items and their terms): an annual amount over 12. One-off lines have none."""
        deal = b.deals[li.deal]
        none = {"hs_recurring_billing_start_date": "", "hs_recurring_billing_end_date": ""}
        if deal.stage != "Closed Won" or not recurring(li.product):
            return {**none, "recurringbillingfrequency": "", "hs_mrr": ""}
        covering = [c for c in b.contracts if c.status == "Activated" and c.start <= li.service <= c.end]
        if not covering:
            return {**none, "recurringbillingfrequency": "", "hs_mrr": ""}
        c = covering[-1]
        out = {
            "hs_recurring_billing_start_date": self.clock.day(li.service),
            "hs_recurring_billing_end_date": self.clock.day(c.end),
            "recurringbillingfrequency": "annually",
            "hs_mrr": _amount(li.unit_price * li.quantity / 12),
        }
        if li.service == c.start:  # a whole term (new business, renewal): its length in months
            out["hs_term_in_months"] = str(c.term)
        return out

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.assoc[(from_type, from_id, to_type)] = [(to_id, _HS_ASSOC[(from_type, to_type)])]

    def account(self, a: Account, b: Bundle) -> None:
        hs = self.clock.hs
        day = self.clock.day
        number = self.number
        owner = self.owners[a.owner]
        company = str(HS_BASE["companies"] + a.n + 1)
        self.counters["companies"] = a.n + 1
        created, modified = hs(a.created), hs(a.modified)
        if a.customer:
            stage = "customer" if a.paying else "other"  # no standard stage says churned: "other"
        else:
            stage = "opportunity" if any(not d.stage.startswith("Closed") for d in b.deals) else "lead"
        properties = {
            "hs_object_id": company,
            "name": a.name,
            "domain": a.domain,
            "hubspot_owner_id": owner,
            "industry": INDUSTRIES[a.industry][1],
            "numberofemployees": number(a.employees),
            "lifecyclestage": stage,
            "workspace_id": a.workspace or "",
            "upsync_seats_purchased": number(a.seats if a.paying else 0),
            "contract_end_date": day(b.contract_end) if b.contract_end is not None else "",
            "health_rollup": str(a.health),
            "do_not_contact": "true" if "do_not_contact" in a.overlays else "false",
            "nps_score": str(a.nps) if a.nps is not None else "",
            "csat_score": str(a.csat) if a.csat is not None else "",
            "mrr_rollup": str(mrr_of(a.tier, a.seats, a.paying)),
            "tier": tier_of(a.tier),
            "createdate": created,
            "hs_lastmodifieddate": modified,
        }
        if self.renames:
            properties = {self.renames.get(name, name): value for name, value in properties.items()}
        self.tables["companies"][company] = self.obj(company, properties, created, modified)
        if a.parent is not None:
            self.link("companies", company, "companies", str(HS_BASE["companies"] + a.parent + 1))
        deal_ids: list[str] = []
        deals = self.tables["deals"]
        for d in b.deals:
            did = self.next_id("deals")
            deal_ids.append(did)
            d_created, d_modified = hs(d.created), hs(d.modified)
            is_closed = d.stage.startswith("Closed")
            deals[did] = self.obj(
                did,
                {
                    "hs_object_id": did,
                    "dealname": d.name,
                    "dealtype": self.variant.hs_deal_types[d.kind],
                    "dealstage": HS_STAGE[d.stage],
                    "pipeline": "default",
                    "closedate": hs(d.close * DAY),
                    "amount": number(d.amount),
                    # the deal's currency: the portal's company currency, USD (one currency, no rates)
                    "deal_currency_code": "USD",
                    "hs_is_closed": "true" if is_closed else "false",
                    "hs_is_closed_won": "true" if d.stage == "Closed Won" else "false",
                    "hubspot_owner_id": owner,
                    "createdate": d_created,
                    "hs_lastmodifieddate": d_modified,
                },
                d_created,
                d_modified,
            )
            # the portal's kind property, empty where the org leaves it unset (as HubSpot stores it)
            kind = self.variant.deal_kind_value("hubspot", d.kind)
            deals[did]["properties"][self.kind_property or HS_DEAL_KIND_PROPERTY] = kind or ""
            self.link("deals", did, "companies", company)
        lines = self.tables["line_items"]
        for li in b.lines:
            lid = self.next_id("line_items")
            product = PRODUCTS[li.product]
            l_created, l_modified = hs(li.created), hs(li.modified)
            term = self.term(b, li)
            lines[lid] = self.obj(
                lid,
                {
                    "hs_object_id": lid,
                    "name": product.name,
                    "hs_product_id": self.products[li.product],
                    "hs_sku": product.code,
                    "quantity": number(li.quantity),
                    "price": number(li.unit_price),
                    "amount": number(li.unit_price * li.quantity),
                    "createdate": l_created,
                    "hs_lastmodifieddate": l_modified,
                    **term,
                },
                l_created,
                l_modified,
            )
            self.link("line_items", lid, "deals", deal_ids[li.deal])
        contact_ids: list[str] = []
        contacts = self.tables["contacts"]
        for p in b.contacts:
            pid = self.next_id("contacts")
            contact_ids.append(pid)
            p_created, p_modified = hs(p.created), hs(p.modified)
            contacts[pid] = self.obj(
                pid,
                {
                    "hs_object_id": pid,
                    "firstname": p.first,
                    "lastname": p.last,
                    "email": p.email,
                    "jobtitle": p.title,
                    "department": p.department,
                    "createdate": p_created,
                    "lastmodifieddate": p_modified,
                },
                p_created,
                p_modified,
            )
            self.link("contacts", pid, "companies", company)
        for act in b.activities:
            object_type = _HS_ENGAGEMENT[act.kind]
            eid = self.next_id(object_type)
            e_created, e_modified = hs(act.created), hs(act.modified)
            props: dict[str, str] = {"hs_object_id": eid, "hs_timestamp": hs(act.when), "hubspot_owner_id": owner}
            if act.kind == "email":
                props["hs_email_subject"] = act.subject
                props["hs_email_direction"] = "INCOMING_EMAIL" if act.variant < 3 else "EMAIL"
            elif act.kind == "call":
                props["hs_call_title"] = act.subject
                props["hs_call_status"] = "NO_ANSWER" if act.variant < 2 else "COMPLETED"
                props["hs_call_direction"] = "INBOUND" if act.variant >= 7 else "OUTBOUND"
            elif act.kind == "meeting":
                props["hs_meeting_title"] = act.subject
                props["hs_meeting_outcome"] = "COMPLETED" if act.done else "SCHEDULED"
            elif act.kind == "task":
                props["hs_task_subject"] = act.subject
                props["hs_task_status"] = "COMPLETED" if act.done else ("NOT_STARTED", "IN_PROGRESS")[act.variant % 2]
                props["hs_task_priority"] = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}[act.priority]
                props["hs_task_type"] = ("TODO", "CALL", "EMAIL")[act.variant % 3]
                props["upsync_sync_key"] = ""
            else:
                props["hs_note_body"] = act.subject
            props["hs_createdate"] = e_created
            props["hs_lastmodifieddate"] = e_modified
            self.tables[object_type][eid] = self.obj(eid, props, e_created, e_modified)
            self.link(object_type, eid, "companies", company)
            if act.contact >= 0:
                self.link(object_type, eid, "contacts", contact_ids[act.contact])
            if act.deal >= 0:
                self.link(object_type, eid, "deals", deal_ids[act.deal])
        tickets = self.tables["tickets"]
        for t in b.tickets:
            tid = self.next_id("tickets")
            t_created, t_modified = hs(t.created), hs(t.modified)
            tickets[tid] = self.obj(
                tid,
                {
                    "hs_object_id": tid,
                    "subject": t.subject,
                    "hs_pipeline": "0",
                    "hs_pipeline_stage": HS_TICKET_STAGE[t.status],
                    "hs_ticket_priority": "URGENT" if t.escalated else HS_PRIORITY[t.priority],
                    "hubspot_owner_id": owner,
                    "createdate": t_created,
                    "closed_date": hs(t.closed) if t.closed is not None else "",
                    "hs_lastmodifieddate": t_modified,
                },
                t_created,
                t_modified,
            )
            self.link("tickets", tid, "companies", company)

    def finish(self) -> HubSpotStore:
        self.store.next_id = HS_RUNTIME_IDS  # ids of objects created at run time stand apart from seeded ones
        return self.store
