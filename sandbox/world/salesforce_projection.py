"""Canonical records projected into Salesforce REST records."""

from __future__ import annotations

from sandbox.world.catalogue import PRODUCTS, mrr_of, tier_of
from sandbox.world.clock import DAY, Clock
from sandbox.world.formats import sf_id
from sandbox.world.records import Account, Bundle, owner_email
from sandbox.world.stores import SalesforceStore
from sandbox.world.variant import SF_DEAL_KIND_FIELD, CrmVariant
from sandbox.world.vocabulary import INDUSTRIES


def _account_type(a: Account) -> str:
    """The standard Account Type picklist: a former customer is "Other" (no standard value says churned)."""
    if not a.customer:
        return "Prospect"
    if not a.paying:
        return "Other"
    return "Customer - Channel" if a.n % 10 == 3 else "Customer - Direct"


class SalesforceProjection:
    """Canonical records → Salesforce REST records (``SalesforceStore.objects``)."""

    def __init__(self, clock: Clock, variant: CrmVariant | None = None) -> None:
        self.clock = clock
        self.variant = variant or CrmVariant()
        self.store = SalesforceStore()
        # the org's own names for the custom Account fields and its Opportunity Type values
        renames = self.variant.sf_renames()
        self.store.field_renames = {("Account", old): new for old, new in renames.items()}
        self.kind_field = self.variant.sf_deal_kind_field
        if self.kind_field is not None and self.kind_field != SF_DEAL_KIND_FIELD:
            self.store.field_renames[("Opportunity", SF_DEAL_KIND_FIELD)] = self.kind_field
        if self.variant.sf_picklist != CrmVariant().sf_picklist:
            self.store.picklists[("Opportunity", "Type")] = self.variant.sf_picklist
        self.renames = renames
        self.store.multi_currency = self.variant.sf_multi_currency
        self.users: list[str] = []
        self.counters: dict[str, int] = {}
        self.products: list[str] = []
        self.account_ids: list[str] = []
        self.tables = {
            name: self.store.table(name)
            for name in (
                "User",
                "Account",
                "Contract",
                "Opportunity",
                "Product2",
                "OpportunityLineItem",
                "Asset",
                "Contact",
                "Task",
                "Event",
                "Case",
            )
        }

    def next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return sf_id(prefix, n)

    def start(self, owners: list[tuple[str, str, bool]], accounts: list[Account]) -> None:
        clock = self.clock
        users = self.tables["User"]
        for i, (first, last, active) in enumerate(owners):
            uid = self.next_id("005")
            users[uid] = {
                "Id": uid,
                "Name": f"{first} {last}",
                "FirstName": first,
                "LastName": last,
                "Email": owner_email(first, last, i),
                "IsActive": active,
                "SystemModstamp": clock.sf(clock.at(max(30, 400 - i), 540)),
            }
            self.users.append(uid)
        # The API user that the sandbox token belongs to: CreatedById/LastModifiedById of upsync's writes.
        integration = self.next_id("005")
        users[integration] = {
            "Id": integration,
            "Name": "Upsync Integration",
            "FirstName": "Upsync",
            "LastName": "Integration",
            "Email": "upsync-integration@example.com",
            "IsActive": True,
            "SystemModstamp": clock.sf(clock.at(500, 540)),
        }
        self.store.integration_user_id = integration
        products = self.tables["Product2"]
        for k, p in enumerate(PRODUCTS):
            pid = self.next_id("01t")
            stamp = clock.sf(clock.at(900 - k, 540))
            admin = self.users[0]
            products[pid] = {
                "Id": pid,
                "Name": p.name,
                "ProductCode": p.code,
                "Family": p.family,
                "IsActive": True,
                "CreatedDate": stamp,
                "CreatedById": admin,
                "LastModifiedDate": stamp,
                "LastModifiedById": admin,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
            self.products.append(pid)
        self.counters["001"] = 0
        self.account_ids = [sf_id("001", a.n + 1) for a in accounts]

    def account(self, a: Account, b: Bundle) -> None:
        sf = self.clock.sf
        day = self.clock.day
        owner = self.users[a.owner]
        acc_id = self.account_ids[a.n]
        self.counters["001"] = a.n + 1
        created, modified = sf(a.created), sf(a.modified)
        industry = INDUSTRIES[a.industry][0]
        account = {
            "Id": acc_id,
            "Name": a.name,
            "OwnerId": owner,
            "ParentId": self.account_ids[a.parent] if a.parent is not None else None,
            "Website": f"https://www.{a.domain}",
            "Industry": industry,
            "NumberOfEmployees": a.employees,
            "Type": _account_type(a),
            "Workspace_Id__c": a.workspace,
            "Seats_Purchased__c": a.seats if a.paying else 0,
            "Health_Rollup__c": a.health,
            "Do_Not_Contact__c": "do_not_contact" in a.overlays,
            "NPS__c": a.nps,
            "CSAT__c": a.csat,
            "MRR_Rollup__c": mrr_of(a.tier, a.seats, a.paying),
            "Tier__c": tier_of(a.tier),
            "CreatedDate": created,
            "CreatedById": owner,
            "LastModifiedDate": modified,
            "LastModifiedById": owner,
            "SystemModstamp": modified,
            "IsDeleted": False,
        }
        if self.renames:
            account = {self.renames.get(name, name): value for name, value in account.items()}
        self.tables["Account"][acc_id] = account
        contracts = self.tables["Contract"]
        for c in b.contracts:
            cid = self.next_id("800")
            c_created, c_modified = sf(c.created), sf(c.modified)
            contracts[cid] = {
                "Id": cid,
                "AccountId": acc_id,
                "Status": c.status,
                "StatusCode": "InApproval" if c.status == "In Approval Process" else c.status,
                "StartDate": day(c.start),
                "EndDate": day(c.end),
                "ContractTerm": c.term,
                "OwnerId": owner,
                "CreatedDate": c_created,
                "CreatedById": owner,
                "LastModifiedDate": c_modified,
                "LastModifiedById": owner,
                "SystemModstamp": c_modified,
                "IsDeleted": False,
            }
        opportunities = self.tables["Opportunity"]
        deal_ids: list[str] = []
        for d in b.deals:
            oid = self.next_id("006")
            deal_ids.append(oid)
            d_created, d_modified = sf(d.created), sf(d.modified)
            opportunities[oid] = {
                "Id": oid,
                "AccountId": acc_id,
                "Name": d.name,
                "Type": self.variant.sf_opportunity_types[d.kind],
                self.kind_field or SF_DEAL_KIND_FIELD: self.variant.deal_kind_value("salesforce", d.kind),
                "StageName": d.stage,
                "IsClosed": d.stage.startswith("Closed"),
                "IsWon": d.stage == "Closed Won",
                "CloseDate": day(d.close),
                "Amount": float(d.amount),
                **({"CurrencyIsoCode": "USD"} if self.variant.sf_multi_currency else {}),
                "OwnerId": owner,
                "CreatedDate": d_created,
                "CreatedById": owner,
                "LastModifiedDate": d_modified,
                "LastModifiedById": owner,
                "SystemModstamp": d_modified,
                "IsDeleted": False,
            }
        lines = self.tables["OpportunityLineItem"]
        for li in b.lines:
            lid = self.next_id("00k")
            stamp = sf(li.modified)
            lines[lid] = {
                "Id": lid,
                "OpportunityId": deal_ids[li.deal],
                "Product2Id": self.products[li.product],
                "Quantity": float(li.quantity),
                "UnitPrice": float(li.unit_price),
                "TotalPrice": float(li.unit_price * li.quantity),
                "ServiceDate": day(li.service),
                "CreatedDate": sf(li.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        assets = self.tables["Asset"]
        for s in b.assets:
            aid = self.next_id("02i")
            stamp = sf(s.modified)
            assets[aid] = {
                "Id": aid,
                "AccountId": acc_id,
                "Product2Id": self.products[s.product],
                "Name": PRODUCTS[s.product].name,
                "Quantity": float(s.quantity),
                "Status": s.status,
                "PurchaseDate": day(s.purchased),
                "InstallDate": day(s.installed) if s.installed is not None else None,
                "UsageEndDate": day(s.usage_end) if s.usage_end is not None else None,
                "OwnerId": owner,
                "CreatedDate": sf(s.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        contacts = self.tables["Contact"]
        contact_ids: list[str] = []
        for p in b.contacts:
            pid = self.next_id("003")
            contact_ids.append(pid)
            stamp = sf(p.modified)
            contacts[pid] = {
                "Id": pid,
                "AccountId": acc_id,
                "FirstName": p.first,
                "LastName": p.last,
                "Email": p.email,
                "Title": p.title,
                "Department": p.department,
                "OwnerId": owner,
                "CreatedDate": sf(p.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        tasks, events = self.tables["Task"], self.tables["Event"]
        for act in b.activities:
            what = deal_ids[act.deal] if act.deal >= 0 else acc_id
            who = contact_ids[act.contact] if act.contact >= 0 else None
            stamp = sf(act.modified)
            if act.kind == "meeting":
                eid = self.next_id("00U")
                events[eid] = {
                    "Id": eid,
                    "Subject": act.subject,
                    "ActivityDate": day(act.when // DAY),
                    "ActivityDateTime": sf(act.when),
                    "DurationInMinutes": act.duration,
                    "OwnerId": owner,
                    "WhatId": what,
                    "WhoId": who,
                    "AccountId": acc_id,
                    "CreatedDate": sf(act.created),
                    "CreatedById": owner,
                    "LastModifiedDate": stamp,
                    "LastModifiedById": owner,
                    "SystemModstamp": stamp,
                    "IsDeleted": False,
                }
                continue
            tid = self.next_id("00T")
            subtype = "Email" if act.kind == "email" else "Call" if act.kind == "call" else "Task"
            status = "Completed" if act.done else ("Not Started", "In Progress")[act.variant % 2]
            tasks[tid] = {
                "Id": tid,
                "Subject": f"Email: {act.subject}" if act.kind == "email" else act.subject,
                "ActivityDate": day(act.when // DAY),
                "Status": status,
                "Priority": act.priority,
                "TaskSubtype": subtype,
                "OwnerId": owner,
                "WhatId": what,
                "WhoId": who,
                "AccountId": acc_id,
                "IsClosed": act.done,
                "Upsync_Sync_Key__c": None,
                "CreatedDate": sf(act.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }
        cases = self.tables["Case"]
        for t in b.tickets:
            case_id = self.next_id("500")
            stamp = sf(t.modified)
            cases[case_id] = {
                "Id": case_id,
                "AccountId": acc_id,
                "ContactId": contact_ids[t.contact] if t.contact >= 0 else None,
                "Subject": t.subject,
                "Status": t.status,
                "Priority": t.priority,
                "Origin": t.origin,
                "IsClosed": t.status == "Closed",
                "IsEscalated": t.escalated,
                "ClosedDate": sf(t.closed) if t.closed is not None else None,
                "OwnerId": owner,
                "CreatedDate": sf(t.created),
                "CreatedById": owner,
                "LastModifiedDate": stamp,
                "LastModifiedById": owner,
                "SystemModstamp": stamp,
                "IsDeleted": False,
            }

    def finish(self) -> SalesforceStore:
        self.store.counters.update(self.counters)
        return self.store
