"""The planner's values: what a task needs from its rule, the CRM's state, the write policy, the plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from core.records import (
    FIELD_NAMES,
    AccountState,
    CrmTask,
    EditSource,
    FieldMemo,
    FieldWrite,
    LedgerState,
    Priority,
    TaskIntent,
    TaskUpdate,
)
from rules.guards import FrequencyCap
from rules.playbooks import Playbook

MAX_ATTEMPTS = 3
"""A write the CRM refused this many times is not tried again for the same period."""

EDIT_SLACK = timedelta(minutes=2)
"""A task modified this long after upsync's last write was touched by someone else (or the CRM)."""

OPEN = (LedgerState.confirmed,)
LIVE = (LedgerState.confirmed, LedgerState.pending, LedgerState.unknown)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRule:
    """What a task needs from the rule that caused it."""

    id: str
    kind: str
    signal: str
    title: str
    priority: Priority
    due_in_days: int
    window: str  # week, month, quarter, or a date feature (one task per distinct date)
    playbook: Playbook
    hash: str = ""
    cap: FrequencyCap | None = None  # G2 as it applies to this rule: the plan counts this cycle's tasks too
    control_share: float = 0.0
    """Share of ripe accounts per window kept without a task (its control group, :mod:`rules.plan.control`)."""

    @property
    def playbook_url(self) -> str:
        return self.playbook.url


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmState:
    """The CRM as upsync knows it before planning: its own tasks, its own fields, and, for the
    few records whose values moved since upsync wrote them, who moved them."""

    tasks: Mapping[str, CrmTask] = field(default_factory=dict)
    accounts: Mapping[str, AccountState] = field(default_factory=dict)
    fields: Mapping[tuple[str, str], FieldMemo] = field(default_factory=dict)
    task_edits: Mapping[str, EditSource] = field(default_factory=dict)  # by task CRM id
    account_edits: Mapping[str, EditSource] = field(default_factory=dict)  # by account id
    labels: Mapping[str, str] = field(default_factory=dict)  # the extra fields' CRM labels (crm.<name>)


@dataclass(frozen=True, slots=True, kw_only=True)
class WritePolicy:
    """What upsync may write: ``[writeback]`` (whose defaults are these), the fields this CRM's
    config declares as upsync's, and the cycle's verdict on tasks (``held_because``: why none
    may be created as_of)."""

    tasks: bool = True
    held_because: str = ""
    fields: bool = True
    owned_fields: tuple[str, ...] = FIELD_NAMES
    owner_weekly_budget: int = 15
    on_clear: Literal["close", "leave"] = "close"
    update_open_tasks: bool = True
    first_run_tasks: bool = False
    tasks_per: Literal["window", "account"] = "window"
    """``window``: every ripe rule gets its own task in its own window; ``account``: one next best
    action per account at a time (the next ripe rule gets its task once that one is closed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    key: str
    rule_id: str
    account_id: str
    reason: str
    owner_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """A task or field a person changed: upsync leaves it alone, and records why."""

    kind: Literal["task", "field"]
    account_id: str
    target: str  # the task key, or the canonical field name
    value: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Adoption:
    """A task the CRM already holds under its key (read back by the pull) that the ledger does not
    know as written: a lost, restored or fresh state, or a write whose answer was lost. It is
    recorded as upsync's, never created again. ``intent`` is set when the ledger has no row for it."""

    key: str
    crm_id: str
    intent: TaskIntent | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlRecord:
    """An account kept in a rule's control group for one window (:mod:`rules.plan.control`), and
    the day its task would have been created: what the report's lift compares against."""

    system: str
    rule_id: str
    account_id: str
    period: str
    day: date


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    creates: tuple[TaskIntent, ...] = ()
    reconciles: tuple[TaskIntent, ...] = ()
    adopted: tuple[Adoption, ...] = ()
    lookups: tuple[str, ...] = ()  # unconfirmed writes no action asks for any more: found, or let go
    updates: tuple[TaskUpdate, ...] = ()
    fields: tuple[FieldWrite, ...] = ()
    skipped: tuple[Skip, ...] = ()
    holds: tuple[Hold, ...] = ()
    landed: tuple[tuple[str, str], ...] = ()  # (account, field): a pending write the CRM shows as done
    controls: tuple[ControlRecord, ...] = ()  # control accounts to record (only when tasks may be created)

    @property
    def writes(self) -> tuple[TaskIntent, ...]:
        return self.reconciles + self.creates

    @property
    def closes(self) -> tuple[TaskUpdate, ...]:
        return tuple(u for u in self.updates if u.close)

    @property
    def empty(self) -> bool:
        return not (self.creates or self.reconciles or self.adopted or self.lookups or self.updates or self.fields)
