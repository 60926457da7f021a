"""Signal rules: which accounts are ripe, with the values that decided it. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sync.records import AccountSnapshot, Priority, Signal

__all__ = ["RuleSpec", "evaluate", "seats_near_limit"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """One configured rule, as the pure core sees it (built from ``[[rules]]`` by the shell)."""

    id: str
    signal: Literal["S5"]
    kind: str
    threshold: float
    priority: Priority
    due_in_days: int
    window: Literal["week", "month", "quarter"]
    subject: str
    playbook_title: str
    playbook_url: str


def seats_near_limit(rule: RuleSpec, accounts: Iterable[AccountSnapshot], *, now: datetime) -> list[Signal]:
    """S5: seats used ≥ ``threshold`` × seats purchased.

    Purchased seats come from the CRM when it has them (the contract is the source of truth),
    else from the plan limit the usage API reports. Accounts without usage or without a limit
    never fire: no reason we can state, no task (G8).
    """
    signals = []
    today = now.date()
    for acct in accounts:
        limit = acct.seats_purchased or acct.seats_limit
        if not limit or acct.seats_used is None or acct.usage_day is None or acct.usage_day > today:
            continue
        utilisation = acct.seats_used / limit
        if utilisation + 1e-12 < rule.threshold:
            continue
        signals.append(
            Signal(
                rule_id=rule.id,
                system=acct.system,
                account_id=acct.crm_id,
                account_name=acct.name,
                owner_id=acct.owner_id,
                owner_active=acct.owner_active,
                evidence={
                    "seats_used": acct.seats_used,
                    "seats_limit": limit,
                    "utilisation": round(utilisation, 4),
                    "threshold": rule.threshold,
                    "usage_day": acct.usage_day.isoformat(),
                },
                observed_on=acct.usage_day,
            )
        )
    return signals


def evaluate(rules: Iterable[RuleSpec], accounts: Iterable[AccountSnapshot], *, now: datetime) -> list[Signal]:
    """Every rule over every account; signals in rule order, then account order."""
    snapshot = list(accounts)
    signals: list[Signal] = []
    for rule in rules:
        if rule.signal == "S5":
            signals.extend(seats_near_limit(rule, snapshot, now=now))
    return signals
