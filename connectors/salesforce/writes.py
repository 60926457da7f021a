"""Native Salesforce Tasks and upsync's own Account fields, through sObject Collections.

Tasks are created by upsert on the external-id sync key, so a second write of a key (a retry
after a timeout, a run after a crash) updates instead of duplicating; later changes (reassign,
re-prioritise, close) and the account fields are updates by Id. Every write is one Collections
call of at most 200 records with ``allOrNone`` false: a record the org refuses fails alone, with
its own error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from connectors.columns import parse_utc, utc_millis
from connectors.extra_fields import SALESFORCE_TYPES, check_report
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.streams import Soql
from core.records import EditSource, FieldWrite, LedgerState, SchemaReport, TaskIntent, TaskUpdate, WriteResult

__all__ = ["SalesforceTaskWriter"]

log = logging.getLogger("upsync.salesforce")
_PRIORITY = {"high": "High", "normal": "Normal", "low": "Low"}
SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000
COLLECTION_MAX = 200
"""sObject Collections create/update/upsert take at most 200 records (resources_composite_sobjects_collections_*)."""
ERROR_MAX = 500
FIND_SOQL = "SELECT Id, {key:literal} FROM Task WHERE {key:literal} IN {keys}"
CREATOR_SOQL = "SELECT CreatedById FROM Task WHERE {key:literal} != null ORDER BY CreatedDate DESC LIMIT 1"
MODIFIED_BY_SOQL = "SELECT Id, LastModifiedById, LastModifiedDate FROM {sobject:literal} WHERE Id IN {ids}"
TASKS_SOQL = (
    "SELECT Id, Subject, ActivityDate, Priority, Status, OwnerId, WhatId, {key:literal} "
    "FROM Task WHERE {key:literal} != null ORDER BY ActivityDate ASC, Id ASC"
)

# What each canonical field needs in the org: compatible describe types, and what an admin creates.
_FIELD_TYPES: dict[str, tuple[frozenset[str], str]] = {
    "health_score": (frozenset({"double", "percent"}), "Number(5, 1)"),
    "health_band": (frozenset({"string", "textarea", "picklist"}), "Text(20)"),
    "expansion_score": (frozenset({"double", "percent"}), "Number(16, 2)"),
    "next_best_action": (frozenset({"string", "textarea"}), "Text(255)"),
    "last_signal": (frozenset({"string", "textarea"}), "Text(255)"),
    "playbook_url": (frozenset({"url", "string"}), "URL(255)"),
    "as_of": (frozenset({"datetime"}), "Date/Time"),
}
_NUMBERS = frozenset({"health_score", "expansion_score"})


def _errors(result: Mapping[str, Any]) -> str:
    """A SaveResult's errors as ``CODE: message; …`` (what the ledger and the log show)."""
    errors = result.get("errors") or []
    text = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors if isinstance(e, Mapping))
    return (text or "refused")[:ERROR_MAX]


def _results(keys: Sequence[str], results: Sequence[Mapping[str, Any]], ids: Sequence[str | None]) -> list[WriteResult]:
    """One WriteResult per item from the SaveResults, in order; ``ids`` is each item's known Id."""
    out = []
    for key, result, known in zip(keys, results, ids, strict=True):
        if result.get("success"):
            out.append(WriteResult(key=key, crm_id=str(result.get("id") or known), state=LedgerState.confirmed))
        else:
            out.append(WriteResult(key=key, crm_id=known, state=LedgerState.failed, error=_errors(result)))
    return out


def _merge(ready: Sequence[WriteResult | None], sent: Sequence[WriteResult]) -> list[WriteResult]:
    """Results in input order: the ones decided without a call, the call's in the gaps."""
    answers = iter(sent)
    return [r if r is not None else next(answers) for r in ready]


def _label(api_name: str) -> str:
    return api_name.removesuffix("__c").replace("_", " ")


class SalesforceTaskWriter:
    """Upserts tasks on ``sync_key_field`` (a second write of the same key updates, never
    duplicates), updates them and the owned Account fields by Id, and tells upsync's own edits
    (the integration user's) from everyone else's."""

    system = "salesforce"
    batch_size = COLLECTION_MAX

    def __init__(self, client: SalesforceClient, settings: SalesforceSettings) -> None:
        self.client = client
        self.key_field = settings.sync_key_field
        self.account_fields = dict(settings.account_fields)
        self.closed_status = settings.task_closed_status
        self._integration_user = settings.integration_user_id
        self.read_fields = settings.read_fields()
        self.extra_fields = settings.extra_names()

    def find(self, keys: Mapping[str, str | None] | Sequence[str]) -> dict[str, str]:
        """Tasks already in Salesforce for these keys: key → Task Id (SOQL reads what is committed)."""
        found: dict[str, str] = {}
        wanted = list(keys)
        for start in range(0, len(wanted), COLLECTION_MAX):
            chunk = wanted[start : start + COLLECTION_MAX]
            query = Soql(FIND_SOQL, {"key": self.key_field, "keys": list(chunk)})
            for row in self.client.query_all(query, stream="write Task"):
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
        return _results([t.key for t in tasks], results, [None] * len(tasks))

    def update(self, updates: Sequence[TaskUpdate]) -> list[WriteResult]:
        """Updates by Id, not upserts on the key: an upsert of a task someone deleted would
        create a bare new one, where an update by Id fails with ``ENTITY_IS_DELETED``."""
        ready: list[WriteResult | None] = []
        sent: list[tuple[str, dict[str, Any]]] = []
        for u in updates:
            values: dict[str, Any] = {}
            if u.owner_id is not None:
                values["OwnerId"] = u.owner_id
            if u.priority is not None:
                values["Priority"] = _PRIORITY[u.priority]
            if u.due_on is not None:
                values["ActivityDate"] = u.due_on.isoformat()
            if u.body is not None:
                values["Description"] = u.body[:DESCRIPTION_MAX]
            if u.close:
                values["Status"] = self.closed_status
            if u.crm_id is None:
                error = "no Salesforce Id for this task (not read back yet): reconcile first"
                ready.append(WriteResult(key=u.key, crm_id=None, state=LedgerState.failed, error=error))
            elif not values:  # nothing to change
                ready.append(WriteResult(key=u.key, crm_id=u.crm_id, state=LedgerState.confirmed))
            else:
                ready.append(None)
                sent.append((u.key, {"Id": u.crm_id, **values}))
        return _merge(ready, self._update("Task", sent))

    def write_fields(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        ready: list[WriteResult | None] = []
        sent: list[tuple[str, dict[str, Any]]] = []
        for w in writes:
            values = {
                self.account_fields[name]: _field_value(name, value)
                for name, value in w.values.items()
                if name in self.account_fields  # not owned: never written
            }
            if values:
                ready.append(None)
                sent.append((w.key, {"Id": w.account_id, **values}))
            else:
                ready.append(WriteResult(key=w.key, crm_id=w.account_id, state=LedgerState.confirmed))
        return _merge(ready, self._update("Account", sent))

    def _update(self, sobject: str, keyed: Sequence[tuple[str, dict[str, Any]]]) -> list[WriteResult]:
        """One Collections update of ``(key, record)`` pairs (none: no call)."""
        if not keyed:
            return []
        results = self.client.update_collection(sobject, [record for _, record in keyed])
        return _results([key for key, _ in keyed], results, [record["Id"] for _, record in keyed])

    # -- who changed what -----------------------------------------------------------------------

    def integration_user(self) -> str | None:
        """The API user's Id: configured, else the session's identity, else the creator of any
        task carrying the sync key (one query, remembered; None while upsync has no task)."""
        if self._integration_user:
            return self._integration_user
        if self.client.identity_user_id:
            return self.client.identity_user_id
        rows = self.client.query_all(Soql(CREATOR_SOQL, {"key": self.key_field}), stream="read Task")
        if rows and rows[0].get("CreatedById"):
            self._integration_user = str(rows[0]["CreatedById"])
        return self._integration_user

    def edit_sources(
        self, kind: Literal["tasks", "accounts"], ids: Mapping[str, Sequence[str]]
    ) -> dict[str, EditSource]:
        """Who last modified each record (``LastModifiedById``): the integration user is upsync,
        anyone else a person. Record-level: Salesforce keeps no per-field author without field
        history tracking."""
        sobject = "Task" if kind == "tasks" else "Account"
        wanted = list(ids)
        if not wanted:
            return {}
        me = self.integration_user()
        if me is None:
            log.warning("the integration user's Id is unknown: set salesforce.integration_user_id")
        out: dict[str, EditSource] = {}
        for start in range(0, len(wanted), COLLECTION_MAX):
            chunk = wanted[start : start + COLLECTION_MAX]
            query = Soql(MODIFIED_BY_SOQL, {"sobject": sobject, "ids": list(chunk)})
            for row in self.client.query_all(query, stream=f"read {sobject}"):
                who = str(row.get("LastModifiedById") or "") or None
                at = parse_utc(row["LastModifiedDate"]) if row.get("LastModifiedDate") else None
                origin: Literal["upsync", "person"] = "upsync" if who is not None and who == me else "person"
                out[str(row["Id"])] = EditSource(origin=origin, who=who, at=at)
        return out

    # -- schema -------------------------------------------------------------------------------

    def check_schema(self) -> SchemaReport:
        """Describe Account and Task: every mapped Account field exists, writable, with a type
        that holds what upsync writes; every Account field the config has the pull read exists
        (else the pull fails with INVALID_FIELD); the Task sync key exists and is an External ID."""
        present: list[str] = []
        missing: list[str] = []
        steps: list[str] = []
        account = _fields(self.client.describe("Account")["fields"])
        for name, api in self.account_fields.items():
            types, kind = _FIELD_TYPES[name]
            where = f"Account.{api} ({name})"
            new_field = (
                f"Setup → Object Manager → Account → Fields & Relationships → New → {kind}, "
                f"Field Label '{_label(api)}', API name {api}; give the integration user Edit access"
            )
            spec = account.get(api.lower())
            if spec is None:
                missing.append(f"{where}: not found")
                steps.append(new_field)
            elif spec.get("type") not in types:
                missing.append(f"{where}: type {spec.get('type')}, upsync writes {kind}")
                steps.append(f"{new_field} (or map {name} to another field in [salesforce.account_fields])")
            elif not spec.get("updateable", True) or spec.get("calculated"):
                missing.append(f"{where}: not writable by the integration user")
                steps.append(
                    f"Setup → Object Manager → Account → Fields & Relationships → {api} → Set Field-Level "
                    "Security: Visible and not Read-Only for the integration user's profile"
                )
            else:
                present.append(where)
        for key_path, api in self.read_fields.items():
            where = f"Account.{api} ({key_path}, read)"
            if api.lower() in account:
                present.append(where)
                continue
            missing.append(f"{where}: not found, or not visible to the integration user")
            off = key_path.split(".", 1)[1]
            steps.append(
                f"create Account.{api} (Setup → Object Manager → Account → Fields & Relationships → New) and give the "
                "integration user Read access, or "
                + (
                    f"set {key_path} to the field that holds it"
                    if off == "workspace_field"
                    else f"switch it off: {off} = false"
                )
                + " in [salesforce]"
            )
        extra = check_report(
            self.extra_fields,
            account.values(),
            types=SALESFORCE_TYPES,
            path="salesforce.extra_fields.Account",
            owner="Account",
        )
        present.extend(extra[0])
        missing.extend(extra[1])
        steps.extend(extra[2])
        task = _fields(self.client.describe("Task")["fields"])
        key = task.get(self.key_field.lower())
        where = f"Task.{self.key_field} (sync key)"
        if key is None or not key.get("externalId"):
            missing.append(f"{where}: {'not found' if key is None else 'not an External ID'}")
            steps.append(
                "Setup → Object Manager → Activity → Fields & Relationships → "
                + ("New → Text(80)" if key is None else f"{self.key_field} → Edit")
                + f", Field Label '{_label(self.key_field)}', API name {self.key_field}, "
                "check External ID and Unique; give the integration user Edit access"
            )
        else:
            present.append(where)
        return SchemaReport(present=tuple(present), missing=tuple(missing), instructions=tuple(steps))

    def setup_schema(self) -> SchemaReport:
        """Salesforce's REST API cannot create custom fields (that is the Metadata API, and an
        admin's decision): report what is there and what an admin must add."""
        return self.check_schema()

    def list_tasks(self) -> list[dict[str, Any]]:
        query = Soql(TASKS_SOQL, {"key": self.key_field})
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
            for r in self.client.query_all(query, stream="read Task")
        ]


def _fields(described: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Describe fields by lower-cased API name (Salesforce field names are case-insensitive)."""
    return {str(f.get("name", "")).lower(): f for f in described}


def _field_value(name: str, value: Any) -> Any:
    """A FieldWrite value as the Account field takes it: numbers as JSON numbers, ``as_of`` as a
    UTC datetime with millis, text as is; None clears the field."""
    if value is None:
        return None
    if name in _NUMBERS:
        return float(value)
    if name == "as_of":
        return utc_millis(value if isinstance(value, datetime) else parse_utc(value))
    return str(value)
