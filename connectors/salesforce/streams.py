"""Salesforce objects as declarations: the SOQL each reads and how a row becomes a record. Pure.

One small class per sObject: its canonical kind and its ``columns`` (canonical column ← API
field and coercion), from which both the fields it selects and the record's values derive. Rows
come from REST (JSON types) or Bulk API 2.0 (CSV strings); the coercions in ``connectors.columns``
accept both, so a record is the same whichever path read it. Every stream reads ``queryAll``
ascending on (SystemModstamp, Id) so soft deletes arrive too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from connectors.columns import (
    Column,
    boolean,
    column,
    day,
    domain,
    fixed,
    instant,
    integer,
    number,
    owned_column,
    parse_utc,
    selected,
    text,
    values_of,
)
from connectors.extra_fields import CrmType, extra_column
from core.cursor import EPOCH
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
    """One sObject read incrementally into one canonical kind. Its mapping is ``columns``, plus
    ``configured()`` for the columns whose field the config names."""

    lookback: timedelta = timedelta(seconds=600)

    config_name: ClassVar[str]  # its name in ``[salesforce] objects`` and in the stream name
    sobject: ClassVar[str]
    kind: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    soft_deletes: ClassVar[bool] = True
    """Whether the sObject has ``IsDeleted`` (deleted rows come through ``queryAll``)."""

    @property
    def name(self) -> str:
        return f"salesforce.{self.config_name}"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(field="SystemModstamp", tie_breaker="Id", lookback=self.lookback, initial_value=EPOCH)

    def configured(self) -> tuple[Column, ...]:
        """The columns whose field the config names (none unless the stream says so)."""
        return ()

    @property
    def fields(self) -> tuple[str, ...]:
        deleted = ("IsDeleted",) if self.soft_deletes else ()
        return ("Id", *selected((*self.columns, *self.configured())), "SystemModstamp", *deleted)

    def soql(self, window: Window | None) -> Soql:
        """The rows of ``window`` in cursor order, or every row (``None``: a small object read whole)."""
        params = {"fields": ", ".join(self.fields), "sobject": self.sobject}
        if window is None:
            return Soql(WHOLE_SOQL, params)
        return Soql(WINDOW_SOQL, {**params, "start": window.start, "end": window.end})

    def to_record(self, raw: Mapping[str, Any]) -> Record:
        return Record(
            kind=self.kind,
            system="salesforce",
            key=str(raw["Id"]),
            cursor_value=parse_utc(raw["SystemModstamp"]),
            deleted=bool(boolean(raw.get("IsDeleted"))),
            values=values_of((*self.columns, *self.configured()), raw),
            object_type=self.sobject,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Users(SObjectStream):
    """Users: who is active, for task routing. User has no IsDeleted: users are deactivated."""

    config_name = "users"
    sobject = "User"
    kind = "owners"
    soft_deletes = False
    columns = (column("name", "Name"), column("email", "Email"), column("active", "IsActive", boolean))


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
    extra: tuple[tuple[str, CrmType], ...] = ()
    """The admin's extra fields, (API name, type) as describe reports them (``crm_fields``)."""

    config_name = "accounts"
    sobject = "Account"
    kind = "accounts"
    columns = (
        column("name", "Name"),
        column("owner_id", "OwnerId"),
        column("parent_id", "ParentId"),
        column("domain", "Website", domain),
        column("industry", "Industry"),
        column("employees", "NumberOfEmployees", integer),
        column("account_type", "Type"),
        column("created_at", "CreatedDate", instant),
        column("last_modified_by", "LastModifiedById"),
    )

    def configured(self) -> tuple[Column, ...]:
        return (
            column("workspace_id", self.workspace_field),
            column("seats_purchased", self.seats_field, integer),
            column("health_rollup", self.health_field, number),
            column("do_not_contact", self.do_not_contact_field, boolean),
            column("nps", self.nps_field, number),
            column("csat", self.csat_field, number),
            owned_column(self.owned_fields),
            extra_column(self.extra),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Contracts(SObjectStream):
    config_name = "contracts"
    sobject = "Contract"
    kind = "contracts"
    columns = (
        column("account_id", "AccountId"),
        Column("status", ("Status", "StatusCode"), lambda raw: text(raw.get("StatusCode")) or text(raw.get("Status"))),
        column("start_date", "StartDate", day),
        column("end_date", "EndDate", day),
        column("term_months", "ContractTerm", integer),
        column("created_at", "CreatedDate", instant),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Opportunities(SObjectStream):
    """Opportunities, with the org's own field naming a deal's kind if it keeps one (G3), and
    ``CurrencyIsoCode`` where the org has multi-currency on (the field exists only then: the
    connector asks describe before it names it)."""

    deal_kind_field: str | None = None
    currency_field: str | None = None

    config_name = "opportunities"
    sobject = "Opportunity"
    kind = "opportunities"
    columns = (
        column("account_id", "AccountId"),
        column("name", "Name"),
        column("opp_type", "Type"),
        column("stage", "StageName"),
        column("is_closed", "IsClosed", boolean),
        column("is_won", "IsWon", boolean),
        column("close_date", "CloseDate", day),
        column("amount", "Amount", number),
        column("owner_id", "OwnerId"),
        column("created_at", "CreatedDate", instant),
    )

    def configured(self) -> tuple[Column, ...]:
        return (column("deal_kind", self.deal_kind_field), column("currency", self.currency_field))


@dataclass(frozen=True, slots=True, kw_only=True)
class Products(SObjectStream):
    config_name = "products"
    sobject = "Product2"
    kind = "products"
    columns = (
        column("name", "Name"),
        column("code", "ProductCode"),
        column("family", "Family"),
        column("active", "IsActive", boolean),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LineItems(SObjectStream):
    config_name = "line_items"
    sobject = "OpportunityLineItem"
    kind = "line_items"
    columns = (
        column("opportunity_id", "OpportunityId"),
        column("product_id", "Product2Id"),
        column("quantity", "Quantity", number),
        column("unit_price", "UnitPrice", number),
        column("total_price", "TotalPrice", number),
        column("service_date", "ServiceDate", day),
        column("created_at", "CreatedDate", instant),
        fixed("term_start", None),  # Salesforce keeps terms on Contracts
        fixed("term_end", None),
        fixed("mrr", None),  # no monthly amount or frequency of its own: the derivation uses TotalPrice
        fixed("billing_frequency", None),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Assets(SObjectStream):
    config_name = "assets"
    sobject = "Asset"
    kind = "assets"
    columns = (
        column("account_id", "AccountId"),
        column("product_id", "Product2Id"),
        column("name", "Name"),
        column("quantity", "Quantity", number),
        column("status", "Status"),
        column("purchase_date", "PurchaseDate", day),
        column("install_date", "InstallDate", day),
        column("usage_end_date", "UsageEndDate", day),
        column("created_at", "CreatedDate", instant),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Contacts(SObjectStream):
    config_name = "contacts"
    sobject = "Contact"
    kind = "contacts"
    columns = (
        column("account_id", "AccountId"),
        column("first_name", "FirstName"),
        column("last_name", "LastName"),
        column("email", "Email"),
        column("title", "Title"),
        column("department", "Department"),
        column("created_at", "CreatedDate", instant),
    )


def _contact(who_id: Any) -> str | None:
    """WhoId may be a Contact (003…) or a Lead (00Q…): only contacts belong to accounts."""
    who = text(who_id)
    return who if who and who.startswith("003") else None


def _midnight(value: Any) -> datetime | None:
    """An activity date (no time of day) as the start of that day, UTC."""
    on = day(value)
    return datetime(on.year, on.month, on.day, tzinfo=timezone.utc) if on else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tasks(SObjectStream):
    """Tasks, upsync's own among them (they carry the sync-key field): outcomes are read back."""

    sync_key_field: str = "Upsync_Sync_Key__c"

    config_name = "tasks"
    sobject = "Task"
    kind = "activities"
    columns = (
        column("account_id", "AccountId"),
        column("contact_id", "WhoId", _contact),
        column("subject", "Subject"),
        column("status", "Status"),
        column("is_closed", "IsClosed", boolean),
        column("activity_at", "ActivityDate", _midnight),
        column("owner_id", "OwnerId"),
        column("activity_type", "TaskSubtype", lambda value: (text(value) or "Task").lower()),
        column("created_at", "CreatedDate", instant),
        column("created_by", "CreatedById"),
        column("last_modified_by", "LastModifiedById"),
    )

    def configured(self) -> tuple[Column, ...]:
        return (column("sync_key", self.sync_key_field),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Events(SObjectStream):
    config_name = "events"
    sobject = "Event"
    kind = "activities"
    columns = (
        column("account_id", "AccountId"),
        column("contact_id", "WhoId", _contact),
        column("subject", "Subject"),
        Column(
            "activity_at",
            ("ActivityDate", "ActivityDateTime"),
            lambda raw: instant(raw.get("ActivityDateTime")) or _midnight(raw.get("ActivityDate")),
        ),
        column("owner_id", "OwnerId"),
        column("created_at", "CreatedDate", instant),
        fixed("activity_type", "meeting"),
        fixed("status", None),
        fixed("is_closed", None),
        fixed("sync_key", None),
        fixed("created_by", None),
        fixed("last_modified_by", None),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Cases(SObjectStream):
    config_name = "cases"
    sobject = "Case"
    kind = "tickets"
    columns = (
        column("account_id", "AccountId"),
        column("contact_id", "ContactId"),
        column("status", "Status"),
        column("priority", "Priority"),
        column("is_closed", "IsClosed", boolean),
        column("is_escalated", "IsEscalated", boolean),
        column("created_at", "CreatedDate", instant),
        column("closed_at", "ClosedDate", instant),
    )


STREAM_TYPES: dict[str, type[SObjectStream]] = {
    cls.config_name: cls
    for cls in (Users, Accounts, Contracts, Opportunities, Products, LineItems, Assets, Contacts, Tasks, Events, Cases)
}
"""Config names of the Salesforce objects (``[salesforce] objects = [...]``), in read order."""
