"""Salesforce objects as declarations: the SOQL each reads and how a row becomes a record. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import domain_of, parse_utc
from sync.records import Account, CursorSpec, Owner, Window

__all__ = ["Accounts", "Users", "soql_datetime", "soql_string"]

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def soql_datetime(at: datetime) -> str:
    """A SOQL datetime literal, unquoted, in UTC with millis (``2026-01-01T00:00:00.000Z``)."""
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def soql_string(value: str) -> str:
    """A quoted SOQL string literal with backslash escapes (never build SOQL from raw input)."""
    escaped = (
        value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f"'{escaped}'"


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounts:
    """Account, read by ``queryAll`` ascending on (SystemModstamp, Id) so soft deletes arrive too."""

    workspace_field: str
    seats_field: str | None
    lookback: timedelta = timedelta(seconds=600)

    name = "salesforce.accounts"
    sobject = "Account"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(field="SystemModstamp", tie_breaker="Id", lookback=self.lookback, initial_value=EPOCH)

    @property
    def fields(self) -> tuple[str, ...]:
        extra = (self.workspace_field,) + ((self.seats_field,) if self.seats_field else ())
        return ("Id", "Name", "OwnerId", "Website", *extra, "IsDeleted", "SystemModstamp")

    def soql(self, window: Window) -> str:
        return (
            f"SELECT {', '.join(self.fields)} FROM {self.sobject} "
            f"WHERE SystemModstamp >= {soql_datetime(window.start)} AND SystemModstamp < {soql_datetime(window.end)} "
            "ORDER BY SystemModstamp ASC, Id ASC"
        )

    def to_record(self, raw: Mapping[str, Any]) -> Account:
        seats = raw.get(self.seats_field) if self.seats_field else None
        return Account(
            system="salesforce",
            crm_id=str(raw["Id"]),
            name=str(raw.get("Name") or ""),
            owner_id=raw.get("OwnerId"),
            domain=domain_of(raw.get("Website")),
            workspace_id=raw.get(self.workspace_field) or None,
            seats_purchased=int(seats) if seats not in (None, "") else None,
            deleted=bool(raw.get("IsDeleted")),
            modified_at=parse_utc(raw["SystemModstamp"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Users:
    """User, read whole each run (a few hundred rows): who is active, for task routing."""

    name = "salesforce.users"
    spec = None

    def soql(self) -> str:
        return "SELECT Id, Name, Email, IsActive, SystemModstamp FROM User ORDER BY Id ASC"

    def to_record(self, raw: Mapping[str, Any]) -> Owner:
        return Owner(
            system="salesforce",
            crm_id=str(raw["Id"]),
            name=str(raw.get("Name") or ""),
            email=raw.get("Email"),
            active=bool(raw.get("IsActive")),
            modified_at=parse_utc(raw["SystemModstamp"]),
        )
