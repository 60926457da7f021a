"""Scoring upsync's tasks against the world's ripe windows (pure: windows and offers in, figures out).

An *offer* is one proposal: a single task, or a staged sequence's tasks counted once (at its first
task's day). Per unblocked window: exactly one offer of its kind on its account created inside
``[start, end]`` is a hit, none a miss, more a duplicate. Offers inside no window of their kind are
*outside*; offers inside only blocked windows are *blocked*. G2: more than 2 offers within any 30
days on an account.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.world.timeline import Window


@dataclass(frozen=True, slots=True)
class Offer:
    account: int
    kind: str  # the window kind its rule maps to
    day: int  # simulation day it was created
    rule: str
    key: str  # the sync key of its (first) task


def offers_of(tasks: list[dict[str, Any]], kinds: dict[str, str]) -> list[Offer]:
    """Tasks (account, rule, day, key, sequence) → offers; a sequence's tasks make one offer."""
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for t in sorted(tasks, key=lambda t: (t["day"], t["key"])):
        group = (t["account"], t["rule"], t["sequence"]) if t.get("sequence") else (t["key"],)
        first.setdefault(group, t)
    return [Offer(t["account"], kinds.get(t["rule"], "?"), t["day"], t["rule"], t["key"]) for t in first.values()]


def score(windows: list[Window], offers: list[Offer], days: int, *, task_keys: Sequence[str] = ()) -> dict[str, Any]:
    clipped = [w for w in windows if w.end >= 0 and w.start < days]
    by_slot: dict[tuple[int, str], list[Window]] = defaultdict(list)
    for w in clipped:
        by_slot[(w.account, w.kind)].append(w)
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    missed: list[Window] = []
    for w in clipped:
        if w.blocked_by is not None:
            per_kind[w.kind]["blocked_windows"] += 1
            continue
        inside = [o for o in offers if o.account == w.account and o.kind == w.kind and w.start <= o.day <= w.end]
        per_kind[w.kind]["windows"] += 1
        per_kind[w.kind]["hit" if len(inside) == 1 else "miss" if not inside else "duplicate"] += 1
        if not inside:
            missed.append(w)
    outside = blocked = 0
    held: list[str] = []  # offers made inside a window a guard blocks, to tell the causes apart
    for o in offers:
        homes = [w for w in by_slot.get((o.account, o.kind), []) if w.start <= o.day <= w.end]
        if not homes:
            outside += 1
            per_kind[o.kind]["outside"] += 1
        elif all(w.blocked_by is not None for w in homes):
            blocked += 1
            per_kind[o.kind]["in_blocked"] += 1
            held.append(f"{o.kind} on day {o.day}, account {o.account} ({homes[0].blocked_by})")
    over_cap: set[int] = set()
    by_account: dict[int, list[int]] = defaultdict(list)
    for o in offers:
        by_account[o.account].append(o.day)
    for account, offer_days in by_account.items():
        offer_days.sort()
        if any(offer_days[i + 2] - offer_days[i] < 30 for i in range(len(offer_days) - 2)):
            over_cap.add(account)
    unblocked = sum(c["windows"] for c in per_kind.values())
    hits = sum(c["hit"] for c in per_kind.values())
    duplicates = sum(c["duplicate"] for c in per_kind.values())
    repeated_keys = sum(n - 1 for n in Counter(task_keys).values() if n > 1)
    return {
        "windows": unblocked,
        "blocked_windows": sum(c["blocked_windows"] for c in per_kind.values()),
        "hit_rate": round(hits / unblocked, 4) if unblocked else None,
        "hits": hits,
        "misses": sum(c["miss"] for c in per_kind.values()),
        "duplicate_windows": duplicates,
        "repeated_keys": repeated_keys,
        "offers": len(offers),
        "outside": outside,
        "outside_rate": round(outside / len(offers), 4) if offers else None,
        "in_blocked_windows": blocked,
        "accounts_over_g2": len(over_cap),
        "per_kind": {k: dict(sorted(v.items())) for k, v in sorted(per_kind.items())},
        "missed": missed,
        "in_blocked": held,
    }
