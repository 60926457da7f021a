"""Deterministic keys: the same rule on the same account in the same period is the same task forever.

A task's key is readable: ``seats-near-limit|001Ak00000abcDEFGH|2026-06`` (rule, account, period;
a sequence step ``rule#step`` and its anchor date: ``renewal-sequence#share-case|…|2026-09-30``).
``|`` and ``#`` never occur in a rule or step id (kebab-case) nor in a period, so the key reads
back unambiguously. It fits the CRM's field: at most :data:`KEY_MAX` characters; a key that would
not is shortened in its rule part, which then carries a hash of the whole tuple
(``renewal-for-customers-on-the-a~3f9c0e12ab|…``) so two long rule ids never share a key.
Installations before readable keys wrote ``sha256(rule|system:account|period)[:40]``
(:func:`legacy_key`): the planner still recognises those (see :mod:`rules.plan.tasks`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from core.records import (
    Scalar,
)

KEY_MAX = 80
"""Salesforce's external-id Text field holds 80 characters at most (upsync's is Text(80)); HubSpot's
string property holds far more, and one format serves both."""
SEP = "|"
STEP_SEP = "#"
SHORTENED = "~"
HASH_LEN = 10
"""Hex characters of the tuple's hash in a shortened key: 40 bits, so two long rule ids on the
same account and period collide with a chance of one in a trillion."""
_RULE_MIN = 8
"""Fewer characters of the rule than this and the key is not worth reading: an opaque hash instead."""

Window = Literal["week", "month", "quarter"]


CALENDAR: tuple[Window, ...] = ("week", "month", "quarter")
EPISODE = "episode"
"""The window of a run of days a rule fires: its period is the day the run began (the signal log)."""


def episode_column(rule_id: str) -> str:
    """Features column holding the day the rule's current run began, per account (``window = "episode"``)."""
    return f"{EPISODE}:{rule_id}"


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


def _digest(rule_id: str, system: str, account_id: str, period: str) -> str:
    return hashlib.sha256(f"{rule_id}|{system}:{account_id}|{period}".encode()).hexdigest()


def op_key(rule_id: str, system: str, account_id: str, period: str) -> str:
    """The idempotency key of one task: ``rule|account|period`` (``rule_id`` may be ``rule#step``),
    within :data:`KEY_MAX`. The system only enters a shortened key's hash: the two CRMs' account
    ids never coincide (Salesforce's hold letters, HubSpot's are numbers)."""
    full = f"{rule_id}{SEP}{account_id}{SEP}{period}"
    if len(full) <= KEY_MAX:
        return full
    digest = _digest(rule_id, system, account_id, period)
    room = KEY_MAX - len(full) + len(rule_id) - len(SHORTENED) - HASH_LEN
    if room < _RULE_MIN:  # an account id or period no CRM has: unreadable, still unique
        return SHORTENED + digest[:40]
    return f"{rule_id[:room]}{SHORTENED}{digest[:HASH_LEN]}{SEP}{account_id}{SEP}{period}"


def legacy_key(rule_id: str, system: str, account_id: str, period: str) -> str:
    """The key upsync wrote before keys were readable (40 hex characters), still on older tasks."""
    return _digest(rule_id, system, account_id, period)[:40]


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a readable key says: ``rule`` is the whole rule id, or its first characters when
    ``shortened`` (then ``step`` may be cut off too)."""

    rule: str
    step: str | None
    account_id: str
    period: str
    shortened: bool = False


def parse_key(key: str) -> KeyParts | None:
    """The rule, step, account and period a readable key names; None for a legacy or opaque key."""
    head, sep, rest = key.partition(SEP)
    account_id, sep2, period = rest.rpartition(SEP)
    if not (sep and sep2 and head and account_id and period):
        return None
    shortened = SHORTENED in head
    rule_text = head.partition(SHORTENED)[0]
    rule, _, step = rule_text.partition(STEP_SEP)
    return KeyParts(rule=rule, step=step or None, account_id=account_id, period=period, shortened=shortened)


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
    ``periods`` (:func:`recent_periods`, plus the account's dates for date-anchored windows); None
    when none does (a removed rule, an older period, a sequence step, a key naming another
    account). A readable key is read; a legacy one is matched by computing every candidate's
    legacy key."""
    parts = parse_key(key)
    if parts is None:
        for rule_id, window in rules:
            for period in periods.get(window, ()):
                if legacy_key(rule_id, system, account_id, period) == key:
                    return rule_id, period
        return None
    if parts.account_id != account_id:
        return None
    for rule_id, window in rules:
        named = rule_id.startswith(parts.rule) if parts.shortened else rule_id == parts.rule and parts.step is None
        # the recomputed key confirms a shortened one (its hash) and a period of the rule's window
        if (
            named
            and parts.period in periods.get(window, ())
            and op_key(rule_id, system, account_id, parts.period) == key
        ):
            return rule_id, parts.period
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
