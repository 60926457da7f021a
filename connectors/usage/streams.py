"""Usage API items → canonical usage records, through the configured dotted-path mapping. Pure.

Customers' usage APIs differ in shape; ``[usage.fields]`` says where each canonical metric sits
in one item (``metrics.seats.used``). The same mapping reads historical exports (NDJSON, or CSV
whose columns are the canonical names), so backfilled and live usage are one and the same.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connectors.columns import day, domain_of, parse_utc, text
from connectors.usage.settings import UsageFields
from core.cursor import EPOCH
from core.records import CursorSpec, Record

__all__ = ["METRICS", "DailyUsage", "Workspaces", "get_path"]

_MISSING = object()


def get_path(item: Any, path: str) -> Any:
    """``get_path({"a": {"b": 1}}, "a.b") == 1``; None when any step is missing."""
    node = item
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is _MISSING:
            return None
    return node


def _measure(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):  # NaN, Infinity: JSON parsers and float() accept them
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def _count(name: str, value: Any) -> int | None:
    measured = _measure(name, value)
    return None if measured is None else int(measured)


def _mapping(name: str, value: Any) -> dict[str, int] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = json.loads(value)  # CSV exports carry these as JSON text
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object of name → count, got {type(value).__name__}")
    counts = {str(k): _measure(f"{name}.{k}", v) for k, v in value.items()}
    if any(v is None for v in counts.values()):
        raise ValueError(f"{name} must map each name to a count")
    return {k: int(v or 0) for k, v in counts.items()}


METRICS: Mapping[str, Callable[[str, Any], Any]] = {
    "active_users": _count,
    "weekly_active_users": _count,
    "seats_used": _count,
    "seats_limit": _count,
    "storage_used_gb": _measure,
    "storage_limit_gb": _measure,
    "api_calls_used": _count,
    "api_calls_limit": _count,
    "integrations": _count,
    "premium_feature_views": _count,
    "trials_started": _count,
    "pricing_page_views": _count,
    "feature_events": _mapping,
    "users_by_department": _mapping,
}
"""Each usage metric and how its value is read; where it sits in an item is ``[usage.fields]``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyUsage:
    """One (workspace, day) of usage, read ascending on its update time."""

    fields: UsageFields = field(default_factory=UsageFields)
    lookback: timedelta = timedelta(seconds=300)

    name = "usage.daily"
    kind = "usage_daily"

    @property
    def spec(self) -> CursorSpec:
        return CursorSpec(field="updated_at", tie_breaker="workspace_id", lookback=self.lookback, initial_value=EPOCH)

    def to_record(self, item: Mapping[str, Any]) -> Record:
        f = self.fields
        workspace = text(get_path(item, f.workspace_id))
        if workspace is None:
            raise KeyError(f"no workspace id at {f.workspace_id!r}")
        on = day(get_path(item, f.day))
        if on is None:
            raise KeyError(f"no day at {f.day!r}")
        raw_updated = get_path(item, f.updated_at)
        try:
            updated = parse_utc(raw_updated)
        except ValueError:
            raise ValueError(f"updated_at at {f.updated_at!r} is not a date-time: {raw_updated!r}") from None
        values: dict[str, Any] = {"workspace_id": workspace, "day": on, "updated_at": updated}
        for name, read in METRICS.items():
            path = getattr(f, name)
            values[name] = read(name, get_path(item, path)) if path else None
        return Record(
            kind=self.kind,
            system="usage",
            key=f"{workspace}|{on.isoformat()}",
            cursor_value=updated,
            values=values,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Workspaces:
    """Product workspaces with their domain: matches accounts that lack a workspace id."""

    name = "usage.workspaces"
    kind = "workspaces"
    spec = None

    def to_record(self, item: Mapping[str, Any]) -> Record:
        workspace = text(item.get("id") or item.get("workspace_id"))
        if workspace is None:
            raise KeyError("workspace without an id")
        updated = item.get("updated_at")
        at = parse_utc(updated) if updated else EPOCH
        return Record(
            kind=self.kind,
            system="usage",
            key=workspace,
            cursor_value=at,
            values={
                "workspace_id": workspace,
                "name": text(item.get("name")),
                "domain": domain_of(text(item.get("domain"))),
                "updated_at": at,
            },
        )
