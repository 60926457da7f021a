"""The dated plan as vendor records: a World whose stores are brought to the state of any day.

The Salesforce and HubSpot records have the fields today's sandbox objects have (the same
projections set up users, owners and the product catalogue, in the variant's names); each
record appears on the day of its event, stamped that morning at 06:00, before the day's cycle.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any

from sandbox.world.catalogue import HS_STAGE
from sandbox.world.clock import Clock
from sandbox.world.formats import hs_time, sf_id, sf_time
from sandbox.world.hubspot_projection import HS_BASE, HS_RUNTIME_IDS, HubSpotProjection
from sandbox.world.records import Account
from sandbox.world.salesforce_projection import SalesforceProjection
from sandbox.world.state import World
from sandbox.world.stores import AccountKey, HubSpotStore, SalesforceStore, UsageStore
from sandbox.world.timeline.answers import close_deal, hs_won_line, open_deal, sf_won_line, upsync_tasks
from sandbox.world.timeline.plan import EXTRA_PRODUCTS, HISTORY, Contract, Deal, Plan
from sandbox.world.timeline.response import Responder
from sandbox.world.variant import DEAL_KINDS, CrmVariant
from sandbox.world.volumes import Volumes

Event = tuple[int, str, Plan, Any]
EVENT_HOUR = 6
"""Records of a day appear at 06:00 UTC, usage rows of the day before at 02:00: before the 09:00 cycle."""
OWNERS = [("Aiko", "Tanaka", True), ("Ben", "Okafor", True), ("Chiara", "Rossi", True), ("Dan", "Moreau", True)]


def events(plan: Plan) -> Iterator[Event]:
    """The plan's changes to the CRM, as (day, what, plan, detail)."""
    first = min([c.start - 5 for c in plan.contracts] + [d.close - 21 for d in plan.deals] + [-HISTORY])
    yield (first - 30, "account", plan, None)
    for c in plan.contracts:
        yield (c.start - 5, "contract", plan, c)
    for d in plan.deals:
        yield (d.close, "deal", plan, d)
    if plan.seats_bought is not None:
        yield (plan.seats_bought[0], "seats", plan, plan.seats_bought[1])
    if plan.escalation is not None:
        yield (plan.escalation[0], "case_open", plan, None)
        yield (plan.escalation[1], "case_close", plan, None)


class TimelineWorld:
    """A :class:`World` in one CRM, moved day by day through :meth:`advance`."""

    def __init__(
        self, plans: list[Plan], *, crm: str, start: date, variant: CrmVariant, responder: Responder | None = None
    ) -> None:
        self.plans = plans
        self.responder = responder  # the world's answer to upsync's tasks (None: it does not answer)
        self.answered = 0  # the next day the responder has not yet seen
        self.opportunities: dict[tuple[int, str, int], str] = {}  # a window's answer → its deal's id
        self.crm = crm
        self.start = start
        self.variant = variant
        clock = Clock(self.at(0, 0))
        stubs = [Account(p.n) for p in plans]
        self.cases: dict[int, str] = {}
        self.seats: dict[int, int] = {p.n: p.seats for p in plans}
        if crm == "salesforce":
            sf = SalesforceProjection(clock, variant)
            sf.start(OWNERS, stubs)
            self.sf_users, self.sf_products = sf.users, dict(zip(_names(), sf.products, strict=False))
            self.sf_counters = sf.counters
            for name, code, family, _ in EXTRA_PRODUCTS:
                pid = sf.next_id("01t")
                stamp = sf_time(self.at(-800, 9))
                sf.tables["Product2"][pid] = {
                    **next(iter(sf.tables["Product2"].values())),
                    "Id": pid,
                    "Name": name,
                    "ProductCode": code,
                    "Family": family,
                    "CreatedDate": stamp,
                    "LastModifiedDate": stamp,
                    "SystemModstamp": stamp,
                }
                self.sf_products[name] = pid
            sf_store, hs_store = sf.finish(), HubSpotStore(next_id=HS_RUNTIME_IDS)
        else:
            hs = HubSpotProjection(clock, variant)
            hs.start(OWNERS)
            self.hs = hs
            self.hs_products = dict(zip(_names(), hs.products, strict=False))
            for name, code, family, price in EXTRA_PRODUCTS:
                pid = hs.next_id("products")
                stamp = hs_time(self.at(-800, 9))
                hs.tables["products"][pid] = hs.obj(
                    pid,
                    {"hs_object_id": pid, "name": name, "hs_sku": code, "product_family": family, "price": str(price)}
                    | {"createdate": stamp, "hs_lastmodifieddate": stamp},
                    stamp,
                    stamp,
                )
                self.hs_products[name] = pid
            hs_store, sf_store = hs.finish(), SalesforceStore()
        keys = [AccountKey(sf_id("001", p.n + 1), str(HS_BASE["companies"] + p.n + 1), _ws(p)) for p in plans]
        self.world = World(
            seed=0,
            anchor=self.at(0, 9),
            salesforce=sf_store,
            hubspot=hs_store,
            usage=UsageStore(rows=[]),
            volumes=Volumes(accounts=len(plans), systems=(crm,)),
            stories={},
            account_keys=keys,
            crm_variant=variant,
        )
        self.queue = sorted((e for p in plans for e in events(p)), key=lambda e: (e[0], e[2].n))
        self.done = 0
        self.usage_day = -HISTORY  # the next usage day to publish
        self._publish(until=-1, stamp_day=None)

    def at(self, day: int, hour: int) -> datetime:
        return datetime.combine(self.start + timedelta(days=day), dtime(hour), tzinfo=timezone.utc)

    def advance(self, day: int) -> None:
        """Bring the stores to the morning of ``day``: its events and the usage rows of the day before
        are in, and the stand-ins' clock reads ``day`` 09:00 (everything upsync wrote stays)."""
        self._publish(until=day - 1, stamp_day=day)
        if self.responder is not None:
            self._respond(day)
        self.world.anchor = self.at(day, 9)
        self.world.started = time.monotonic()

    def _publish(self, *, until: int, stamp_day: int | None) -> None:
        with self.world.salesforce.lock, self.world.hubspot.lock:
            while self.done < len(self.queue) and self.queue[self.done][0] <= until + 1:
                day, what, plan, detail = self.queue[self.done]
                self.done += 1
                stamp = self.at(day if stamp_day is None else stamp_day, EVENT_HOUR)
                if self.crm == "salesforce":
                    self._salesforce(what, plan, detail, sf_time(stamp), day)
                else:
                    self._hubspot(what, plan, detail, hs_time(stamp), day)
        rows = self.world.usage.rows
        with self.world.usage.lock:
            for day in range(self.usage_day, until + 1):
                updated = self.at(day + 1, 2).strftime("%Y-%m-%dT%H:%M:%SZ")
                for p in self.plans:
                    u = p.usage(day)
                    if u is not None:
                        rows.append(_row(p, self.start + timedelta(days=day), u, updated))
            self.usage_day = max(self.usage_day, until + 1)

    def _respond(self, day: int) -> None:
        """The mornings up to ``day``: deals the responder closes, then the ones it opens (06:00)."""
        assert self.responder is not None
        with self.world.salesforce.lock, self.world.hubspot.lock:
            tasks = upsync_tasks(self)
            for d in range(max(self.answered, 0), day + 1):
                closes, opens = self.responder.step(d, tasks)
                stamp = self.at(d, EVENT_HOUR)
                for o in closes:
                    close_deal(self, o, stamp)
                for o in opens:
                    open_deal(self, o, stamp)
        self.answered = max(self.answered, day + 1)

    def day_text(self, day: int) -> str:
        return (self.start + timedelta(days=day)).isoformat()

    # -- Salesforce -------------------------------------------------------------------------

    def _salesforce(self, what: str, p: Plan, detail: Any, stamp: str, day: int) -> None:
        store = self.world.salesforce
        acc_id = sf_id("001", p.n + 1)
        owner = self.sf_users[p.n % len(OWNERS)]
        base = {"OwnerId": owner, "CreatedById": owner, "LastModifiedById": owner, "IsDeleted": False}
        stamps = {"CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
        names = self.variant.sf_fields
        if what == "account":
            store.table("Account")[acc_id] = {
                "Id": acc_id,
                "Name": display_name(p),
                "ParentId": None,
                "Website": f"https://www.{_domain(p)}",
                "Industry": "Technology",
                "NumberOfEmployees": p.seats * 4,
                "Type": "Customer - Direct",
                names["workspace_id"]: _ws(p),
                names["seats_purchased"]: p.seats,
                names["health_rollup"]: 70.0,
                names["do_not_contact"]: p.do_not_contact,
                names["nps"]: p.nps,
                names["csat"]: 85.0,
                "MRR_Rollup__c": float(p.seats * 45),
                "Tier__c": "Mid-Market",
                **base,
                **stamps,
            }
        elif what == "seats":
            row = store.table("Account")[acc_id]
            row[names["seats_purchased"]] = detail
            row["LastModifiedDate"] = row["SystemModstamp"] = stamp
        elif what == "contract":
            c: Contract = detail
            cid = self.sf_next("800")
            store.table("Contract")[cid] = {
                "Id": cid,
                "AccountId": acc_id,
                "Status": "Activated",
                "StatusCode": "Activated",
                "StartDate": self.day_text(c.start),
                "EndDate": self.day_text(c.end),
                "ContractTerm": max(1, round((c.end - c.start) / 30.4)),
                **base,
                **stamps,
            }
        elif what == "deal":
            d: Deal = detail
            oid = self.sf_next("006")
            created = sf_time(self.at(day - 21, 10))
            store.table("Opportunity")[oid] = {
                "Id": oid,
                "AccountId": acc_id,
                "Name": f"{display_name(p)} - {d.product}",
                "Type": self.variant.sf_opportunity_types[DEAL_KINDS.index(d.kind)],
                "StageName": "Closed Won" if d.won else "Closed Lost",
                "IsClosed": True,
                "IsWon": d.won,
                "CloseDate": self.day_text(d.close),
                "Amount": float(d.amount),
                **base,
                **stamps,
                "CreatedDate": created,
            }
            if not d.won:
                return
            sf_won_line(self, store, oid, d.product, d.seats, d.amount, d.close, {**base, **stamps})
            if d.kind == "renewal":
                return
            aid = self.sf_next("02i")
            store.table("Asset")[aid] = {
                "Id": aid,
                "AccountId": acc_id,
                "Product2Id": self.sf_products[d.product],
                "Name": d.product,
                "Quantity": float(d.seats),
                "Status": "Installed",
                "PurchaseDate": self.day_text(d.close),
                "InstallDate": self.day_text(d.close),
                "UsageEndDate": None,
                **base,
                **stamps,
            }
        elif what == "case_open":
            case_id = self.sf_next("500")
            self.cases[p.n] = case_id
            store.table("Case")[case_id] = {
                "Id": case_id,
                "AccountId": acc_id,
                "ContactId": None,
                "Subject": "Outage in the reporting module",
                "Status": "Escalated",
                "Priority": "High",
                "Origin": "Phone",
                "IsClosed": False,
                "IsEscalated": True,
                "ClosedDate": None,
                **base,
                **stamps,
            }
        elif what == "case_close":
            row = store.table("Case")[self.cases[p.n]]
            row.update({"Status": "Closed", "IsClosed": True, "ClosedDate": stamp})
            row["LastModifiedDate"] = row["SystemModstamp"] = stamp

    def sf_next(self, prefix: str) -> str:
        store = self.world.salesforce
        n = max(self.sf_counters.get(prefix, 0), store.counters.get(prefix, 0)) + 1
        self.sf_counters[prefix] = store.counters[prefix] = n
        return sf_id(prefix, n)

    # -- HubSpot ----------------------------------------------------------------------------

    def _hs_term(self, p: Plan, c: Contract, company: str, owner: str, stamp: str, day: int) -> None:
        """A contract as HubSpot keeps it: a won deal whose recurring line item carries the term
        (``hs_recurring_billing_start_date`` / ``_end_date``); no amount, so the revenue is unchanged."""
        hs, store = self.hs, self.world.hubspot
        did, lid = hs.next_id("deals"), hs.next_id("line_items")
        props = {
            "hs_object_id": did,
            "dealname": f"{display_name(p)} - {c.product} subscription",
            "dealtype": self.variant.hs_deal_types[DEAL_KINDS.index("renewal")],
            "dealstage": HS_STAGE["Closed Won"],
            "pipeline": "default",
            "closedate": hs_time(self.at(day, 12)),
            "amount": "0",
            "hs_is_closed": "true",
            "hs_is_closed_won": "true",
            "hubspot_owner_id": owner,
            "createdate": stamp,
            "hs_lastmodifieddate": stamp,
        }
        store.table("deals")[did] = hs.obj(did, props, stamp, stamp)
        store.associations[("deals", did, "companies")] = [(company, 5)]
        line = {
            "hs_object_id": lid,
            "name": c.product,
            "hs_product_id": self.hs_products[c.product],
            "quantity": "1",
            "price": "0",
            "amount": "0",
            "hs_recurring_billing_start_date": self.day_text(c.start),
            "hs_recurring_billing_end_date": self.day_text(c.end),
            "createdate": stamp,
            "hs_lastmodifieddate": stamp,
        }
        store.table("line_items")[lid] = hs.obj(lid, line, stamp, stamp)
        store.associations[("line_items", lid, "deals")] = [(did, 20)]

    def _hubspot(self, what: str, p: Plan, detail: Any, stamp: str, day: int) -> None:
        hs = self.hs
        store = self.world.hubspot
        company = str(HS_BASE["companies"] + p.n + 1)
        owner = hs.owners[p.n % len(OWNERS)]
        names = self.variant.hs_properties
        if what == "account":
            props = {
                "hs_object_id": company,
                "name": display_name(p),
                "domain": _domain(p),
                "hubspot_owner_id": owner,
                "industry": "COMPUTER_SOFTWARE",
                "numberofemployees": str(p.seats * 4),
                "lifecyclestage": "customer",
                names["workspace_id"]: _ws(p),
                names["seats_purchased"]: str(p.seats),
                names["contract_end"]: "",
                names["health_rollup"]: "70.0",
                names["do_not_contact"]: "true" if p.do_not_contact else "false",
                names["nps"]: str(p.nps),
                names["csat"]: "85.0",
                "mrr_rollup": str(float(p.seats * 45)),
                "tier": "Mid-Market",
                "createdate": stamp,
                "hs_lastmodifieddate": stamp,
            }
            store.table("companies")[company] = hs.obj(company, props, stamp, stamp)
            return
        if what in ("seats", "contract"):
            obj = store.table("companies")[company]
            if what == "seats":
                obj["properties"][names["seats_purchased"]] = str(detail)
            else:  # the portal keeps one renewal date: the main subscription's, the latest-ending contract
                ends = [c.end for c in p.contracts if c.start - 5 <= day]
                obj["properties"][names["contract_end"]] = self.day_text(max(ends))
                self._hs_term(p, detail, company, owner, stamp, day)
            obj["properties"]["hs_lastmodifieddate"] = obj["updatedAt"] = stamp
        elif what == "deal":
            d: Deal = detail
            did = hs.next_id("deals")
            created = hs_time(self.at(day - 21, 10))
            stage = "Closed Won" if d.won else "Closed Lost"
            props = {
                "hs_object_id": did,
                "dealname": f"{display_name(p)} - {d.product}",
                "dealtype": self.variant.hs_deal_types[DEAL_KINDS.index(d.kind)],
                "dealstage": HS_STAGE[stage],
                "pipeline": "default",
                "closedate": hs_time(self.at(d.close, 12)),
                "amount": str(d.amount),
                "hs_is_closed": "true",
                "hs_is_closed_won": "true" if d.won else "false",
                "hubspot_owner_id": owner,
                "createdate": created,
                "hs_lastmodifieddate": stamp,
            }
            store.table("deals")[did] = hs.obj(did, props, created, stamp)
            store.associations[("deals", did, "companies")] = [(company, 5)]
            if d.won:
                hs_won_line(self, store, did, d.product, d.seats, d.amount, stamp)
        elif what == "case_open":
            tid = hs.next_id("tickets")
            self.cases[p.n] = tid
            props = {
                "hs_object_id": tid,
                "subject": "Outage in the reporting module",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "3",
                "hs_ticket_priority": "URGENT",
                "hubspot_owner_id": owner,
                "createdate": stamp,
                "closed_date": "",
                "hs_lastmodifieddate": stamp,
            }
            store.table("tickets")[tid] = hs.obj(tid, props, stamp, stamp)
            store.associations[("tickets", tid, "companies")] = [(company, 26)]
        elif what == "case_close":
            obj = store.table("tickets")[self.cases[p.n]]
            obj["properties"].update({"hs_pipeline_stage": "4", "closed_date": stamp, "hs_lastmodifieddate": stamp})
            obj["updatedAt"] = stamp


def _names() -> list[str]:
    from sandbox.world.catalogue import PRODUCTS

    return [p.name for p in PRODUCTS]


def _ws(p: Plan) -> str:
    return f"ws-{p.n + 1:05d}"


def display_name(p: Plan) -> str:
    return f"Timeline Customer {p.n + 1:04d}"


def _domain(p: Plan) -> str:
    return f"timeline-{p.n + 1:04d}.example.com"


def _row(p: Plan, day: date, u: dict[str, float], stamp: str) -> dict[str, Any]:
    seats = u["seats_used"]
    return {
        "workspace_id": _ws(p),
        "date": day.isoformat(),
        "active_users": int(u["active_users"]),
        "weekly_active_users": int(u["weekly_active_users"]),
        "seats_used": int(seats),
        "seats_limit": int(u["seats_limit"]),
        "storage_used_gb": u["storage_used_gb"],
        "storage_limit_gb": u["storage_limit_gb"],
        "api_calls_used": int(u["api_calls_used"]),
        "api_calls_limit": int(u["api_calls_limit"]),
        "integrations": 2,
        "premium_feature_views": 0,
        "trials_started": int(u["trials_started"]),
        "pricing_page_views": 0,
        "feature_events": {"documents": int(seats * 3), "comments": int(seats * 2), "reports": int(seats // 2)},
        "users_by_department": {"Operations": int(u["active_users"])},
        "updated_at": stamp,
    }
