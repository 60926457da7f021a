"""Native HubSpot tasks: batch-created with the task→company association and a sync-key property."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, time, timezone
from typing import Any

from connectors.hubspot.client import HubSpotClient
from sync.records import LedgerState, TaskIntent, WriteResult
from sync.settings import HubSpotSettings

__all__ = ["HubSpotTaskWriter", "task_body_html"]

_PRIORITY = {"high": "HIGH", "normal": "MEDIUM", "low": "LOW"}
BATCH_MAX = 100
"""Batch create/update/read take at most 100 inputs (CRM objects batch API reference)."""
BODY_MAX = 65_536
IN_MAX = 100


def task_body_html(text: str) -> str:
    """Plain text → safe HTML for ``hs_task_body``: every value escaped, URLs made links."""
    lines = []
    for line in text.split("\n"):
        escaped = html.escape(line, quote=True)
        words = [f'<a href="{w}">{w}</a>' if w.startswith(("https://", "http://")) else w for w in escaped.split(" ")]
        lines.append(" ".join(words))
    return "<p>" + "<br>".join(lines) + "</p>"


class HubSpotTaskWriter:
    """Creates tasks in batches of 100; the sync key lets a later run find what a crash hid."""

    system = "hubspot"
    batch_size = BATCH_MAX

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings) -> None:
        self.client = client
        self.key_property = settings.sync_key_property

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), IN_MAX):
            chunk = list(keys[start : start + IN_MAX])
            filters = [{"propertyName": self.key_property, "operator": "IN", "values": chunk}]
            for page in self.client.search_all("tasks", filters, [self.key_property], stream="read tasks"):
                for task in page:
                    found[str(task["properties"][self.key_property])] = str(task["id"])
        return found

    def create(self, tasks: Sequence[TaskIntent]) -> list[WriteResult]:
        inputs = []
        for t in tasks:
            due = datetime.combine(t.due_on, time(9, 0), timezone.utc)
            props = {
                "hs_timestamp": due.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "hs_task_subject": t.subject[:255],
                "hs_task_body": task_body_html(t.body)[:BODY_MAX],
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": _PRIORITY[t.priority],
                "hs_task_type": "TODO",
                "hubspot_owner_id": t.owner_id or "",
                self.key_property: t.key,
            }
            inputs.append((props, t.account_id, t.key))
        created = self.client.create_tasks(inputs)
        by_key = {str(r["properties"].get(self.key_property)): str(r["id"]) for r in created}
        return [
            WriteResult(key=t.key, crm_id=by_key[t.key], state=LedgerState.confirmed)
            if t.key in by_key
            else WriteResult(key=t.key, crm_id=None, state=LedgerState.unknown, error="missing from batch response")
            for t in tasks
        ]

    def list_tasks(self) -> list[dict[str, Any]]:
        props = ["hs_task_subject", "hs_timestamp", "hs_task_priority", "hs_task_status", "hubspot_owner_id"]
        filters = [{"propertyName": self.key_property, "operator": "HAS_PROPERTY"}]
        out = []
        for page in self.client.search_all("tasks", filters, [*props, self.key_property], stream="read tasks"):
            for task in page:
                p = task["properties"]
                out.append(
                    {
                        "id": task["id"],
                        "subject": p.get("hs_task_subject"),
                        "due": (p.get("hs_timestamp") or "")[:10],
                        "priority": p.get("hs_task_priority"),
                        "status": p.get("hs_task_status"),
                        "owner_id": p.get("hubspot_owner_id"),
                        "account_id": None,
                        "key": p.get(self.key_property),
                    }
                )
        return out
