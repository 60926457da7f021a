"""Deterministic keys: the same rule on the same account in the same period is the same task forever."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Literal

from core.records import (
    Scalar,
)

Window = Literal["week", "month", "quarter"]


CALENDAR: tuple[Window, ...] = ("week", "month", "quarter")
"""Calendar windows; any other window names a date feature (the period is that date)."""


def period_of(window: str, as_of: datetime) -> str:
    """The idempotency period of a calendar window containing ``as_of``: ``2026-W48``, ``2026-11``
    or ``2026-Q4`` (a date-anchored window's period is its date: :func:`anchored_period`)."""
    day = as_of.date()
    if window == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if window == "month":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def op_key(rule_id: str, system: str, account_id: str, period: str) -> str:
    """Deterministic idempotency key of one task (40 hex chars: fits any CRM text field)."""
    return hashlib.sha256(f"{rule_id}|{system}:{account_id}|{period}".encode()).hexdigest()[:40]


LOOKBACK_DAYS = 400
"""How far back a task found in the CRM is matched to the rule and period that made it."""


def recent_periods(as_of: datetime, *, days: int = LOOKBACK_DAYS) -> dict[str, list[str]]:
    """Every period of each calendar window from ``as_of`` back ``days`` days, newest first."""
    out: dict[str, list[str]] = {}
    for window in CALENDAR:
        periods = dict.fromkeys(period_of(window, as_of - timedelta(days=d)) for d in range(days + 1))
        out[window] = list(periods)
    return out


def identify(
    key: str,
    system: str,
    account_id: str,
    rules: Iterable[tuple[str, str]],
    periods: Mapping[str, list[str]],
) -> tuple[str, str] | None:
    """(rule id, period) whose task on ``account_id`` has ``key``, among ``rules`` (id, window) and
    ``periods`` (:func:`recent_periods`, plus the account's dates for date-anchored windows);
    None when none does (a removed rule, an older period)."""
    for rule_id, window in rules:
        for period in periods.get(window, ()):
            if op_key(rule_id, system, account_id, period) == key:
                return rule_id, period
    return None


# -- date-anchored windows ---------------------------------------------------------------------


def anchored_period(value: object) -> str | None:
    """A date-anchored window's period: the date's ISO text (``2027-03-31``), None when unknown."""
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        return None


def field_key(system: str, account_id: str, values: Mapping[str, Scalar]) -> str:
    """The key of one field write: the account and the exact values (a retry is the same write)."""
    text = json.dumps(sorted(values.items()), default=str)
    return "f" + hashlib.sha256(f"{system}:{account_id}|{text}".encode()).hexdigest()[:39]


def rule_hash(source: object) -> str:
    """A short hash of a rule's text: provenance shows when a task came from an older version."""
    return hashlib.sha256(repr(source).encode()).hexdigest()[:12]
