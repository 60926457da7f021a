"""Which ripe rules get a task this cycle: each in its own window, or one per account at a time,
counting this cycle's tasks against the frequency cap (G2). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.records import Action, LedgerEntry, LedgerState, TaskIntent
from rules.plan.values import MAX_ATTEMPTS, Adoption, CrmState, Skip, TaskRule, WritePolicy


@dataclass(slots=True, kw_only=True)
class Considered:
    """What one ripe rule on one account comes to before budgets and the cap: the intents it asks
    for, those still to write (``todo``), why others are skipped, and whether it is ``settled``
    (nothing of it open or to write: under tasks_per = "account" the next ripe rule may go)."""

    intents: list[TaskIntent]
    why: str
    todo: list[TaskIntent] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    adopted: list[Adoption] = field(default_factory=list)
    control: list[TaskIntent] = field(default_factory=list)  # the rule's control group: no task, measured
    settled: bool = False
    open: bool = False  # its task is written and still open


def ordered(actions: Sequence[Action], policy: WritePolicy) -> list[Action]:
    """By expected value (budgets keep the best); per account with the primary first when an
    account has one task at a time."""
    if policy.tasks_per == "account":
        return sorted(actions, key=lambda a: (a.account_id, not a.primary, -a.value, a.rule_id))
    return sorted(actions, key=lambda a: (-a.value, a.account_id, a.rule_id))


def consider(
    action: Action,
    rule: TaskRule,
    intents: list[TaskIntent],
    why: str,
    ledger: Mapping[str, LedgerEntry],
    state: CrmState,
    stray_keys: set[str],
    open_by_pair: Mapping[tuple[str, str], list[LedgerEntry]],
) -> Considered:
    out = Considered(intents=intents, why=why)
    if not intents:
        out.settled = True
        if why:
            out.skips.append(skip_rule(action, why))
        return out
    closed = 0
    for intent in intents:
        known = ledger.get(intent.key)
        held_by_crm = state.tasks.get(intent.key)
        if intent.key in stray_keys:
            continue  # adopted above, as the CRM holds it
        if held_by_crm is not None and (known is None or known.state is not LedgerState.confirmed):
            # the CRM has it already (a lost state, a lost answer): upsync's, never created twice
            out.adopted.append(Adoption(key=intent.key, crm_id=held_by_crm.crm_id, intent=None if known else intent))
            continue
        written = skip_reason(known)
        if written:
            is_closed = (held_by_crm is not None and held_by_crm.is_closed) or (
                known is not None and known.closed_at is not None
            )
            closed += is_closed
            out.open = out.open or (known is not None and known.state is LedgerState.confirmed and not is_closed)
            out.skips.append(skip(intent, why or (f"{written} (closed)" if is_closed else written)))
        elif action.owner_id is None:
            out.skips.append(skip(intent, action.owner_note))
        else:
            out.todo.append(intent)
    out.settled = closed == len(intents)
    if not out.todo:
        return out
    still_open = [
        e for e in open_by_pair.get((action.account_id, rule.id), []) if e.key not in {t.key for t in intents}
    ]
    if still_open and not rule.playbook.steps:
        out.skips.extend(skip(t, f"upsync's task from {still_open[0].window} is still open") for t in out.todo)
        out.todo = []
    return out


def capped(rule: TaskRule, action: Action, offered: Sequence[str]) -> str:
    """Why G2 holds this task back once this cycle's tasks are counted ("" when it does not)."""
    cap = rule.cap
    if cap is None:
        return ""
    now = sum(kind in cap.kinds for kind in offered)
    total = action.offers + now
    if now == 0 or total < cap.max_offers:
        return ""
    return (
        f"G2: {total} offers in the last {cap.per_days} days (cap {cap.max_offers}), {now} of them this cycle"
        " (higher value went first)"
    )


def skip_rule(action: Action, reason: str) -> Skip:
    """A ripe rule that gets no task and has no key to show (its window's date is unknown, e.g.)."""
    return Skip(key="", rule_id=action.rule_id, account_id=action.account_id, reason=reason, owner_id=action.owner_id)


def skip_reason(entry: LedgerEntry | None) -> str | None:
    if entry is None:
        return None
    if entry.state is LedgerState.confirmed:
        return "already written"
    if entry.state is LedgerState.failed and entry.attempts >= MAX_ATTEMPTS:
        return f"refused {entry.attempts} times by the CRM: {entry.last_error or 'no reason given'}"
    return None


def skip(intent: TaskIntent, reason: str) -> Skip:
    return Skip(
        key=intent.key, rule_id=intent.rule_id, account_id=intent.account_id, reason=reason, owner_id=intent.owner_id
    )
