"""Signals + ledger → the exact list of CRM task writes. Pure: same inputs, same plan.

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

from rules.signals import RuleSpec
from sync.records import LedgerEntry, LedgerState, Signal, TaskIntent

__all__ = ["MAX_ATTEMPTS", "Plan", "Skip", "op_key", "period_of", "plan_tasks", "render_body"]

MAX_ATTEMPTS = 3
"""A write the CRM refused this many times is not tried again for the same period."""


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


def render_body(rule: RuleSpec, signal: Signal, key: str) -> str:
    """The task body: why now (the values), what to do, the playbook, and the key (G8)."""
    ev = signal.evidence
    lines = [
        f"Why now: {ev['seats_used']} of {ev['seats_limit']} seats in use ({float(ev['utilisation']):.0%}) "
        f"on {ev['usage_day']}, at or above the {float(ev['threshold']):.0%} line.",
        f"Signal: S5 usage near plan limit (rule {rule.id}, {rule.kind}).",
        "What to do: confirm growth plans with the account, then propose more seats or the next plan.",
        f"Playbook: {rule.playbook_title} - {rule.playbook_url}",
        "",
        f"Created by upsync; sync key {key}.",
    ]
    return "\n".join(lines)


def plan_tasks(
    signals: Iterable[Signal],
    rules: Mapping[str, RuleSpec],
    ledger: Mapping[str, LedgerEntry],
    *,
    now: datetime,
    fallback_owner_id: str | None,
) -> Plan:
    creates: list[TaskIntent] = []
    reconciles: list[TaskIntent] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for signal in signals:
        rule = rules[signal.rule_id]
        period = period_of(rule.window, now)
        key = op_key(rule.id, signal.system, signal.account_id, period)
        if key in seen:
            continue
        seen.add(key)
        entry = ledger.get(key)
        if entry is not None and entry.state is LedgerState.confirmed:
            skipped.append(Skip(key=key, rule_id=rule.id, account_id=signal.account_id, reason="already written"))
            continue
        if entry is not None and entry.state is LedgerState.failed and entry.attempts >= MAX_ATTEMPTS:
            reason = f"refused {entry.attempts} times by the CRM: {entry.last_error or 'no reason given'}"
            skipped.append(Skip(key=key, rule_id=rule.id, account_id=signal.account_id, reason=reason))
            continue
        owner = signal.owner_id if signal.owner_id and signal.owner_active is not False else fallback_owner_id
        if owner is None:
            why = "account owner is inactive" if signal.owner_id else "account has no owner"
            skipped.append(
                Skip(key=key, rule_id=rule.id, account_id=signal.account_id, reason=f"{why}; set fallback_owner_id")
            )
            continue
        ev = signal.evidence
        intent = TaskIntent(
            key=key,
            rule_id=rule.id,
            system=signal.system,
            account_id=signal.account_id,
            owner_id=owner,
            subject=rule.subject.format(
                utilisation=float(ev["utilisation"]),
                seats_used=ev["seats_used"],
                seats_limit=ev["seats_limit"],
                account=signal.account_name,
            )[:255],
            body=render_body(rule, signal, key),
            due_on=now.date() + timedelta(days=rule.due_in_days),
            priority=rule.priority,
            playbook_url=rule.playbook_url,
            window=period,
            evidence=dict(ev),
        )
        if entry is not None and entry.state in (LedgerState.pending, LedgerState.unknown):
            reconciles.append(intent)
        else:
            creates.append(intent)
    return Plan(creates=tuple(creates), reconciles=tuple(reconciles), skipped=tuple(skipped))
