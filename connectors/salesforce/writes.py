"""Native Salesforce Tasks, upserted on an external-id field through sObject Collections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.streams import soql_string
from sync.records import LedgerState, TaskIntent, WriteResult
from sync.settings import SalesforceSettings

__all__ = ["SalesforceTaskWriter"]

_PRIORITY = {"high": "High", "normal": "Normal", "low": "Low"}
SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000
COLLECTION_MAX = 200


class SalesforceTaskWriter:
    """Upserts tasks on ``sync_key_field``: a second write of the same key updates, never duplicates."""

    system = "salesforce"
    batch_size = COLLECTION_MAX

    def __init__(self, client: SalesforceClient, settings: SalesforceSettings) -> None:
        self.client = client
        self.key_field = settings.sync_key_field

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), COLLECTION_MAX):
            chunk = keys[start : start + COLLECTION_MAX]
            soql = (
                f"SELECT Id, {self.key_field} FROM Task "
                f"WHERE {self.key_field} IN ({', '.join(soql_string(k) for k in chunk)})"
            )
            for row in self.client.query_all(soql, stream="write Task"):
                found[str(row[self.key_field])] = str(row["Id"])
        return found

    def create(self, tasks: Sequence[TaskIntent]) -> list[WriteResult]:
        records = [
            {
                self.key_field: t.key,
                "Subject": t.subject[:SUBJECT_MAX],
                "Description": t.body[:DESCRIPTION_MAX],
                "ActivityDate": t.due_on.isoformat(),
                "Priority": _PRIORITY[t.priority],
                "Status": "Not Started",
                "OwnerId": t.owner_id,
                "WhatId": t.account_id,
            }
            for t in tasks
        ]
        results = self.client.upsert_collection("Task", self.key_field, records)
        out = []
        for task, result in zip(tasks, results, strict=True):
            if result.get("success"):
                out.append(WriteResult(key=task.key, crm_id=str(result.get("id")), state=LedgerState.confirmed))
            else:
                errors = result.get("errors") or []
                reason = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or "refused"
                out.append(WriteResult(key=task.key, crm_id=None, state=LedgerState.failed, error=reason[:500]))
        return out

    def list_tasks(self) -> list[dict[str, Any]]:
        soql = (
            f"SELECT Id, Subject, ActivityDate, Priority, Status, OwnerId, WhatId, {self.key_field} "
            f"FROM Task WHERE {self.key_field} != null ORDER BY ActivityDate ASC, Id ASC"
        )
        return [
            {
                "id": r["Id"],
                "subject": r.get("Subject"),
                "due": r.get("ActivityDate"),
                "priority": r.get("Priority"),
                "status": r.get("Status"),
                "owner_id": r.get("OwnerId"),
                "account_id": r.get("WhatId"),
                "key": r.get(self.key_field),
            }
            for r in self.client.query_all(soql, stream="read Task")
        ]
