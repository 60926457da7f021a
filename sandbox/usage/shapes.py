"""Row shapes: the flat rows the store holds, their nested form, and workspace items."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

Row = dict[str, Any]

NESTED_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "workspace_id": "workspace.id",
        "date": "day",
        "updated_at": "updated",
        "active_users": "metrics.users.active",
        "weekly_active_users": "metrics.users.weekly_active",
        "seats_used": "metrics.seats.used",
        "seats_limit": "metrics.seats.limit",
        "storage_used_gb": "metrics.storage.used_gb",
        "storage_limit_gb": "metrics.storage.limit_gb",
        "api_calls_used": "metrics.api.calls",
        "api_calls_limit": "metrics.api.limit",
        "integrations": "metrics.integrations.count",
        "premium_feature_views": "metrics.engagement.premium_views",
        "trials_started": "metrics.engagement.trials_started",
        "pricing_page_views": "metrics.engagement.pricing_page_views",
        "feature_events": "metrics.features",
        "users_by_department": "metrics.departments",
    }
)
"""Flat row key → dotted path of the same value in the nested shape."""

_NESTED_SPLIT: Final = tuple((name, tuple(path.split("."))) for name, path in NESTED_PATHS.items())
_WORKSPACE_FACTS: Final = ("name", "domain", "plan", "seats_limit")


def nested_row(row: Row, updated: str) -> Row:
    item: Row = {}
    for name, path in _NESTED_SPLIT:
        if name not in row:
            continue
        node = item
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = updated if name == "updated_at" else row[name]
    extra = {name: value for name, value in row.items() if name not in NESTED_PATHS}
    if extra:
        item["extra"] = extra
    return item


def workspace_item(workspace_id: str, row: Row) -> Row:
    item: Row = {"id": workspace_id}
    for fact in _WORKSPACE_FACTS:
        for name in (fact, f"workspace_{fact}"):
            if name in row:
                item[fact] = row[name]
                break
    return item
