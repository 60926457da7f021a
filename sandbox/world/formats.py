"""The wire formats the stand-ins share: Salesforce and HubSpot datetimes, Salesforce ids."""

from __future__ import annotations

from datetime import date, datetime, timezone


def sf_time(at: datetime) -> str:
    """Salesforce REST datetime format, e.g. ``2026-11-23T09:15:00.000+0000``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def sf_date(day: date) -> str:
    return day.isoformat()


def hs_time(at: datetime) -> str:
    """HubSpot ISO-8601 datetime with milliseconds and ``Z``, e.g. ``2026-11-23T09:15:00.000Z``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce-shaped id with the object's key prefix (001 Account, 005 User…)."""
    return f"{prefix}Dn000{n:07d}AAA"[:18]
