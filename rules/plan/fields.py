"""upsync's account fields (A2): what each should say, which changed, and which a person holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from core.records import (
    TEXT_MAX,
    Action,
    EditSource,
    FieldWrite,
    LedgerState,
    Provenance,
    Scalar,
    normalise,
)
from rules.plan.keys import field_key
from rules.plan.values import CrmState, Hold, TaskRule, WritePolicy
from rules.playbooks import render_subject


def desired_fields(
    accounts: Iterable[Mapping[str, object]],
    actions: Mapping[str, Action],
    rules: Mapping[str, TaskRule],
    last_signals: Mapping[str, str],
    *,
    as_of: datetime,
) -> dict[str, dict[str, Scalar]]:
    """What upsync's fields should say on every account: health score and band (``accounts``
    rows: account, health_score, health_band), the expansion score (the next best action's
    expected value, 0 without one), the next best action and its playbook, the last signal."""
    stamp = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, dict[str, Scalar]] = {}
    for row in accounts:
        account = str(row["account"])
        action = actions.get(account)
        rule = rules.get(action.rule_id) if action else None
        score = row.get("health_score")
        band = row.get("health_band")
        out[account] = {
            "health_score": round(float(score), 1) if isinstance(score, int | float) else None,
            "health_band": str(band) if band else None,
            "expansion_score": float(round(action.score)) if action else 0.0,
            "next_best_action": render_subject(action.subject, TEXT_MAX) if action else None,
            "last_signal": render_subject(last_signals[account], TEXT_MAX) if account in last_signals else None,
            "playbook_url": rule.playbook.url if rule else None,
            "as_of": stamp,
        }
    return out


def _field_verdicts(
    desired: Mapping[str, Mapping[str, Scalar]], state: CrmState, owned: Sequence[str]
) -> Iterable[tuple[str, str, Scalar, str | None, str]]:
    """(account, field, wanted, current, verdict) for every owned field that differs from what it
    should say; verdict is ``write``, ``suspect`` (someone else moved upsync's value: ask who),
    ``held`` (a person's value stays) or ``release`` (the person cleared it: upsync resumes)."""
    for account, want in desired.items():
        seen = state.accounts.get(account)
        if seen is None:
            continue  # not read back from the CRM (yet): nothing to compare with
        for name in owned:
            if name == "as_of" or name not in want:
                continue
            wanted = want[name]
            w = normalise(name, wanted)
            c = normalise(name, seen.current.get(name))
            memo = state.fields.get((account, name))
            if memo is not None and memo.held is not None:
                if c is not None:
                    yield account, name, wanted, c, "held"
                elif c != w:
                    yield account, name, wanted, c, "release"
                continue
            # Only a confirmed write is trusted over an older read; a pending one (the process
            # died around the call) is written again: field writes are idempotent overwrites.
            confirmed = memo is not None and memo.state is LedgerState.confirmed
            stale = memo is not None and (seen.synced_at is None or seen.synced_at <= memo.written_at)
            effective = memo.value if stale and confirmed and memo is not None else c
            if effective == w:
                continue
            moved = confirmed and not stale and memo is not None and c != memo.value
            yield account, name, wanted, c, "suspect" if moved else "write"


def landed_fields(state: CrmState) -> list[tuple[str, str]]:
    """Field writes left ``pending`` by a crash that a later read shows in the CRM: confirmed
    as_of, so they are neither written again nor mistaken for a person's value later."""
    out = []
    for (account, name), memo in state.fields.items():
        if memo.state is LedgerState.confirmed or memo.held is not None:
            continue
        seen = state.accounts.get(account)
        if seen is None or seen.synced_at is None or seen.synced_at <= memo.written_at:
            continue
        if normalise(name, seen.current.get(name)) == memo.value:
            out.append((account, name))
    return out


def field_suspects(
    desired: Mapping[str, Mapping[str, Scalar]] | None, state: CrmState, owned: Sequence[str]
) -> dict[str, list[str]]:
    """Accounts whose upsync-owned values someone else changed since upsync wrote them, with the
    fields: the shell asks the CRM who (one batch read per 100–200 accounts, usually none).

    With ``desired`` None (before the cycle has decided), every moved value counts; with it, only
    those that also differ from what the field should now say."""
    out: dict[str, list[str]] = {}
    if desired is not None:
        for account, name, _, _, verdict in _field_verdicts(desired, state, owned):
            if verdict == "suspect":
                out.setdefault(account, []).append(name)
        return out
    rank = {name: i for i, name in enumerate(owned)}
    for (account, name), memo in sorted(state.fields.items(), key=lambda kv: (kv[0][0], rank.get(kv[0][1], -1))):
        seen = state.accounts.get(account)
        if name == "as_of" or name not in rank or seen is None or memo.held is not None:
            continue
        stale = seen.synced_at is None or seen.synced_at <= memo.written_at
        moved = normalise(name, seen.current.get(name)) != memo.value
        if memo.state is LedgerState.confirmed and not stale and moved:
            out.setdefault(account, []).append(name)
    return out


def plan_fields(
    system: str,
    desired: Mapping[str, Mapping[str, Scalar]],
    state: CrmState,
    policy: WritePolicy,
    provenance: Mapping[str, Provenance],
) -> tuple[list[FieldWrite], list[Hold]]:
    changes: dict[str, dict[str, Scalar]] = {}
    holds: list[Hold] = []
    for account, name, wanted, current, verdict in _field_verdicts(desired, state, policy.owned_fields):
        if verdict == "suspect":
            src = state.account_edits.get(account)
            if src is None or src.origin != "upsync":
                holds.append(
                    Hold(kind="field", account_id=account, target=name, value=current, reason=who_edited(src, "field"))
                )
                continue
        elif verdict == "held":
            memo = state.fields[(account, name)]
            if current != memo.value:  # the person changed it again: remember their latest value
                holds.append(Hold(kind="field", account_id=account, target=name, value=current, reason=memo.held or ""))
            continue
        changes.setdefault(account, {})[name] = wanted
    writes = []
    for account in sorted(changes):
        values = changes[account]
        if "as_of" in policy.owned_fields:
            values["as_of"] = desired[account].get("as_of")
        writes.append(
            FieldWrite(
                key=field_key(system, account, values),
                system=system,  # type: ignore[arg-type]
                account_id=account,
                values=values,
                provenance=provenance.get(account),
            )
        )
    return writes, holds


def who_edited(src: EditSource | None, what: str) -> str:
    if src is None:
        return f"the {what} changed since upsync wrote it and the CRM did not say who: left alone"
    when = f" on {src.at:%Y-%m-%d %H:%M} UTC" if src.at else ""
    who = src.who or ("a person" if src.origin == "person" else "another process")
    return f"edited by {who}{when}: upsync leaves this {what} alone"
