"""Native HubSpot tasks and upsync's own company properties, through the CRM batch APIs.

Tasks are batch-created with the task→company association and a sync-key property; every input
carries ``objectWriteTraceId`` = its key, so an input HubSpot refuses comes back in a 207
multi-status while the rest are created (developers.hubspot.com/docs/api-reference/error-handling,
"Multi-status errors"). Later changes and the company properties are batch updates by id.
Property history (``propertiesWithHistory``) tells upsync's writes (``INTEGRATION``) from a
person's (``CRM_UI``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Literal

from connectors.columns import parse_utc, utc_millis
from connectors.extra_fields import HUBSPOT_TYPES, check_report
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.settings import HubSpotSettings
from core.records import EditSource, FieldWrite, LedgerState, SchemaReport, TaskIntent, TaskUpdate, WriteResult

__all__ = ["HubSpotTaskWriter", "task_body_html"]

_PRIORITY = {"high": "HIGH", "normal": "MEDIUM", "low": "LOW"}
BATCH_MAX = 100
"""Batch create/update/read take at most 100 inputs (CRM objects batch API reference)."""
HISTORY_BATCH_MAX = 50
"""A batch read with ``propertiesWithHistory`` takes at most 50 inputs: HubSpot answers 400 "The
maximum number of inputs supported in a batch request for property histories is 50"
(PipedreamHQ/pipedream#8462)."""
BODY_MAX = 65_536
IN_MAX = 100
"""The most values one IN filter takes."""
SEARCH_BODY_MAX = 3_000
"""CRM search refuses a request body over 3,000 characters: a keyed lookup is cut to fit."""
ERROR_MAX = 500
TASK_PROPERTIES = {
    "subject": "hs_task_subject",
    "body": "hs_task_body",
    "due_on": "hs_timestamp",
    "priority": "hs_task_priority",
    "owner_id": "hubspot_owner_id",
    "status": "hs_task_status",
}
"""The task properties behind the canonical names ``edit_sources`` is asked about."""
_PROPERTY_TYPES: dict[str, tuple[str, str, str]] = {
    "health_score": ("number", "number", "Number"),
    "health_band": ("string", "text", "Single-line text"),
    "expansion_score": ("number", "number", "Number"),
    "next_best_action": ("string", "text", "Single-line text"),
    "last_signal": ("string", "text", "Single-line text"),
    "playbook_url": ("string", "text", "Single-line text"),
    "as_of": ("datetime", "date", "Date and time picker"),
}
"""Canonical field → (property type, fieldType, the field type's name in HubSpot's settings)."""
_NUMBERS = frozenset({"health_score", "expansion_score"})


def task_body_html(text: str) -> str:
    """Plain text → safe HTML for ``hs_task_body``: every value escaped, URLs made links."""
    lines = []
    for line in text.split("\n"):
        escaped = html.escape(line, quote=True)
        words = [f'<a href="{w}">{w}</a>' if w.startswith(("https://", "http://")) else w for w in escaped.split(" ")]
        lines.append(" ".join(words))
    return "<p>" + "<br>".join(lines) + "</p>"


def _due(day: date) -> str:
    """A task's ``hs_timestamp``: 09:00 UTC on its due day."""
    return utc_millis(datetime.combine(day, time(9, 0), timezone.utc))


def _error_text(error: Mapping[str, Any]) -> str:
    """A StandardError as ``CATEGORY: message (CODE, …)``, within the ledger's 500 characters."""
    codes = [str(d.get("code")) for d in error.get("errors") or [] if isinstance(d, Mapping) and d.get("code")]
    text = f"{error.get('category') or 'ERROR'}: {error.get('message') or 'refused'}"
    if codes:
        text += f" ({', '.join(codes)})"
    return text[:ERROR_MAX]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A batch response by item: written (trace id / object id → id) and refused (→ error). A
    refusal names its input by trace id, by object id, or only by its position in the batch
    (``context.inputIndex``, zero-based): each is matched, so no reason is lost."""

    written_traces: dict[str, str]
    written_ids: set[str]
    refused_traces: dict[str, str]
    refused_ids: dict[str, str]
    refused_positions: dict[int, str]

    @classmethod
    def of(
        cls, results: Iterable[Mapping[str, Any]], errors: Iterable[Mapping[str, Any]], key_property: str | None = None
    ) -> _Outcome:
        traces: dict[str, str] = {}
        ids: set[str] = set()
        for r in results:
            trace = r.get("object_write_trace_id") or (
                (r.get("properties") or {}).get(key_property) if key_property else None
            )
            if trace:
                traces[str(trace)] = str(r["id"])
            ids.add(str(r["id"]))
        refused_traces: dict[str, str] = {}
        refused_ids: dict[str, str] = {}
        refused_positions: dict[int, str] = {}
        for e in errors:
            context = e.get("context") or {}
            for trace in context.get("objectWriteTraceId") or []:
                refused_traces[str(trace)] = _error_text(e)
            for object_id in context.get("ids") or []:
                refused_ids[str(object_id)] = _error_text(e)
            for position in context.get("inputIndex") or []:
                if str(position).isdigit():
                    refused_positions[int(position)] = _error_text(e)
        return cls(traces, ids, refused_traces, refused_ids, refused_positions)

    def result(self, key: str, object_id: str | None, position: int) -> WriteResult:
        """What happened to the item written as ``key`` (trace id) on ``object_id`` (None: a create),
        the ``position``-th input of its batch."""
        if key in self.written_traces:
            return WriteResult(key=key, crm_id=self.written_traces[key], state=LedgerState.confirmed)
        if object_id is not None and object_id in self.written_ids:
            return WriteResult(key=key, crm_id=object_id, state=LedgerState.confirmed)
        error = self.refused_traces.get(key) or (self.refused_ids.get(object_id) if object_id else None)
        error = error or self.refused_positions.get(position)
        if error is not None:
            return WriteResult(key=key, crm_id=object_id, state=LedgerState.failed, error=error)
        return WriteResult(key=key, crm_id=object_id, state=LedgerState.unknown, error="missing from batch response")


@dataclass(frozen=True, slots=True)
class _Need:
    """One thing upsync writes to, and what ``check_schema`` found."""

    object_type: Literal["companies", "tasks"]
    name: str  # property (or group) name
    label: str
    type: str  # property type; "group" for the property group
    field_type: str
    state: Literal["present", "absent", "wrong"]
    problem: str = ""
    instruction: str = ""

    @property
    def where(self) -> str:
        what = "property group" if self.type == "group" else "property"
        return f"{self.object_type} {what} {self.name}"


class HubSpotTaskWriter:
    """Creates tasks in batches of 100 (the sync key lets a later run find what a crash hid),
    updates them and the owned company properties by id, and reads property history to tell
    upsync's own edits from everyone else's."""

    system = "hubspot"
    batch_size = BATCH_MAX

    def __init__(self, client: HubSpotClient, settings: HubSpotSettings) -> None:
        self.client = client
        self.key_property = settings.sync_key_property
        self.company_properties = dict(settings.company_properties)
        self.closed_status = settings.task_closed_status
        self.group = settings.property_group
        self.read_properties = settings.read_properties()
        self.extra_properties = settings.extra_names()

    def find(self, keys: Mapping[str, str | None] | Sequence[str]) -> dict[str, str]:
        """Tasks already in HubSpot for these keys (or key → the company it belongs to): key → task id.

        CRM search answers first, in requests that fit its limits. Search lags writes by seconds,
        so a key it does not show is looked for again where it cannot hide: among the tasks
        associated with its company (associations and batch reads are not search), so a write
        whose answer was lost a moment ago is never taken for one that never happened.
        """
        accounts = dict(keys) if isinstance(keys, Mapping) else dict.fromkeys(keys)
        found: dict[str, str] = {}
        for chunk in self._search_chunks(list(accounts)):
            filters = [{"propertyName": self.key_property, "operator": "IN", "values": chunk}]
            for page in self.client.search_all("tasks", filters, [self.key_property], stream="read tasks"):
                for task in page:
                    found[str(task["properties"][self.key_property])] = str(task["id"])
        hidden = {k: a for k, a in accounts.items() if k not in found and a}
        if hidden:
            found.update(self._by_company(hidden))
        return found

    def _search_chunks(self, keys: list[str]) -> Iterator[list[str]]:
        """Keys in groups whose search request stays within HubSpot's body and IN limits."""
        base = len(json.dumps(self._search_body([])))
        chunk: list[str] = []
        size = base
        for key in keys:
            cost = len(json.dumps(key)) + 2  # the quoted value and its separator
            if chunk and (len(chunk) >= IN_MAX or size + cost > SEARCH_BODY_MAX):
                yield chunk
                chunk, size = [], base
            chunk.append(key)
            size += cost
        if chunk:
            yield chunk

    def _search_body(self, values: list[str]) -> dict[str, Any]:
        filters = [{"propertyName": self.key_property, "operator": "IN", "values": values}]
        return {
            "filterGroups": [{"filters": filters}],
            "properties": [self.key_property],
            "limit": 200,
            "after": "x" * 12,
        }

    def _by_company(self, keys: Mapping[str, str]) -> dict[str, str]:
        """Keys among the tasks associated with their companies (consistent reads, not search)."""
        wanted = set(keys)
        linked = self.client.associations("companies", "tasks", sorted(set(keys.values())), stream="read tasks")
        task_ids = sorted({task_id for targets in linked.values() for task_id, _types in targets})
        found: dict[str, str] = {}
        for start in range(0, len(task_ids), BATCH_MAX):
            records, _missing = self.client.read_batch(
                "tasks", task_ids[start : start + BATCH_MAX], [self.key_property]
            )
            for record in records:
                key = (record.get("properties") or {}).get(self.key_property)
                if key in wanted:
                    found[str(key)] = str(record["id"])
        return found

    def create(self, tasks: Sequence[TaskIntent]) -> list[WriteResult]:
        inputs = []
        for t in tasks:
            props = {
                "hs_timestamp": _due(t.due_on),
                "hs_task_subject": t.subject[:255],
                "hs_task_body": (t.body_html or task_body_html(t.body))[:BODY_MAX],
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": _PRIORITY[t.priority],
                "hs_task_type": "TODO",
                "hubspot_owner_id": t.owner_id or "",
                self.key_property: t.key,
            }
            inputs.append((props, t.account_id, t.key))
        created, errors = self.client.create_tasks(inputs)
        outcome = _Outcome.of(created, errors, self.key_property)
        return [outcome.result(t.key, None, i) for i, t in enumerate(tasks)]

    def update(self, updates: Sequence[TaskUpdate]) -> list[WriteResult]:
        ready: list[WriteResult | None] = []
        sent: list[tuple[str, dict[str, str], str]] = []
        for u in updates:
            props: dict[str, str] = {}
            if u.owner_id is not None:
                props["hubspot_owner_id"] = u.owner_id
            if u.priority is not None:
                props["hs_task_priority"] = _PRIORITY[u.priority]
            if u.due_on is not None:
                props["hs_timestamp"] = _due(u.due_on)
            if u.body_html:
                props["hs_task_body"] = u.body_html[:BODY_MAX]
            elif u.body is not None:
                props["hs_task_body"] = task_body_html(u.body)[:BODY_MAX]
            if u.close:
                props["hs_task_status"] = self.closed_status
            if u.crm_id is None:
                error = "no HubSpot id for this task (not read back yet): reconcile first"
                ready.append(WriteResult(key=u.key, crm_id=None, state=LedgerState.failed, error=error))
            elif not props:  # nothing to change
                ready.append(WriteResult(key=u.key, crm_id=u.crm_id, state=LedgerState.confirmed))
            else:
                ready.append(None)
                sent.append((u.crm_id, props, u.key))
        return _merge(ready, self._update("tasks", sent))

    def write_fields(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        ready: list[WriteResult | None] = []
        sent: list[tuple[str, dict[str, str], str]] = []
        for w in writes:
            props = {
                self.company_properties[name]: _property_value(name, value)
                for name, value in w.values.items()
                if name in self.company_properties  # not owned: never written
            }
            if props:
                ready.append(None)
                sent.append((w.account_id, props, w.key))
            else:
                ready.append(WriteResult(key=w.key, crm_id=w.account_id, state=LedgerState.confirmed))
        return _merge(ready, self._update("companies", sent))

    def _update(self, object_type: str, sent: Sequence[tuple[str, dict[str, str], str]]) -> list[WriteResult]:
        """One batch update of ``(id, properties, key)`` (none: no call); the key is the trace id."""
        if not sent:
            return []
        updated, errors = self.client.update_batch(object_type, sent)
        outcome = _Outcome.of(updated, errors)
        return [outcome.result(key, object_id, i) for i, (object_id, _, key) in enumerate(sent)]

    # -- who changed what -----------------------------------------------------------------------

    def edit_sources(
        self, kind: Literal["tasks", "accounts"], ids: Mapping[str, Sequence[str]]
    ) -> dict[str, EditSource]:
        """The newest history entry among each record's named properties decides: ``INTEGRATION``
        is upsync, ``CRM_UI`` a person (``userId:…``), anything else (import, workflow, batch
        update) is reported by its source type. Records without history are left out."""
        object_type = "tasks" if kind == "tasks" else "companies"
        mapping = TASK_PROPERTIES if kind == "tasks" else self.company_properties
        wanted = {crm_id: [mapping[n] for n in names if n in mapping] for crm_id, names in ids.items()}
        wanted = {crm_id: props for crm_id, props in wanted.items() if props}
        order = list(wanted)
        out: dict[str, EditSource] = {}
        for start in range(0, len(order), HISTORY_BATCH_MAX):
            chunk = order[start : start + HISTORY_BATCH_MAX]
            names = sorted({p for crm_id in chunk for p in wanted[crm_id]})
            records, _missing = self.client.read_batch(object_type, chunk, names, with_history=names)
            for record in records:
                crm_id = str(record["id"])
                history = record.get("properties_with_history") or {}
                entries = [e for p in wanted.get(crm_id, ()) for e in history.get(p) or []]
                source = _newest(entries)
                if source is not None:
                    out[crm_id] = source
        return out

    # -- schema -------------------------------------------------------------------------------

    def check_schema(self) -> SchemaReport:
        """The property group and every property upsync writes, on companies and tasks (four
        reads of the properties API)."""
        needs = self._inspect()
        read_present, read_missing, read_steps = self._read_check()
        return SchemaReport(
            present=tuple(n.where for n in needs if n.state == "present") + read_present,
            missing=tuple(f"{n.where}: {n.problem}" for n in needs if n.state != "present") + read_missing,
            instructions=tuple(n.instruction for n in needs if n.state != "present") + read_steps,
        )

    def _read_check(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(present, missing, what to do) for the company properties the pull reads because the
        config names them: HubSpot's search would otherwise leave a missing one out silently, and
        every account would look as if it had no value. upsync does not create them: they hold
        the customer's own data."""
        if not self.read_properties and not self.extra_properties:
            return (), (), ()
        schema = self.client.properties("companies")
        props = {str(p.get("name")) for p in schema}
        extra = check_report(
            self.extra_properties,
            schema,
            types=HUBSPOT_TYPES,
            path="hubspot.extra_properties.companies",
            owner="companies",
        )
        present, missing, steps = list(extra[0]), list(extra[1]), list(extra[2])
        for key_path, name in self.read_properties.items():
            where = f"Company property {name} ({key_path}, read)"
            if name in props:
                present.append(where)
                continue
            missing.append(f"{where}: not found")
            off = key_path.split(".", 1)[1]
            steps.append(
                f"create the company property {name} (Settings → Properties → Company properties → Create property), "
                + (
                    f"or set {key_path} to the property that holds it"
                    if off == "workspace_property"
                    else f"or switch it off: {off} = false"
                )
                + " in [hubspot]"
            )
        return tuple(present), tuple(missing), tuple(steps)

    def setup_schema(self) -> SchemaReport:
        """Create the missing group (companies and tasks) and properties; a property that exists
        with the wrong type is left for an admin (changing a type can lose values)."""
        needs = self._inspect()
        created: list[str] = []
        for need in sorted((n for n in needs if n.state == "absent"), key=lambda n: n.type != "group"):
            if need.type == "group":
                made = self.client.create_group(need.object_type, need.name, need.label)
            else:
                made = self.client.create_property(
                    need.object_type,
                    {
                        "name": need.name,
                        "label": need.label,
                        "type": need.type,
                        "field_type": need.field_type,
                        "group_name": self.group,
                        "description": "Written by upsync",
                        "form_field": False,
                    },
                )
            if made:
                created.append(need.where)
        left = [n for n in needs if n.state == "wrong"]
        there = [n.where for n in needs if n.state == "present" or (n.state == "absent" and n.where not in created)]
        read_present, read_missing, read_steps = self._read_check()
        return SchemaReport(
            present=tuple(there) + read_present,  # an absent one not created: it appeared meanwhile (409)
            created=tuple(created),
            missing=tuple(f"{n.where}: {n.problem}" for n in left) + read_missing,
            instructions=tuple(n.instruction for n in left) + read_steps,
        )

    def _inspect(self) -> list[_Need]:
        needs: list[_Need] = []
        for object_type in ("companies", "tasks"):
            groups = {str(g.get("name")) for g in self.client.groups(object_type)}
            props = {str(p.get("name")): p for p in self.client.properties(object_type)}
            label = "Company" if object_type == "companies" else "Task"
            state: Literal["present", "absent"] = "present" if self.group in groups else "absent"
            needs.append(
                _Need(
                    object_type,
                    self.group,
                    "Upsync",
                    "group",
                    "",
                    state,
                    "not found",
                    f"run `upsync crm setup`, or in HubSpot: Settings → Properties → {label} properties → "
                    f"Groups → Create group '{self.group}'",
                )
            )
            wanted: list[tuple[str, str, str, str]] = []  # (name, type, field type, settings name)
            if object_type == "companies":
                for canonical, name in self.company_properties.items():
                    type_, field_type, shown = _PROPERTY_TYPES[canonical]
                    wanted.append((name, type_, field_type, shown))
            else:
                wanted.append((self.key_property, "string", "text", "Single-line text"))
            for name, type_, field_type, shown in wanted:
                nice = "Upsync " + name.removeprefix("upsync_").replace("_", " ")
                create = (
                    f"run `upsync crm setup`, or in HubSpot: Settings → Properties → {label} properties → "
                    f"Create property: group '{self.group}', label '{nice}', internal name {name}, field type {shown}"
                )
                found = props.get(name)
                meta = (found or {}).get("modification_metadata") or {}
                if found is None:
                    needs.append(_Need(object_type, name, nice, type_, field_type, "absent", "not found", create))
                elif found.get("type") != type_:
                    problem = f"type {found.get('type')}, upsync writes {type_}"
                    fix = (
                        f"in HubSpot: Settings → Properties → {label} properties → {name} → change its field type "
                        f"to {shown}, or map upsync to another property in [hubspot]"
                    )
                    needs.append(_Need(object_type, name, nice, type_, field_type, "wrong", problem, fix))
                elif found.get("calculated") or meta.get("read_only_value"):
                    fix = f"map upsync to a property it can write instead of {name} in [hubspot]"
                    needs.append(_Need(object_type, name, nice, type_, field_type, "wrong", "read-only", fix))
                else:
                    needs.append(_Need(object_type, name, nice, type_, field_type, "present"))
        return needs

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


def _merge(ready: Sequence[WriteResult | None], sent: Sequence[WriteResult]) -> list[WriteResult]:
    """Results in input order: the ones decided without a call, the call's in the gaps."""
    answers = iter(sent)
    return [r if r is not None else next(answers) for r in ready]


def _property_value(name: str, value: Any) -> str:
    """A FieldWrite value as HubSpot stores it: a string; numbers without a spurious ``.0``,
    ``as_of`` as ISO-8601 UTC; None clears the property ("")."""
    if value is None:
        return ""
    if name in _NUMBERS or isinstance(value, int | float):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if name == "as_of":
        return utc_millis(value if isinstance(value, datetime) else parse_utc(value))
    return str(value)


def _newest(entries: Iterable[Mapping[str, Any]]) -> EditSource | None:
    """The EditSource of the newest history entry (``ValueWithTimestamp`` dicts), or None."""
    best: tuple[datetime, Mapping[str, Any]] | None = None
    for entry in entries:
        raw = entry.get("timestamp")
        if raw is None:
            continue
        at = raw.astimezone(timezone.utc) if isinstance(raw, datetime) else parse_utc(raw)
        if best is None or at > best[0]:
            best = (at, entry)
    if best is None:
        return None
    at, entry = best
    source = str(entry.get("source_type") or "")
    if source == "INTEGRATION":
        return EditSource(origin="upsync", who=entry.get("source_id"), at=at)
    if source == "CRM_UI":
        return EditSource(origin="person", who=entry.get("source_id"), at=at)
    return EditSource(origin="other", who=source or None, at=at)
