"""Next best actions + ledger → the exact list of CRM task writes. Pure: same inputs, same plan.

Every task gets a deterministic key, ``sha256(rule | system:account | period)``: the same rule
firing on the same account within one period (its ``window``) is the same task, forever. The
ledger says what became of each key; the plan creates what is new, reconciles what may exist
(a crash between the CRM call and the ledger commit leaves ``pending``), and skips the rest
with a reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sync.records import Action, LedgerEntry, LedgerState, Priority, TaskIntent

__all__ = ["MAX_ATTEMPTS", "Plan", "Skip", "TaskRule", "op_key", "period_of", "plan_tasks", "render_body"]

MAX_ATTEMPTS = 3
"""A write the CRM refused this many times is not tried again for the same period."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRule:
    """What a task needs from the rule that caused it."""

    id: str
    kind: str
    signal: str
    title: str
    priority: Priority
    due_in_days: int
    window: Literal["week", "month", "quarter"]
    playbook_title: str
    playbook_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    key: str
    rule_id: str
    account_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    creates: tuple[TaskIntent, ...] = ()
    reconciles: tuple[TaskIntent, ...] = ()
    skipped: tuple[Skip, ...] = ()

    @property
    def writes(self) -> tuple[TaskIntent, ...]:
        return self.reconciles + self.creates


def period_of(window: Literal["week", "month", "quarter"], now: datetime) -> str:
    """The idempotency period containing ``now``: ``2026-W48``, ``2026-11`` or ``2026-Q4``."""
    day = now.date()
    if window == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if window == "month":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def op_key(rule_id: str, system: str, account_id: str, period: str) -> str:
    """Deterministic idempotency key of one task (40 hex chars: fits any CRM text field)."""
    return hashlib.sha256(f"{rule_id}|{system}:{account_id}|{period}".encode()).hexdigest()[:40]


def render_body(rule: TaskRule, action: Action, key: str) -> str:
    """The task body: why now (the values), what else coincides, the playbook, and the key (G8)."""
    signal = f"{rule.signal} " if rule.signal else ""
    lines = ["Why now:", *(f"- {r}" for r in action.reasons)]
    lines += [
        f"Signal: {signal}{rule.title} (rule {rule.id}, {rule.kind}); lifecycle {action.lifecycle}.",
        f"Owner: {action.owner_note}.",
        f"Playbook: {rule.playbook_title} - {rule.playbook_url}",
        "",
        f"Created by upsync; sync key {key}.",
    ]
    return "\n".join(lines)


def plan_tasks(
    actions: Iterable[Action],
    rules: Mapping[str, TaskRule],
    ledger: Mapping[str, LedgerEntry],
    *,
    now: datetime,
) -> Plan:
    """One task per next best action, unless its key is already written, refused too often, or
    the action has no owner to give it to."""
    creates: list[TaskIntent] = []
    reconciles: list[TaskIntent] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for action in actions:
        rule = rules[action.rule_id]
        period = period_of(rule.window, now)
        key = op_key(rule.id, action.system, action.account_id, period)
        if key in seen:
            continue
        seen.add(key)
        entry = ledger.get(key)
        if entry is not None and entry.state is LedgerState.confirmed:
            skipped.append(Skip(key=key, rule_id=rule.id, account_id=action.account_id, reason="already written"))
            continue
        if entry is not None and entry.state is LedgerState.failed and entry.attempts >= MAX_ATTEMPTS:
            reason = f"refused {entry.attempts} times by the CRM: {entry.last_error or 'no reason given'}"
            skipped.append(Skip(key=key, rule_id=rule.id, account_id=action.account_id, reason=reason))
            continue
        if action.owner_id is None:
            skipped.append(Skip(key=key, rule_id=rule.id, account_id=action.account_id, reason=action.owner_note))
            continue
        intent = TaskIntent(
            key=key,
            rule_id=rule.id,
            system=action.system,
            account_id=action.account_id,
            owner_id=action.owner_id,
            subject=action.subject[:255],
            body=render_body(rule, action, key),
            due_on=now.date() + timedelta(days=rule.due_in_days),
            priority=rule.priority,
            playbook_url=rule.playbook_url,
            window=period,
            evidence=dict(action.evidence),
        )
        if entry is not None and entry.state in (LedgerState.pending, LedgerState.unknown):
            reconciles.append(intent)
        else:
            creates.append(intent)
    return Plan(creates=tuple(creates), reconciles=tuple(reconciles), skipped=tuple(skipped))
