"""HubSpot objects as declarations: properties, associations and the record each becomes. Pure.

One small class per object type: its ``columns`` (canonical column ← property and coercion),
from which both the properties it asks for and the record's values derive, and its
``associations``: what the record needs from associations v4 (a deal's company, an engagement's
company and contact), which the reader fetches in batches of up to 1,000 ids for ``to_record``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    "Association",
    "Calls",
    "Companies",
    "Contacts",
    "Deals",
    "Emails",
    "HubSpotStream",
    "LineItems",
    "Meetings",
    "Notes",
    "Owners",
    "Products",
    "Tasks",
    "Tickets",
    "epoch_ms",
]

SEARCH_PAGE = 200
"""CRM search returns at most 200 results a page (search API reference)."""


def epoch_ms(at: datetime) -> int:
    """HubSpot search filters compare datetimes as epoch milliseconds."""
    return int(at.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Association:
    """What a record needs from associations v4: the first ``to_type`` id, preferring ``type_ids`` in order."""

    to_type: str
    type_ids: tuple[int, ...]
    column: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSpotStream:
    """One object type read by CRM search, windowed on its last-modified property. Its mapping is
    ``columns`` (read from the record's properties), plus ``configured()`` for the properties the
    config names, and ``associations``."""

    lookback: timedelta = timedelta(seconds=300)

    config_name: ClassVar[str]
    object_type: ClassVar[str]
    kind: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    modified_property: ClassVar[str] = "hs_lastmodifieddate"
    associations: ClassVar[tuple[Association, ...]] = ()

    @property
    def name(self) -> str:
        return f"hubspot.{self.config_name}"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(
            field=self.modified_property, tie_breaker="hs_object_id", lookback=self.lookback, initial_value=EPOCH
        )

    def configured(self) -> tuple[Column, ...]:
        """The columns whose property the config names (none unless the stream says so)."""
        return ()

    @property
    def properties(self) -> list[str]:
        return [*selected((*self.columns, *self.configured())), self.modified_property, "hs_object_id"]

    def search_body(
        self,
        start_ms: int,
        end_ms: int,
        *,
        after: str | None = None,
        after_id: str | None = None,
        limit: int = SEARCH_PAGE,
    ) -> dict[str, Any]:
        """Records with ``start_ms <= modified < end_ms``, ascending on hs_object_id.

        ``after`` pages by offset (capped at 10,000 by HubSpot); ``after_id`` pages past the
        cap by id (``hs_object_id > after_id``), for a window that cannot be split further.
        """
        filters: list[dict[str, Any]] = [
            {"propertyName": self.modified_property, "operator": "GTE", "value": str(start_ms)},
            {"propertyName": self.modified_property, "operator": "LT", "value": str(end_ms)},
        ]
        if after_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": after_id})
        return {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": limit,
            "after": after,
        }

    def window_ms(self, window: Window) -> tuple[int, int]:
        return epoch_ms(window.start), epoch_ms(window.end)

    def to_record(self, raw: Mapping[str, Any], linked: Mapping[str, str | None] | None = None) -> Record:
        props = raw.get("properties") or {}
        modified = props.get(self.modified_property) or raw.get("updated_at") or raw.get("updatedAt")
        linked = linked or {}
        return Record(
            kind=self.kind,
            system="hubspot",
            key=str(raw["id"]),
            cursor_value=parse_utc(modified),
            deleted=bool(raw.get("archived")),
            values={
                **values_of((*self.columns, *self.configured()), props),
                **{a.column: linked.get(a.column) for a in self.associations},
            },
            object_type=self.object_type,
        )


def _owner_name(raw: Mapping[str, Any]) -> str:
    first, last = raw.get("first_name") or "", raw.get("last_name") or ""
    return f"{first} {last}".strip() or str(raw.get("email") or raw["id"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners(HubSpotStream):
    """Owners (owners API, read whole each run, archived ones too: an archived owner is inactive).
    The owners API answers plain objects, not CRM records: ``columns`` read the object itself."""

    config_name = "owners"
    object_type = "owners"
    kind = "owners"
    columns = (
        Column("name", ("first_name", "last_name", "email"), _owner_name),
        Column("email", ("email",), lambda raw: raw.get("email")),
        Column("active", ("archived",), lambda raw: not raw.get("archived", False)),
    )

    def to_record(self, raw: Mapping[str, Any], linked: Mapping[str, str | None] | None = None) -> Record:
        return Record(
            kind=self.kind,
            system="hubspot",
            key=str(raw["id"]),
            cursor_value=parse_utc(raw["updated_at"]),
            values=values_of(self.columns, raw),
            object_type=self.object_type,
        )


UPDATED_BY = "hs_updated_by_user_id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Companies(HubSpotStream):
    """Companies, with the configured account-fact properties and upsync's own properties
    (``owned_properties``: canonical name → property) so write-back can diff them with what the
    CRM holds without another call. ``hs_updated_by_user_id`` names the last user who edited the
    company in HubSpot (absent in portals without it: search ignores unknown properties)."""

    workspace_property: str = "workspace_id"
    seats_property: str | None = "upsync_seats_purchased"
    contract_end_property: str | None = "contract_end_date"
    health_property: str | None = "health_rollup"
    do_not_contact_property: str | None = None
    nps_property: str | None = None
    csat_property: str | None = None
    owned_properties: tuple[tuple[str, str], ...] = ()
    extra: tuple[tuple[str, CrmType], ...] = ()
    """The admin's extra properties, (name, type) as the properties API reports them (``crm_fields``)."""

    config_name = "companies"
    object_type = "companies"
    kind = "accounts"
    columns = (
        column("name", "name"),
        column("domain", "domain", domain),
        column("owner_id", "hubspot_owner_id"),
        column("industry", "industry"),
        column("employees", "numberofemployees", integer),
        column("lifecycle_stage", "lifecyclestage"),
        column("created_at", "createdate", instant),
        column("last_modified_by", UPDATED_BY),
    )
    associations = (Association("companies", (14,), "parent_id"),)

    def configured(self) -> tuple[Column, ...]:
        return (
            column("workspace_id", self.workspace_property),
            column("seats_purchased", self.seats_property, integer),
            column("contract_end", self.contract_end_property, day),
            column("health_rollup", self.health_property, number),
            column("do_not_contact", self.do_not_contact_property, boolean),
            column("nps", self.nps_property, number),
            column("csat", self.csat_property, number),
            owned_column(self.owned_properties),
            extra_column(self.extra),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Contacts(HubSpotStream):
    config_name = "contacts"
    object_type = "contacts"
    kind = "contacts"
    modified_property = "lastmodifieddate"
    columns = (
        column("first_name", "firstname"),
        column("last_name", "lastname"),
        column("email", "email"),
        column("title", "jobtitle"),
        column("department", "department"),
        column("created_at", "createdate", instant),
    )
    associations = (Association("companies", (1, 279), "account_id"),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deals(HubSpotStream):
    """Deals, with the portal's own property naming a deal's kind if it keeps one (G3)."""

    deal_kind_property: str | None = None

    config_name = "deals"
    object_type = "deals"
    kind = "opportunities"
    columns = (
        column("name", "dealname"),
        column("opp_type", "dealtype"),
        column("stage", "dealstage"),
        column("close_date", "closedate", day),
        column("amount", "amount", number),
        # the deal's currency (Deals API: deal_currency_code, an ISO code; empty in a one-currency portal)
        column("currency", "deal_currency_code"),
        column("is_closed", "hs_is_closed", boolean),
        column("is_won", "hs_is_closed_won", boolean),
        column("owner_id", "hubspot_owner_id"),
        column("created_at", "createdate", instant),
    )
    associations = (Association("companies", (5, 341), "account_id"),)

    def configured(self) -> tuple[Column, ...]:
        return (column("deal_kind", self.deal_kind_property),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Products(HubSpotStream):
    config_name = "products"
    object_type = "products"
    kind = "products"
    columns = (
        column("name", "name"),
        column("code", "hs_sku"),
        column("family", "product_family"),
        fixed("active", True),  # a deleted product is archived, and archives arrive as deletions
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LineItems(HubSpotStream):
    config_name = "line_items"
    object_type = "line_items"
    kind = "line_items"
    columns = (
        column("product_id", "hs_product_id"),
        column("quantity", "quantity", number),
        column("unit_price", "price", number),
        column("total_price", "amount", number),
        column("created_at", "createdate", instant),
        fixed("service_date", None),
        # a recurring line item's billing term: the contract terms of a HubSpot portal
        column("term_start", "hs_recurring_billing_start_date", day),
        column("term_end", "hs_recurring_billing_end_date", day),
        # HubSpot's own monthly recurring amount of the line and its billing frequency (monthly,
        # quarterly, annually…; empty on a one-off line): what MRR is derived from (rules/mrr.py)
        column("mrr", "hs_mrr", number),
        column("billing_frequency", "recurringbillingfrequency"),
    )
    associations = (Association("deals", (20,), "opportunity_id"),)


_TICKET_CLOSED_STAGE = "4"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tickets(HubSpotStream):
    config_name = "tickets"
    object_type = "tickets"
    kind = "tickets"
    columns = (
        column("status", "hs_pipeline_stage"),
        column("priority", "hs_ticket_priority"),
        column("is_closed", "hs_pipeline_stage", lambda value: text(value) == _TICKET_CLOSED_STAGE),
        column("is_escalated", "hs_ticket_priority", lambda value: text(value) == "URGENT"),
        column("created_at", "createdate", instant),
        column("closed_at", "closed_date", instant),
    )
    associations = (Association("companies", (26, 339), "account_id"), Association("contacts", (15,), "contact_id"))


def _engagement(activity_type: str, subject: str | None = None, status: str | None = None) -> tuple[Column, ...]:
    """The columns of calls, meetings, emails, notes and tasks: the same shape, their own properties."""
    return (
        fixed("activity_type", activity_type),
        column("subject", subject),
        column("status", status),
        column("is_closed", status, lambda value: text(value) == "COMPLETED")
        if activity_type == "task"
        else fixed("is_closed", None),
        column("activity_at", "hs_timestamp", instant),
        column("owner_id", "hubspot_owner_id"),
        column("created_at", "hs_createdate", instant),
        fixed("created_by", None),
        fixed("last_modified_by", None),
    )


TASK_TO_COMPANY = 192
"""HUBSPOT_DEFINED association type id: task → company (associations v4 type list)."""
TASK_TO_CONTACT = 204
"""HUBSPOT_DEFINED association type id: task → contact."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Engagement(HubSpotStream):
    """Calls, meetings, emails, notes and tasks: the v3 object APIs (no 10k "recent" cap)."""

    kind = "activities"

    def configured(self) -> tuple[Column, ...]:
        return (fixed("sync_key", None),)  # only upsync's own tasks carry a sync key


@dataclass(frozen=True, slots=True, kw_only=True)
class Tasks(_Engagement):
    """Tasks, upsync's own among them (they carry the sync-key property): outcomes are read back."""

    sync_key_property: str = "upsync_sync_key"

    config_name = "tasks"
    object_type = "tasks"
    columns = _engagement("task", "hs_task_subject", "hs_task_status")
    associations = (
        Association("companies", (TASK_TO_COMPANY,), "account_id"),
        Association("contacts", (TASK_TO_CONTACT,), "contact_id"),
    )

    def configured(self) -> tuple[Column, ...]:
        return (column("sync_key", self.sync_key_property),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Calls(_Engagement):
    config_name = "calls"
    object_type = "calls"
    columns = _engagement("call", "hs_call_title", "hs_call_status")
    associations = (Association("companies", (182,), "account_id"), Association("contacts", (194,), "contact_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Meetings(_Engagement):
    config_name = "meetings"
    object_type = "meetings"
    columns = _engagement("meeting", "hs_meeting_title", "hs_meeting_outcome")
    associations = (Association("companies", (188,), "account_id"), Association("contacts", (200,), "contact_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Emails(_Engagement):
    config_name = "emails"
    object_type = "emails"
    columns = _engagement("email", "hs_email_subject")
    associations = (Association("companies", (186,), "account_id"), Association("contacts", (198,), "contact_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Notes(_Engagement):
    config_name = "notes"
    object_type = "notes"
    columns = _engagement("note")
    associations = (Association("companies", (190,), "account_id"), Association("contacts", (202,), "contact_id"))


def pick(targets: Sequence[tuple[str, Sequence[int]]], preferred: Sequence[int]) -> str | None:
    """The associated id to use: the first with the most preferred type id, else the first."""
    for type_id in preferred:
        for to_id, type_ids in targets:
            if type_id in type_ids:
                return to_id
    return targets[0][0] if targets else None


STREAM_TYPES: dict[str, type[HubSpotStream]] = {
    cls.config_name: cls
    for cls in (Owners, Companies, Contacts, Deals, Products, LineItems, Tickets, Tasks, Calls, Meetings, Emails, Notes)
}
"""Config names of the HubSpot objects (``[hubspot] objects = [...]``), in read order."""
