"""Shared value types that cross layers: records, cursors, signals, task intents, write results.

All are frozen, keyword-only dataclasses: plain values that the pure core takes and returns and
the shell stores or sends. Time is always tz-aware UTC; instants end in ``_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "CURSOR_STATE_VERSION",
    "FIELD_NAMES",
    "TEXT_MAX",
    "AccountState",
    "Action",
    "CrmTask",
    "CursorSpec",
    "CursorState",
    "Deletion",
    "EditSource",
    "FieldMemo",
    "FieldWrite",
    "LedgerEntry",
    "LedgerState",
    "Provenance",
    "Record",
    "Scalar",
    "SchemaReport",
    "TaskIntent",
    "TaskUpdate",
    "Window",
    "WriteResult",
    "normalise",
]

CURSOR_STATE_VERSION = 1

System = Literal["salesforce", "hubspot"]
Priority = Literal["high", "normal", "low"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CursorSpec:
    """How a stream reads incrementally (dlt's vocabulary): field, tie-break key, lookback."""

    field: str
    tie_breaker: str
    lookback: timedelta
    initial_value: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CursorState:
    """The saved position of one stream: the highest (timestamp, key) committed so far."""

    version: int = CURSOR_STATE_VERSION
    last_value: datetime
    last_key: str = ""
    pass_id: str | None = None  # a full pass in progress: its id (records it saw carry it)
    window_end: datetime | None = None  # a full pass in progress: the end of its window
    full_at: datetime | None = None  # when the last full pass of this stream completed


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """Records with ``start <= cursor < end``: inclusive start, the run's signpost as end."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One record of one canonical kind (``core.canonical.KINDS``), from one system.

    ``values`` holds the kind's columns (keys included); ``key`` and ``cursor_value`` give the
    stream's (timestamp, id) position. ``object_type`` is the CRM's name of the record's type
    (``tasks``, ``Task``): a kind gathering several types is keyed by it. A record with
    ``deleted`` set stops contributing to signals but stays stored.
    """

    kind: str
    system: str
    key: str
    cursor_value: datetime
    values: Mapping[str, Any]
    deleted: bool = False
    object_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Deletion:
    """A record the source says is gone (Salesforce getDeleted, HubSpot archive), of one object type."""

    kind: str
    system: str
    crm_id: str
    deleted_at: datetime
    object_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """The next best action on one account (A8): which rule, worth what, for whom, and why.

    ``reasons`` say why now (G8): the rule's own reason first, then the rules coinciding with
    it; ``evidence`` holds the values that decided it.
    """

    system: System
    account_id: str
    account_name: str
    rule_id: str
    kind: str
    owner_id: str | None
    owner_note: str
    role: str
    lifecycle: str
    value: float
    score: float
    subject: str
    reasons: tuple[str, ...]
    supporting: tuple[str, ...] = ()
    evidence: Mapping[str, float | int | str | None] = field(default_factory=dict)
    owner_name: str | None = None  # the owner's name in the CRM's users, for the task body
    primary: bool = True  # the account's next best action (its fields); False: another ripe rule's own task
    offers: int = 0  # G2: proposals to the account within the rule's cap window before this cycle


Scalar = float | int | str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Why a change exists: the rule, a hash of the rule's text (a rule edited since is visible),
    the input values that decided it, and the moment it was decided for."""

    rule_id: str
    rule_hash: str
    as_of: datetime
    inputs: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskIntent:
    """One native CRM task upsync wants to exist, with its deterministic idempotency key.

    ``body`` is plain text (Salesforce ``Description``), ``body_html`` the same content as safe
    HTML (HubSpot ``hs_task_body``); both are already within the CRM's field limits.
    """

    key: str
    rule_id: str
    system: System
    account_id: str
    owner_id: str | None
    subject: str
    body: str
    due_on: date
    priority: Priority
    playbook_url: str | None
    window: str
    evidence: Mapping[str, float | int | str | None] = field(default_factory=dict)
    body_html: str = ""
    provenance: Provenance | None = None
    step: str | None = None  # a sequence's step id (A4 renewal), None for a single task


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskUpdate:
    """A change to a task upsync created and nobody else touched: reassign, re-prioritise, or
    close it (its signal cleared). Only the fields that are not None are written."""

    key: str
    crm_id: str | None
    rule_id: str
    system: System
    account_id: str
    owner_id: str | None = None
    priority: Priority | None = None
    due_on: date | None = None
    close: bool = False
    body: str | None = None
    body_html: str | None = None
    reason: str = ""
    provenance: Provenance | None = None


FIELD_NAMES = (
    "health_score",
    "health_band",
    "expansion_score",
    "next_best_action",
    "last_signal",
    "playbook_url",
    "as_of",
)
"""The account fields upsync can own (A2), by canonical name; config maps each to a CRM field."""

_NUMBER_PLACES = {"health_score": 1, "expansion_score": 0}
TEXT_MAX = 255


def normalise(name: str, value: object) -> str | None:
    """One field value as comparable text: the CRM gives back ``72.5``, ``"72.5"`` or ``72.50``
    for the same number, and ``""`` for empty; all must compare equal to what upsync meant."""
    if value is None or value == "":
        return None
    places = _NUMBER_PLACES.get(name)
    if places is not None:
        try:
            return f"{float(str(value)):.{places}f}"
        except ValueError:
            return str(value).strip()
    text = str(value).strip()
    return text[:TEXT_MAX] or None


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldWrite:
    """New values for some of upsync's own fields on one account (only the ones that changed).

    ``values`` is keyed by canonical name (:data:`FIELD_NAMES`): numbers as float, text as str,
    ``as_of`` as an ISO-8601 UTC string; None clears the field. ``key`` identifies this exact
    write (account and values) in the ledger.
    """

    key: str
    system: System
    account_id: str
    values: Mapping[str, Scalar]
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EditSource:
    """Who last changed a record's upsync-owned values: upsync itself (the integration user /
    an ``INTEGRATION`` history entry) or someone else (a person in the UI, an import, a workflow).
    Anything but ``upsync`` makes the record a person's: upsync leaves it alone."""

    origin: Literal["upsync", "person", "other"]
    who: str | None = None  # a user id, or the history entry's source ("CRM_UI userId:12")
    at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaReport:
    """What ``upsync crm check`` / ``crm setup`` found: present, created, and what is missing
    with the exact instruction an admin follows to add it."""

    present: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing


class LedgerState(StrEnum):
    """Life of one write in the ledger: recorded before the CRM call, settled by its answer."""

    pending = "pending"  # recorded before the CRM call: the CRM may or may not have it
    confirmed = "confirmed"  # the CRM answered with the record's id
    failed = "failed"  # the CRM refused it; nothing was created
    unknown = "unknown"  # the call failed ambiguously: reconcile by key before any re-create


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    key: str
    system: System
    rule_id: str
    account_id: str
    window: str
    state: LedgerState
    crm_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    owner_id: str | None = None
    priority: Priority | None = None
    due_on: date | None = None
    step: str | None = None
    body: str | None = None  # the plain-text body as written: a close note is appended to it
    created_at: datetime | None = None
    updated_at: datetime | None = None  # the last time upsync wrote this task
    closed_at: datetime | None = None  # upsync closed it (its signal cleared)
    held: str | None = None  # a person edited it: why upsync leaves it alone from now on
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    """What the CRM said about one task write."""

    key: str
    crm_id: str | None
    state: LedgerState
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmTask:
    """An upsync task as the last pull read it back from the CRM."""

    key: str
    crm_id: str
    account_id: str | None = None
    status: str | None = None
    is_closed: bool = False
    owner_id: str | None = None
    created_by: str | None = None
    last_modified_by: str | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountState:
    """upsync's own fields on one account as the last pull read them, and who changed the account last."""

    account_id: str
    current: Mapping[str, Scalar] = field(default_factory=dict)
    last_modified_by: str | None = None
    synced_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldMemo:
    """What upsync last wrote to one field of one account (the field ledger), or, once ``held``,
    the value a person put there (upsync leaves it alone while it stays)."""

    value: str | None
    state: LedgerState
    written_at: datetime
    held: str | None = None
