"""The circuit breaker and stale inputs: when a cycle must not write what it planned.

A CRM export gone wrong (most companies archived, a filter that hides half the accounts, a usage
API serving last month's numbers) looks to the rules like customers leaving. Written back as is, it
closes reps' tasks and rewrites fields by the hundred. Two checks stop that, both pure:

- :func:`deviations`: this cycle's deletes, closes and field changes against the last runs'. A
  count further above their median than ``share`` of the accounts (``field_share`` for field
  changes, which a new day moves on its own; and at least ``min_count``)
  holds the whole cycle: nothing is written until a person confirms (``upsync apply --confirm``).
- :func:`stale_sources` / :func:`held_rules`: a source that has not pulled successfully for longer
  than ``stale_after`` holds the rules that read it (no new task, no close, no update from them),
  so old usage never reads as a customer going quiet.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.engine import CompiledRule, RuleSet

__all__ = [
    "BreakerParams",
    "Volume",
    "deviations",
    "held_rules",
    "rule_sources",
    "stale_sources",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerParams:
    """``[breaker]``: how far a cycle may stray from the last ``runs`` runs before it is held."""

    enabled: bool = True
    share: float = 0.2
    field_share: float = 0.5  # fields move more on their own (a new day re-dates every last signal)
    min_count: int = 25
    runs: int = 10
    stale_after: timedelta | None = timedelta(hours=48)


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    """What one cycle changes, as counted for the breaker (kept in each run's summary)."""

    accounts: int  # active accounts before this cycle's deletes
    deleted: int  # accounts the pull found deleted or archived
    closes: int  # upsync's tasks the plan closes
    fields: int  # account field writes the plan makes

    def as_dict(self) -> dict[str, int]:
        return {"accounts": self.accounts, "deleted": self.deleted, "closes": self.closes, "fields": self.fields}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Volume | None:
        """A volume from a run's stored summary; None when the run kept none (older runs)."""
        values = [raw.get(k) for k in ("accounts", "deleted", "closes", "fields")]
        if not all(isinstance(v, int) for v in values):
            return None
        accounts, deleted, closes, fields = (int(str(v)) for v in values)
        return cls(accounts=accounts, deleted=deleted, closes=closes, fields=fields)


_WHAT = {"deleted": "accounts deleted or archived in the CRM", "closes": "tasks to close", "fields": "field changes"}


def deviations(now: Volume, history: Sequence[Volume], params: BreakerParams) -> list[str]:
    """Why this cycle must be held ([] when it may write): each count above the median of the
    last runs by more than ``share`` of the accounts. Deletes are checked from the first run (an
    install sees almost none); closes and field changes only against a history (the first
    write-back run sets every field)."""
    if not params.enabled:
        return []
    recent = list(history[: params.runs])
    reasons = []
    for name in ("deleted", "closes", "fields"):
        share_allowed = params.field_share if name == "fields" else params.share
        allowance = max(params.min_count, share_allowed * max(now.accounts, 1))
        count = getattr(now, name)
        if not recent and name != "deleted":
            continue
        usual = statistics.median(getattr(v, name) for v in recent) if recent else 0
        if count - usual > allowance:
            share = count / now.accounts if now.accounts else 1.0
            usually = f"usually {usual:g} over the last {len(recent)} runs" if recent else "no earlier runs"
            reasons.append(f"{count} {_WHAT[name]} ({share:.0%} of {now.accounts} accounts; {usually})")
    return reasons


def stale_sources(
    last_ok: Mapping[str, datetime | None], *, as_of: datetime, stale_after: timedelta | None
) -> dict[str, str]:
    """Source → why it is stale, for each source whose last successful pull is older than
    ``stale_after`` as of ``as_of`` (or that never pulled successfully)."""
    if stale_after is None:
        return {}
    stale = {}
    for source, at in last_ok.items():
        if at is None:
            stale[source] = f"{source} has not pulled successfully yet"
        elif as_of - at > stale_after:
            hours = (as_of - at).total_seconds() / 3600
            stale[source] = f"{source} last pulled successfully {hours:.0f} h ago ({at:%Y-%m-%d %H:%M} UTC)"
    return stale


def rule_sources(rule: CompiledRule, *, crm: str) -> frozenset[str]:
    """The sources a rule reads: the CRM always (the account), and ``usage`` when it names a usage
    feature, a weekly series, ``uses()`` or the health score (computed from usage)."""
    return frozenset({crm, "usage"} if rule.reads_usage else {crm})


def compiled_uses(rule: CompiledRule) -> frozenset[tuple[str, int]]:
    return rule.when.uses | rule.value.uses


def held_rules(ruleset: RuleSet, stale: Mapping[str, str], *, crm: str) -> dict[str, str]:
    """Rule id → why it is held this cycle, for every rule that reads a stale source."""
    if not stale:
        return {}
    held = {}
    for rule in ruleset.rules:
        reasons: Iterable[str] = (stale[s] for s in sorted(rule_sources(rule, crm=crm)) if s in stale)
        why = "; ".join(reasons)
        if why:
            held[rule.id] = f"stale input: {why}"
    return held
