"""Salesforce objects as declarations: the SOQL each reads and how a row becomes a record. Pure.

One small class per sObject: its canonical kind, the fields it selects and ``values`` (row →
canonical columns). Rows come from REST (JSON types) or Bulk API 2.0 (CSV strings); the
coercions in ``connectors.base`` accept both, so a record is the same whichever path read it.
Every stream reads ``queryAll`` ascending on (SystemModstamp, Id) so soft deletes arrive too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from connectors.base import boolean, day, domain_of, instant, integer, number, owned_values, parse_utc, text
from core.records import CursorSpec, Record, Window

__all__ = [
    "STREAM_TYPES",
    "Accounts",
    "Assets",
    "Cases",
    "Contacts",
    "Contracts",
    "Events",
    "LineItems",
    "Opportunities",
    "Products",
    "SObjectStream",
    "Soql",
    "Tasks",
    "Users",
]

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Soql:
    """A SOQL query: a template with ``{name}`` placeholders and their values. The client quotes
    the values when it sends the query (``connectors.salesforce.client.format_query``), so no
    value is ever pasted into SOQL by hand; object and field names go in as ``{name:literal}``."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)


WINDOW_SOQL = (
    "SELECT {fields:literal} FROM {sobject:literal} WHERE SystemModstamp >= {start} AND SystemModstamp < {end} "
    "ORDER BY SystemModstamp ASC, Id ASC"
)
WHOLE_SOQL = "SELECT {fields:literal} FROM {sobject:literal} ORDER BY Id ASC"


@dataclass(frozen=True, slots=True, kw_only=True)
class SObjectStream:
    """One sObject read incrementally into one canonical kind."""

    lookback: timedelta = timedelta(seconds=600)

    config_name: ClassVar[str]  # its name in ``[salesforce] objects`` and in the stream name
    sobject: ClassVar[str]
    kind: ClassVar[str]
    base_fields: ClassVar[tuple[str, ...]]

    @property
    def name(self) -> str:
        return f"salesforce.{self.config_name}"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(field="SystemModstamp", tie_breaker="Id", lookback=self.lookback, initial_value=EPOCH)

    @property
    def fields(self) -> tuple[str, ...]:
        return ("Id", *self.base_fields, "SystemModstamp", "IsDeleted")

    def soql(self, window: Window | None) -> Soql:
        """The rows of ``window`` in cursor order, or every row (``None``: a small object read whole)."""
        params = {"fields": ", ".join(self.fields), "sobject": self.sobject}
        if window is None:
            return Soql(WHOLE_SOQL, params)
        return Soql(WINDOW_SOQL, {**params, "start": window.start, "end": window.end})

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def to_record(self, raw: Mapping[str, Any]) -> Record:
        return Record(
            kind=self.kind,
            system="salesforce",
            key=str(raw["Id"]),
            cursor_value=parse_utc(raw["SystemModstamp"]),
            deleted=bool(boolean(raw.get("IsDeleted"))),
            values=self.values(raw),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Users(SObjectStream):
    """Users: who is active, for task routing. User has no IsDeleted: users are deactivated."""

    config_name = "users"
    sobject = "User"
    kind = "owners"
    base_fields = ("Name", "Email", "IsActive")

    @property
    def fields(self) -> tuple[str, ...]:
        return ("Id", *self.base_fields, "SystemModstamp")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": text(raw.get("Name")), "email": text(raw.get("Email")), "active": boolean(raw.get("IsActive"))}


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounts(SObjectStream):
    """Accounts, with the configured workspace-id, purchased-seats, health, do-not-contact, NPS and CSAT fields,
    and upsync's own fields (``owned_fields``: canonical name → API name) so write-back can diff
    them with what the CRM holds and see who changed the account last, without another call."""

    workspace_field: str = "Workspace_Id__c"
    seats_field: str | None = "Seats_Purchased__c"
    health_field: str | None = "Health_Rollup__c"
    do_not_contact_field: str | None = None
    nps_field: str | None = None
    csat_field: str | None = None
    owned_fields: tuple[tuple[str, str], ...] = ()

    config_name = "accounts"
    sobject = "Account"
    kind = "accounts"
    base_fields = ("Name", "OwnerId", "ParentId", "Website", "Industry", "NumberOfEmployees", "Type", "CreatedDate")

    @property
    def fields(self) -> tuple[str, ...]:
        extra = tuple(
            f
            for f in (
                self.workspace_field,
                self.seats_field,
                self.health_field,
                self.do_not_contact_field,
                self.nps_field,
                self.csat_field,
            )
            if f
        )
        owned = tuple(api for _, api in self.owned_fields if api not in extra)
        return ("Id", *self.base_fields, "LastModifiedById", *extra, *owned, "SystemModstamp", "IsDeleted")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": text(raw.get("Name")),
            "owner_id": text(raw.get("OwnerId")),
            "parent_id": text(raw.get("ParentId")),
            "domain": domain_of(text(raw.get("Website"))),
            "workspace_id": text(raw.get(self.workspace_field)),
            "industry": text(raw.get("Industry")),
            "employees": integer(raw.get("NumberOfEmployees")),
            "account_type": text(raw.get("Type")),
            "seats_purchased": integer(raw.get(self.seats_field)) if self.seats_field else None,
            "health_rollup": number(raw.get(self.health_field)) if self.health_field else None,
            "do_not_contact": boolean(raw.get(self.do_not_contact_field)) if self.do_not_contact_field else None,
            "nps": number(raw.get(self.nps_field)) if self.nps_field else None,
            "csat": number(raw.get(self.csat_field)) if self.csat_field else None,
            "created_at": instant(raw.get("CreatedDate")),
            "upsync_fields": owned_values(self.owned_fields, raw),
            "last_modified_by": text(raw.get("LastModifiedById")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Contracts(SObjectStream):
    config_name = "contracts"
    sobject = "Contract"
    kind = "contracts"
    base_fields = ("AccountId", "Status", "StatusCode", "StartDate", "EndDate", "ContractTerm", "CreatedDate")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "account_id": text(raw.get("AccountId")),
            "status": text(raw.get("StatusCode")) or text(raw.get("Status")),
            "start_date": day(raw.get("StartDate")),
            "end_date": day(raw.get("EndDate")),
            "term_months": integer(raw.get("ContractTerm")),
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Opportunities(SObjectStream):
    config_name = "opportunities"
    sobject = "Opportunity"
    kind = "opportunities"
    base_fields = (
        "AccountId",
        "Name",
        "Type",
        "StageName",
        "IsClosed",
        "IsWon",
        "CloseDate",
        "Amount",
        "OwnerId",
        "CreatedDate",
    )

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "account_id": text(raw.get("AccountId")),
            "name": text(raw.get("Name")),
            "opp_type": text(raw.get("Type")),
            "stage": text(raw.get("StageName")),
            "is_closed": boolean(raw.get("IsClosed")),
            "is_won": boolean(raw.get("IsWon")),
            "close_date": day(raw.get("CloseDate")),
            "amount": number(raw.get("Amount")),
            "owner_id": text(raw.get("OwnerId")),
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Products(SObjectStream):
    config_name = "products"
    sobject = "Product2"
    kind = "products"
    base_fields = ("Name", "ProductCode", "Family", "IsActive")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": text(raw.get("Name")),
            "code": text(raw.get("ProductCode")),
            "family": text(raw.get("Family")),
            "active": boolean(raw.get("IsActive")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LineItems(SObjectStream):
    config_name = "line_items"
    sobject = "OpportunityLineItem"
    kind = "line_items"
    base_fields = ("OpportunityId", "Product2Id", "Quantity", "UnitPrice", "TotalPrice", "ServiceDate", "CreatedDate")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "opportunity_id": text(raw.get("OpportunityId")),
            "product_id": text(raw.get("Product2Id")),
            "quantity": number(raw.get("Quantity")),
            "unit_price": number(raw.get("UnitPrice")),
            "total_price": number(raw.get("TotalPrice")),
            "service_date": day(raw.get("ServiceDate")),
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Assets(SObjectStream):
    config_name = "assets"
    sobject = "Asset"
    kind = "assets"
    base_fields = (
        "AccountId",
        "Product2Id",
        "Name",
        "Quantity",
        "Status",
        "PurchaseDate",
        "InstallDate",
        "UsageEndDate",
        "CreatedDate",
    )

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "account_id": text(raw.get("AccountId")),
            "product_id": text(raw.get("Product2Id")),
            "name": text(raw.get("Name")),
            "quantity": number(raw.get("Quantity")),
            "status": text(raw.get("Status")),
            "purchase_date": day(raw.get("PurchaseDate")),
            "install_date": day(raw.get("InstallDate")),
            "usage_end_date": day(raw.get("UsageEndDate")),
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Contacts(SObjectStream):
    config_name = "contacts"
    sobject = "Contact"
    kind = "contacts"
    base_fields = ("AccountId", "FirstName", "LastName", "Email", "Title", "Department", "CreatedDate")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "account_id": text(raw.get("AccountId")),
            "first_name": text(raw.get("FirstName")),
            "last_name": text(raw.get("LastName")),
            "email": text(raw.get("Email")),
            "title": text(raw.get("Title")),
            "department": text(raw.get("Department")),
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Tasks(SObjectStream):
    """Tasks, upsync's own among them (they carry the sync-key field): outcomes are read back."""

    sync_key_field: str = "Upsync_Sync_Key__c"

    config_name = "tasks"
    sobject = "Task"
    kind = "activities"
    base_fields = (
        "AccountId",
        "WhatId",
        "WhoId",
        "Subject",
        "Status",
        "IsClosed",
        "ActivityDate",
        "OwnerId",
        "TaskSubtype",
        "CreatedDate",
        "CreatedById",
        "LastModifiedById",
    )

    @property
    def fields(self) -> tuple[str, ...]:
        return ("Id", *self.base_fields, self.sync_key_field, "SystemModstamp", "IsDeleted")

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        due = day(raw.get("ActivityDate"))
        return {
            "account_id": text(raw.get("AccountId")),
            "contact_id": _contact(raw.get("WhoId")),
            "owner_id": text(raw.get("OwnerId")),
            "activity_type": (text(raw.get("TaskSubtype")) or "Task").lower(),
            "subject": text(raw.get("Subject")),
            "status": text(raw.get("Status")),
            "is_closed": boolean(raw.get("IsClosed")),
            "activity_at": datetime(due.year, due.month, due.day, tzinfo=timezone.utc) if due else None,
            "sync_key": text(raw.get(self.sync_key_field)),
            "created_by": text(raw.get("CreatedById")),
            "last_modified_by": text(raw.get("LastModifiedById")),
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Events(SObjectStream):
    config_name = "events"
    sobject = "Event"
    kind = "activities"
    base_fields = (
        "AccountId",
        "WhatId",
        "WhoId",
        "Subject",
        "ActivityDate",
        "ActivityDateTime",
        "DurationInMinutes",
        "OwnerId",
        "CreatedDate",
    )

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        when = instant(raw.get("ActivityDateTime"))
        if when is None:
            due = day(raw.get("ActivityDate"))
            when = datetime(due.year, due.month, due.day, tzinfo=timezone.utc) if due else None
        return {
            "account_id": text(raw.get("AccountId")),
            "contact_id": _contact(raw.get("WhoId")),
            "owner_id": text(raw.get("OwnerId")),
            "activity_type": "meeting",
            "subject": text(raw.get("Subject")),
            "status": None,
            "is_closed": None,
            "activity_at": when,
            "sync_key": None,
            "created_by": None,
            "last_modified_by": None,
            "created_at": instant(raw.get("CreatedDate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Cases(SObjectStream):
    config_name = "cases"
    sobject = "Case"
    kind = "tickets"
    base_fields = (
        "AccountId",
        "ContactId",
        "Status",
        "Priority",
        "IsClosed",
        "IsEscalated",
        "CreatedDate",
        "ClosedDate",
    )

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "account_id": text(raw.get("AccountId")),
            "contact_id": text(raw.get("ContactId")),
            "status": text(raw.get("Status")),
            "priority": text(raw.get("Priority")),
            "is_closed": boolean(raw.get("IsClosed")),
            "is_escalated": boolean(raw.get("IsEscalated")),
            "created_at": instant(raw.get("CreatedDate")),
            "closed_at": instant(raw.get("ClosedDate")),
        }


def _contact(who_id: Any) -> str | None:
    """WhoId may be a Contact (003…) or a Lead (00Q…): only contacts belong to accounts."""
    who = text(who_id)
    return who if who and who.startswith("003") else None


STREAM_TYPES: dict[str, type[SObjectStream]] = {
    cls.config_name: cls
    for cls in (Users, Accounts, Contracts, Opportunities, Products, LineItems, Assets, Contacts, Tasks, Events, Cases)
}
"""Config names of the Salesforce objects (``[salesforce] objects = [...]``), in read order."""
