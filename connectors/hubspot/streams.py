"""HubSpot objects as declarations: properties, associations and the record each becomes. Pure.

One small class per object type. ``associations`` names what the record needs from associations
v4 (a deal's company, an engagement's company and contact): the reader fetches them in batches
of up to 1,000 ids and hands them to ``to_record``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from connectors.base import boolean, day, domain_of, instant, integer, number, owned_values, parse_utc, text
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

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
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
    """One object type read by CRM search, windowed on its last-modified property."""

    lookback: timedelta = timedelta(seconds=300)

    config_name: ClassVar[str]
    object_type: ClassVar[str]
    kind: ClassVar[str]
    base_properties: ClassVar[tuple[str, ...]]
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

    @property
    def properties(self) -> list[str]:
        return [*self.base_properties, self.modified_property, "hs_object_id"]

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

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        raise NotImplementedError

    def to_record(self, raw: Mapping[str, Any], linked: Mapping[str, str | None] | None = None) -> Record:
        props = raw.get("properties") or {}
        modified = props.get(self.modified_property) or raw.get("updated_at") or raw.get("updatedAt")
        return Record(
            kind=self.kind,
            system="hubspot",
            key=str(raw["id"]),
            cursor_value=parse_utc(modified),
            deleted=bool(raw.get("archived")),
            values=self.values(props, linked or {}),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners(HubSpotStream):
    """Owners (owners API, read whole each run, archived ones too: an archived owner is inactive)."""

    config_name = "owners"
    object_type = "owners"
    kind = "owners"
    base_properties = ()

    def to_record(self, raw: Mapping[str, Any], linked: Mapping[str, str | None] | None = None) -> Record:
        first, last = raw.get("first_name") or "", raw.get("last_name") or ""
        return Record(
            kind="owners",
            system="hubspot",
            key=str(raw["id"]),
            cursor_value=parse_utc(raw["updated_at"]),
            values={
                "name": f"{first} {last}".strip() or str(raw.get("email") or raw["id"]),
                "email": raw.get("email"),
                "active": not raw.get("archived", False),
            },
        )


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

    config_name = "companies"
    object_type = "companies"
    kind = "accounts"
    base_properties = (
        "name",
        "domain",
        "hubspot_owner_id",
        "industry",
        "numberofemployees",
        "lifecyclestage",
        "createdate",
    )
    associations = (Association("companies", (14,), "parent_id"),)

    @property
    def properties(self) -> list[str]:
        extra = [
            p
            for p in (
                self.workspace_property,
                self.seats_property,
                self.contract_end_property,
                self.health_property,
                self.do_not_contact_property,
                self.nps_property,
                self.csat_property,
            )
            if p
        ]
        owned = [p for _, p in self.owned_properties if p not in extra]
        return [*self.base_properties, *extra, *owned, UPDATED_BY, self.modified_property, "hs_object_id"]

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            "name": text(props.get("name")),
            "owner_id": text(props.get("hubspot_owner_id")),
            "parent_id": linked.get("parent_id"),
            "domain": domain_of(text(props.get("domain"))),
            "workspace_id": text(props.get(self.workspace_property)),
            "industry": text(props.get("industry")),
            "employees": integer(props.get("numberofemployees")),
            "lifecycle_stage": text(props.get("lifecyclestage")),
            "seats_purchased": integer(props.get(self.seats_property)) if self.seats_property else None,
            "health_rollup": number(props.get(self.health_property)) if self.health_property else None,
            "do_not_contact": (
                boolean(props.get(self.do_not_contact_property)) if self.do_not_contact_property else None
            ),
            "nps": number(props.get(self.nps_property)) if self.nps_property else None,
            "csat": number(props.get(self.csat_property)) if self.csat_property else None,
            "contract_end": day(props.get(self.contract_end_property)) if self.contract_end_property else None,
            "created_at": instant(props.get("createdate")),
            "upsync_fields": owned_values(self.owned_properties, props),
            "last_modified_by": text(props.get(UPDATED_BY)),
        }


UPDATED_BY = "hs_updated_by_user_id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Contacts(HubSpotStream):
    config_name = "contacts"
    object_type = "contacts"
    kind = "contacts"
    modified_property = "lastmodifieddate"
    base_properties = ("firstname", "lastname", "email", "jobtitle", "department", "createdate")
    associations = (Association("companies", (1, 279), "account_id"),)

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            "account_id": linked.get("account_id"),
            "first_name": text(props.get("firstname")),
            "last_name": text(props.get("lastname")),
            "email": text(props.get("email")),
            "title": text(props.get("jobtitle")),
            "department": text(props.get("department")),
            "created_at": instant(props.get("createdate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Deals(HubSpotStream):
    config_name = "deals"
    object_type = "deals"
    kind = "opportunities"
    base_properties = (
        "dealname",
        "dealtype",
        "dealstage",
        "closedate",
        "amount",
        "hs_is_closed",
        "hs_is_closed_won",
        "hubspot_owner_id",
        "createdate",
    )
    associations = (Association("companies", (5, 341), "account_id"),)

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            "account_id": linked.get("account_id"),
            "name": text(props.get("dealname")),
            "opp_type": text(props.get("dealtype")),
            "stage": text(props.get("dealstage")),
            "is_closed": boolean(props.get("hs_is_closed")),
            "is_won": boolean(props.get("hs_is_closed_won")),
            "close_date": day(props.get("closedate")),
            "amount": number(props.get("amount")),
            "owner_id": text(props.get("hubspot_owner_id")),
            "created_at": instant(props.get("createdate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Products(HubSpotStream):
    config_name = "products"
    object_type = "products"
    kind = "products"
    base_properties = ("name", "hs_sku", "product_family")

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            "name": text(props.get("name")),
            "code": text(props.get("hs_sku")),
            "family": text(props.get("product_family")),
            "active": True,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LineItems(HubSpotStream):
    config_name = "line_items"
    object_type = "line_items"
    kind = "line_items"
    base_properties = ("name", "hs_product_id", "quantity", "price", "amount", "createdate")
    associations = (Association("deals", (20,), "opportunity_id"),)

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            "opportunity_id": linked.get("opportunity_id"),
            "product_id": text(props.get("hs_product_id")),
            "quantity": number(props.get("quantity")),
            "unit_price": number(props.get("price")),
            "total_price": number(props.get("amount")),
            "service_date": None,
            "created_at": instant(props.get("createdate")),
        }


_TICKET_CLOSED_STAGE = "4"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tickets(HubSpotStream):
    config_name = "tickets"
    object_type = "tickets"
    kind = "tickets"
    base_properties = ("subject", "hs_pipeline_stage", "hs_ticket_priority", "createdate", "closed_date")
    associations = (Association("companies", (26, 339), "account_id"), Association("contacts", (15,), "contact_id"))

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        stage = text(props.get("hs_pipeline_stage"))
        priority = text(props.get("hs_ticket_priority"))
        return {
            "account_id": linked.get("account_id"),
            "contact_id": linked.get("contact_id"),
            "status": stage,
            "priority": priority,
            "is_closed": stage == _TICKET_CLOSED_STAGE,
            "is_escalated": priority == "URGENT",
            "created_at": instant(props.get("createdate")),
            "closed_at": instant(props.get("closed_date")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class _Engagement(HubSpotStream):
    """Calls, meetings, emails, notes and tasks: the v3 object APIs (no 10k "recent" cap)."""

    activity_type: ClassVar[str]
    subject_property: ClassVar[str | None] = None
    status_property: ClassVar[str | None] = None
    kind = "activities"

    @property
    def properties(self) -> list[str]:
        extra = [p for p in (self.subject_property, self.status_property) if p]
        return [
            *extra,
            *self.extra_properties(),
            "hs_timestamp",
            "hubspot_owner_id",
            "hs_createdate",
            self.modified_property,
            "hs_object_id",
        ]

    def extra_properties(self) -> tuple[str, ...]:
        return ()

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        status = text(props.get(self.status_property)) if self.status_property else None
        return {
            "account_id": linked.get("account_id"),
            "contact_id": linked.get("contact_id"),
            "owner_id": text(props.get("hubspot_owner_id")),
            "activity_type": self.activity_type,
            "subject": text(props.get(self.subject_property)) if self.subject_property else None,
            "status": status,
            "is_closed": status == "COMPLETED" if self.activity_type == "task" else None,
            "activity_at": instant(props.get("hs_timestamp")),
            "sync_key": None,
            "created_by": None,
            "last_modified_by": None,
            "created_at": instant(props.get("hs_createdate")),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Tasks(_Engagement):
    """Tasks, upsync's own among them (they carry the sync-key property): outcomes are read back."""

    sync_key_property: str = "upsync_sync_key"

    config_name = "tasks"
    object_type = "tasks"
    activity_type = "task"
    subject_property = "hs_task_subject"
    status_property = "hs_task_status"
    base_properties = ()
    associations = (Association("companies", (192,), "account_id"), Association("contacts", (204,), "contact_id"))

    def extra_properties(self) -> tuple[str, ...]:
        return ("hs_task_priority", self.sync_key_property)

    def values(self, props: Mapping[str, Any], linked: Mapping[str, str | None]) -> dict[str, Any]:
        out = _Engagement.values(self, props, linked)
        out["sync_key"] = text(props.get(self.sync_key_property))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Calls(_Engagement):
    config_name = "calls"
    object_type = "calls"
    activity_type = "call"
    subject_property = "hs_call_title"
    status_property = "hs_call_status"
    base_properties = ()
    associations = (Association("companies", (182,), "account_id"), Association("contacts", (194,), "contact_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Meetings(_Engagement):
    config_name = "meetings"
    object_type = "meetings"
    activity_type = "meeting"
    subject_property = "hs_meeting_title"
    status_property = "hs_meeting_outcome"
    base_properties = ()
    associations = (Association("companies", (188,), "account_id"), Association("contacts", (200,), "contact_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Emails(_Engagement):
    config_name = "emails"
    object_type = "emails"
    activity_type = "email"
    subject_property = "hs_email_subject"
    base_properties = ()
    associations = (Association("companies", (186,), "account_id"), Association("contacts", (198,), "contact_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Notes(_Engagement):
    config_name = "notes"
    object_type = "notes"
    activity_type = "note"
    base_properties = ()
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
