"""HubSpot objects as declarations: what each reads and how a result becomes a record. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import domain_of, parse_utc
from sync.records import Account, CursorSpec, Owner, Window

__all__ = ["Companies", "Owners", "epoch_ms"]

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
SEARCH_PAGE = 200
"""CRM search returns at most 200 results a page (search API reference)."""


def epoch_ms(at: datetime) -> str:
    """HubSpot search filters compare datetimes as epoch-millisecond strings."""
    return str(int(at.timestamp() * 1000))


@dataclass(frozen=True, slots=True, kw_only=True)
class Companies:
    """Companies via CRM search, ascending on hs_lastmodifieddate within the window."""

    workspace_property: str
    seats_property: str | None
    lookback: timedelta = timedelta(seconds=300)

    name = "hubspot.companies"
    object_type = "companies"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(
            field="hs_lastmodifieddate", tie_breaker="hs_object_id", lookback=self.lookback, initial_value=EPOCH
        )

    @property
    def properties(self) -> list[str]:
        extra = [self.workspace_property] + ([self.seats_property] if self.seats_property else [])
        return ["name", "domain", "hubspot_owner_id", *extra, "hs_lastmodifieddate", "hs_object_id"]

    def search_body(self, window: Window, after: str | None) -> dict[str, Any]:
        """The search request, as the CRM search API documents it (camelCase JSON)."""
        return {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": epoch_ms(window.start)},
                        {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": epoch_ms(window.end)},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": SEARCH_PAGE,
            "after": after,
        }

    def to_record(self, raw: Mapping[str, Any]) -> Account:
        props = raw["properties"]
        seats = props.get(self.seats_property) if self.seats_property else None
        return Account(
            system="hubspot",
            crm_id=str(raw["id"]),
            name=str(props.get("name") or ""),
            owner_id=props.get("hubspot_owner_id") or None,
            domain=domain_of(props.get("domain")),
            workspace_id=props.get(self.workspace_property) or None,
            seats_purchased=int(float(seats)) if seats not in (None, "") else None,
            deleted=bool(raw.get("archived")),
            modified_at=parse_utc(props["hs_lastmodifieddate"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners:
    """Owners, read whole each run, archived ones too: an archived owner is inactive."""

    name = "hubspot.owners"
    spec = None

    def to_record(self, raw: Mapping[str, Any]) -> Owner:
        first, last = raw.get("first_name") or "", raw.get("last_name") or ""
        return Owner(
            system="hubspot",
            crm_id=str(raw["id"]),
            name=f"{first} {last}".strip() or str(raw.get("email") or raw["id"]),
            email=raw.get("email"),
            active=not raw.get("archived", False),
            modified_at=parse_utc(raw["updated_at"]),
        )
