"""When a cycle must not write: the store's side of the circuit breaker and of stale inputs.

The judgement is pure (:mod:`rules.breaker`); this module reads what it needs from the store
(when each source last pulled successfully, what earlier runs changed) and keeps a hold in the
store until a person releases it: a cycle held because most accounts vanished stays held on the
next cycles too (when the deletes are no longer new) until ``upsync apply --confirm``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from core.clock import parse_instant
from rules.breaker import Volume, deviations, stale_sources
from rules.plan import Plan
from sync.pull import PullReport
from sync.settings import Settings
from sync.store import Store

__all__ = ["HELD_KEY", "breaker_hold", "note_pulled", "release", "stale_inputs", "volume"]

HELD_KEY = "breaker_held"
"""The store's note of a hold not yet released: its reason, shown by every cycle until confirmed."""
CONFIRM_HINT = "check the CRM; if the change is real, `upsync apply --confirm` writes this plan and releases the hold"


def _pulled_key(source: str) -> str:
    return f"pulled_ok:{source}"


def note_pulled(store: Store, source: str, *, as_of: datetime) -> None:
    """Remember that every stream of ``source`` pulled without error as of ``as_of``."""
    store.set_meta(_pulled_key(source), as_of.isoformat())


def last_pulled(store: Store, source: str) -> datetime | None:
    value = store.meta(_pulled_key(source))
    return parse_instant(value) if value else None


def stale_inputs(store: Store, settings: Settings, *, as_of: datetime) -> dict[str, str]:
    """Source → why it is stale as of ``as_of``. A source with no successful pull on record yet
    (a new or upgraded state) is not called stale: it has no data for a rule to misread."""
    sources = [settings.upsync.crm, *(["usage"] if settings.usage is not None else [])]
    known = {s: at for s in sources if (at := last_pulled(store, s)) is not None}
    return stale_sources(known, as_of=as_of, stale_after=settings.breaker.params().stale_after)


def volume(store: Store, system: str, pulls: Sequence[PullReport], plan: Plan) -> Volume:
    """What this cycle changes, for the breaker: accounts the pull found gone, closes, field writes."""
    deleted = sum(p.deleted for p in pulls if p.kind == "accounts" and p.stream.startswith(f"{system}."))
    live = store.live_count("accounts", system=system)
    return Volume(accounts=live + deleted, deleted=deleted, closes=len(plan.closes), fields=len(plan.fields))


def _history(store: Store, runs: int) -> list[Volume]:
    """The volumes of the last ``runs`` runs that wrote (held, skipped and failed starts excluded)."""
    out = []
    for row in store.last_runs(limit=runs * 3 + 10):
        if row.get("status") not in ("ok", "errors"):
            continue
        try:
            summary = json.loads(row.get("summary") or "{}")
        except ValueError:
            continue
        raw = summary.get("volume") if isinstance(summary, dict) else None
        found = Volume.from_dict(raw) if isinstance(raw, dict) else None
        if found is not None:
            out.append(found)
        if len(out) >= runs:
            break
    return out


def breaker_hold(store: Store, settings: Settings, now: Volume) -> str:
    """Why this cycle's writes are held ("" when they are not): a hold not yet released, or this
    cycle's volume far from the last runs'. A new hold is kept in the store until released."""
    params = settings.breaker.params()
    if not params.enabled:
        return ""
    earlier = store.meta(HELD_KEY)
    if earlier:
        return f"{earlier} (held since an earlier cycle; {CONFIRM_HINT})"
    reasons = deviations(now, _history(store, params.runs), params)
    if not reasons:
        return ""
    reason = "unusual volume: " + "; ".join(reasons)
    store.set_meta(HELD_KEY, reason)
    return f"{reason}: nothing was written ({CONFIRM_HINT})"


def release(store: Store) -> bool:
    """Release a hold after a person confirmed the plan; True when there was one."""
    held = store.meta(HELD_KEY) is not None
    if held:
        store.delete_meta(HELD_KEY)
    return held
