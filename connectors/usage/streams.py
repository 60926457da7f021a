"""Usage API rows as canonical records. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from connectors.base import parse_utc
from sync.records import CursorSpec, UsageDay

__all__ = ["DailyUsage"]

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _count(raw: Mapping[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyUsage:
    """``GET /v1/usage/daily``: one row per (workspace, day), read ascending on updated_at."""

    lookback: timedelta = timedelta(seconds=300)

    name = "usage.daily"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(field="updated_at", tie_breaker="workspace_id", lookback=self.lookback, initial_value=EPOCH)

    def to_record(self, raw: Mapping[str, Any]) -> UsageDay:
        return UsageDay(
            workspace_id=str(raw["workspace_id"]),
            day=date.fromisoformat(str(raw["date"])),
            active_users=_count(raw, "active_users"),
            seats_used=_count(raw, "seats_used"),
            seats_limit=_count(raw, "seats_limit"),
            updated_at=parse_utc(raw["updated_at"]),
        )
