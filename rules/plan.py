"""Next best actions + ledger + the CRM's current state → the exact list of CRM changes. Pure.

Same inputs, same plan. Four kinds of change come out, each with a deterministic key and its
provenance (rule, a hash of the rule's text, the deciding values, as-of):

- **create task**: one per next best action, keyed ``sha256(rule | system:account | period)``
  (a sequence step: ``rule#step`` and the anchor date instead of the period), so the same rule
  on the same account in the same period is the same task forever;
- **update own task**: reassign or re-prioritise a task upsync created that nobody touched;
- **close own task**: its signal cleared (``on_clear = "close"``), with a note saying why;
- **set account fields**: upsync's own fields, only those whose value changed.

Respect for people comes first: a task or field a person edited (the CRM says who last changed
it) is left alone from then on, and the plan says why. Floods are held back: per-owner weekly
budgets filled by expected value, and no tasks at all on a first run or a backfill unless asked.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal

from core.records import (
    FIELD_NAMES,
    TEXT_MAX,
    AccountState,
    Action,
    CrmTask,
    EditSource,
    FieldMemo,
    FieldWrite,
    LedgerEntry,
    LedgerState,
    Priority,
    Provenance,
    Scalar,
    TaskIntent,
    TaskUpdate,
    normalise,
)
from rules.playbooks import Playbook, TaskContent, render_html, render_subject, render_text, sequence_due

__all__ = [
    "MAX_ATTEMPTS",
    "CrmState",
    "Hold",
    "Plan",
    "Skip",
    "TaskRule",
    "WritePolicy",
    "desired_fields",
    "field_key",
    "field_suspects",
    "landed_fields",
    "op_key",
    "period_of",
    "plan_changes",
    "plan_tasks",
    "rule_hash",
    "task_suspects",
    "who_edited",
]

MAX_ATTEMPTS = 3
"""A write the CRM refused this many times is not tried again for the same period."""

EDIT_SLACK = timedelta(minutes=2)
"""A task modified this long after upsync's last write was touched by someone else (or the CRM)."""

_OPEN = (LedgerState.confirmed,)
_LIVE = (LedgerState.confirmed, LedgerState.pending, LedgerState.unknown)


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
    playbook: Playbook
    hash: str = ""

    @property
    def playbook_url(self) -> str:
        return self.playbook.url


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmState:
    """The CRM as upsync knows it before planning: its own tasks, its own fields, and, for the
    few records whose values moved since upsync wrote them, who moved them."""

    tasks: Mapping[str, CrmTask] = field(default_factory=dict)
    accounts: Mapping[str, AccountState] = field(default_factory=dict)
    fields: Mapping[tuple[str, str], FieldMemo] = field(default_factory=dict)
    task_edits: Mapping[str, EditSource] = field(default_factory=dict)  # by task CRM id
    account_edits: Mapping[str, EditSource] = field(default_factory=dict)  # by account id


@dataclass(frozen=True, slots=True, kw_only=True)
class WritePolicy:
    """What upsync may write: ``[writeback]`` (whose defaults are these), the fields this CRM's
    config declares as upsync's, and the cycle's verdict on tasks (``held_because``: why none
    may be created now)."""

    tasks: bool = True
    held_because: str = ""
    fields: bool = True
    owned_fields: tuple[str, ...] = FIELD_NAMES
    owner_weekly_budget: int = 15
    on_clear: Literal["close", "leave"] = "close"
    update_open_tasks: bool = True
    first_run_tasks: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    key: str
    rule_id: str
    account_id: str
    reason: str
    owner_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """A task or field a person changed: upsync leaves it alone, and records why."""

    kind: Literal["task", "field"]
    account_id: str
    target: str  # the task key, or the canonical field name
    value: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    creates: tuple[TaskIntent, ...] = ()
    reconciles: tuple[TaskIntent, ...] = ()
    updates: tuple[TaskUpdate, ...] = ()
    fields: tuple[FieldWrite, ...] = ()
    skipped: tuple[Skip, ...] = ()
    holds: tuple[Hold, ...] = ()
    landed: tuple[tuple[str, str], ...] = ()  # (account, field): a pending write the CRM shows as done

    @property
    def writes(self) -> tuple[TaskIntent, ...]:
        return self.reconciles + self.creates

    @property
    def closes(self) -> tuple[TaskUpdate, ...]:
        return tuple(u for u in self.updates if u.close)

    @property
    def empty(self) -> bool:
        return not (self.creates or self.reconciles or self.updates or self.fields)


# -- keys ------------------------------------------------------------------------------------


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


def field_key(system: str, account_id: str, values: Mapping[str, Scalar]) -> str:
    """The key of one field write: the account and the exact values (a retry is the same write)."""
    text = json.dumps(sorted(values.items()), default=str)
    return "f" + hashlib.sha256(f"{system}:{account_id}|{text}".encode()).hexdigest()[:39]


def rule_hash(source: object) -> str:
    """A short hash of a rule's text: provenance shows when a task came from an older version."""
    return hashlib.sha256(repr(source).encode()).hexdigest()[:12]


# -- account fields (A2) ---------------------------------------------------------------------


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
    now, so they are neither written again nor mistaken for a person's value later."""
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


def _plan_fields(
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


# -- tasks -------------------------------------------------------------------------------------


def task_suspects(ledger: Mapping[str, LedgerEntry], state: CrmState) -> dict[str, list[str]]:
    """upsync's open tasks that changed after upsync last wrote them (another user modified
    them, or their modstamp moved): the shell asks the CRM who changed them."""
    out: dict[str, list[str]] = {}
    for key, entry in ledger.items():
        task = state.tasks.get(key)
        if entry.state not in _OPEN or entry.held or task is None or task.is_closed:
            continue
        other_user = task.last_modified_by is not None and task.last_modified_by != task.created_by
        later = (
            task.modified_at is not None
            and entry.updated_at is not None
            and task.modified_at > entry.updated_at + EDIT_SLACK
        )
        if other_user or later:
            out[task.crm_id] = ["subject", "body", "due_on", "priority", "owner_id", "status"]
    return out


def _content(rule: TaskRule, action: Action, key: str, as_of: datetime, step: object | None = None) -> TaskContent:
    return TaskContent(
        account_name=action.account_name,
        rule_id=rule.id,
        rule_title=rule.title,
        kind=rule.kind,
        signal=rule.signal,
        reasons=action.reasons,
        owner_note=action.owner_note,
        lifecycle=action.lifecycle,
        evidence=dict(action.evidence),
        offer=str(action.evidence.get("offer")) if action.evidence.get("offer") else None,
        key=key,
        step=step,  # type: ignore[arg-type]
        as_of=as_of.date(),
    )


def _anchor(rule: TaskRule, action: Action) -> date | None:
    raw = action.evidence.get(rule.playbook.anchor)
    if raw is None:
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


def _intents(rule: TaskRule, action: Action, now: datetime) -> list[TaskIntent]:
    """The task(s) one action asks for: one, or a sequence's staged steps (A4)."""
    provenance = Provenance(rule_id=rule.id, rule_hash=rule.hash, as_of=now, inputs=dict(action.evidence))
    owner = action.owner_id
    if rule.playbook.steps:
        anchor = _anchor(rule, action)
        if anchor is None:
            return []
        out = []
        for step, due in sequence_due(rule.playbook, anchor, now.date()):
            key = op_key(f"{rule.id}#{step.id}", action.system, action.account_id, anchor.isoformat())
            content = _content(rule, action, key, now, step)
            out.append(
                TaskIntent(
                    key=key,
                    rule_id=rule.id,
                    system=action.system,
                    account_id=action.account_id,
                    owner_id=owner,
                    subject=render_subject(f"{step.title}: {action.account_name}"),
                    body=render_text(content, rule.playbook),
                    body_html=render_html(content, rule.playbook),
                    due_on=due,
                    priority=rule.priority,
                    playbook_url=rule.playbook.url,
                    window=anchor.isoformat(),
                    evidence=dict(action.evidence),
                    provenance=provenance,
                    step=step.id,
                )
            )
        return out
    period = period_of(rule.window, now)
    key = op_key(rule.id, action.system, action.account_id, period)
    content = _content(rule, action, key, now)
    return [
        TaskIntent(
            key=key,
            rule_id=rule.id,
            system=action.system,
            account_id=action.account_id,
            owner_id=owner,
            subject=render_subject(action.subject),
            body=render_text(content, rule.playbook),
            body_html=render_html(content, rule.playbook),
            due_on=now.date() + timedelta(days=rule.due_in_days),
            priority=rule.priority,
            playbook_url=rule.playbook.url,
            window=period,
            evidence=dict(action.evidence),
            provenance=provenance,
        )
    ]


def _week_start(now: datetime) -> date:
    day = now.date()
    return day - timedelta(days=day.weekday())


def _budget_used(ledger: Mapping[str, LedgerEntry], now: datetime) -> dict[str, int]:
    """Tasks each owner got this ISO week (a sequence's steps count once: one proposal)."""
    start = _week_start(now)
    seen: set[tuple[str, str, str]] = set()
    used: dict[str, int] = {}
    for e in ledger.values():
        if e.owner_id is None or e.created_at is None or e.state not in _LIVE or e.created_at.date() < start:
            continue
        unit = (e.owner_id, e.account_id, f"{e.rule_id}|{e.window}")
        if unit in seen:
            continue
        seen.add(unit)
        used[e.owner_id] = used.get(e.owner_id, 0) + 1
    return used


def _edited(entry: LedgerEntry, task: CrmTask | None, state: CrmState) -> EditSource | None:
    """The edit that makes this task a person's, if any."""
    if task is None:
        return None
    src = state.task_edits.get(task.crm_id)
    return src if src is not None and src.origin != "upsync" else None


def plan_changes(
    actions: Sequence[Action],
    rules: Mapping[str, TaskRule],
    ledger: Mapping[str, LedgerEntry],
    state: CrmState,
    *,
    system: str,
    now: datetime,
    policy: WritePolicy,
    firing: Iterable[tuple[str, str]] = (),
    desired: Mapping[str, Mapping[str, Scalar]] | None = None,
) -> Plan:
    """Every change for this cycle. ``firing`` holds the (account, rule) pairs whose condition is
    true now, blocked or not (a guard holding a signal back, e.g. the frequency cap counting the
    task just created, does not clear it); ``desired`` the account fields (:func:`desired_fields`)."""
    creates: list[TaskIntent] = []
    reconciles: list[TaskIntent] = []
    updates: list[TaskUpdate] = []
    skipped: list[Skip] = []
    holds: list[Hold] = []
    firing_set = set(firing)

    # Tasks upsync created that are still open: held (a person's), or candidates to update/close.
    open_by_pair: dict[tuple[str, str], list[LedgerEntry]] = {}
    for entry in ledger.values():
        task = state.tasks.get(entry.key)
        if entry.state not in _OPEN or entry.closed_at is not None or task is None or task.is_closed:
            continue
        if entry.held is None:
            src = _edited(entry, task, state)
            if src is not None:
                reason = who_edited(src, "task")
                holds.append(
                    Hold(kind="task", account_id=entry.account_id, target=entry.key, value=None, reason=reason)
                )
                entry = replace(entry, held=reason)
        open_by_pair.setdefault((entry.account_id, entry.rule_id), []).append(entry)

    # New tasks, in order of expected value so that budgets keep the best.
    candidates: list[tuple[Action, TaskRule, list[TaskIntent]]] = []
    seen: set[str] = set()
    for action in sorted(actions, key=lambda a: (-a.value, a.account_id)):
        rule = rules[action.rule_id]
        intents = [t for t in _intents(rule, action, now) if t.key not in seen]
        seen.update(t.key for t in intents)
        if not intents:
            continue
        todo: list[TaskIntent] = []
        for intent in intents:
            skip = _skip_reason(ledger.get(intent.key))
            if skip:
                skipped.append(_skip(intent, skip))
            elif action.owner_id is None:
                skipped.append(_skip(intent, action.owner_note))
            else:
                todo.append(intent)
        if not todo:
            continue
        still_open = [
            e for e in open_by_pair.get((action.account_id, rule.id), []) if e.key not in {t.key for t in intents}
        ]
        if still_open and not rule.playbook.steps:
            for intent in todo:
                skipped.append(_skip(intent, f"upsync's task from {still_open[0].window} is still open"))
            continue
        candidates.append((action, rule, todo))

    used = _budget_used(ledger, now)
    for action, _rule, todo in candidates:
        retry = [
            t
            for t in todo
            if (e := ledger.get(t.key)) is not None and e.state in (LedgerState.pending, LedgerState.unknown)
        ]
        fresh = [t for t in todo if t not in retry]
        reconciles.extend(retry)  # already counted against the budget when first sent
        if not fresh:
            continue
        if not policy.tasks:
            skipped.extend(_skip(t, policy.held_because) for t in fresh)
            continue
        owner = action.owner_id or ""
        if used.get(owner, 0) >= policy.owner_weekly_budget:
            reason = f"owner's weekly budget of {policy.owner_weekly_budget} tasks is spent (higher value went first)"
            skipped.extend(_skip(t, reason) for t in fresh)
            continue
        used[owner] = used.get(owner, 0) + 1
        creates.extend(fresh)

    # upsync's own open, untouched tasks: follow the owner and priority; close when the signal clears.
    current = {(a.account_id, a.rule_id): a for a in actions}
    if policy.tasks:
        for (account, rule_id), entries in sorted(open_by_pair.items()):
            for entry in entries:
                if entry.held is not None:
                    continue
                task = state.tasks[entry.key]
                if (account, rule_id) not in firing_set:
                    if policy.on_clear == "close":
                        updates.append(_close(entry, task, now, rules.get(rule_id)))
                    else:
                        skipped.append(
                            Skip(
                                key=entry.key,
                                rule_id=rule_id,
                                account_id=account,
                                reason="signal cleared; left open (on_clear = leave)",
                            )
                        )
                    continue
                now_action = current.get((account, rule_id))
                now_rule = rules.get(rule_id)
                if not policy.update_open_tasks or now_action is None or now_rule is None:
                    continue
                wanted_owner = now_action.owner_id
                had = task.owner_id or entry.owner_id
                new_owner = wanted_owner if wanted_owner is not None and wanted_owner != had else None
                priority = (
                    now_rule.priority if entry.priority is not None and now_rule.priority != entry.priority else None
                )
                if new_owner is None and priority is None:
                    continue
                why = []
                if new_owner is not None:
                    why.append(f"reassigned to {new_owner} ({now_action.owner_note})")
                if priority is not None:
                    why.append(f"priority now {priority}")
                updates.append(
                    TaskUpdate(
                        key=entry.key,
                        crm_id=task.crm_id,
                        rule_id=rule_id,
                        system=now_action.system,
                        account_id=account,
                        owner_id=new_owner,
                        priority=priority,
                        reason="; ".join(why),
                        provenance=Provenance(
                            rule_id=rule_id, rule_hash=now_rule.hash, as_of=now, inputs=dict(now_action.evidence)
                        ),
                    )
                )

    fields: list[FieldWrite] = []
    if policy.fields and desired:
        provenance = {
            a.account_id: Provenance(
                rule_id=a.rule_id, rule_hash=rules[a.rule_id].hash, as_of=now, inputs=dict(a.evidence)
            )
            for a in actions
        }
        fields, field_holds = _plan_fields(system, desired, state, policy, provenance)
        holds.extend(field_holds)

    return Plan(
        creates=tuple(creates),
        reconciles=tuple(reconciles),
        updates=tuple(updates),
        fields=tuple(fields),
        skipped=tuple(skipped),
        holds=tuple(holds),
        landed=tuple(landed_fields(state)) if policy.fields else (),
    )


def _skip_reason(entry: LedgerEntry | None) -> str | None:
    if entry is None:
        return None
    if entry.state is LedgerState.confirmed:
        return "already written"
    if entry.state is LedgerState.failed and entry.attempts >= MAX_ATTEMPTS:
        return f"refused {entry.attempts} times by the CRM: {entry.last_error or 'no reason given'}"
    return None


def _skip(intent: TaskIntent, reason: str) -> Skip:
    return Skip(
        key=intent.key, rule_id=intent.rule_id, account_id=intent.account_id, reason=reason, owner_id=intent.owner_id
    )


def _close(entry: LedgerEntry, task: CrmTask, now: datetime, rule: TaskRule | None) -> TaskUpdate:
    note = f"Closed by upsync on {now:%Y-%m-%d}: the signal ({entry.rule_id}) no longer holds; this task is not needed."
    body = f"{entry.body}\n\n{note}" if entry.body else note
    return TaskUpdate(
        key=entry.key,
        crm_id=task.crm_id,
        rule_id=entry.rule_id,
        system=entry.system,
        account_id=entry.account_id,
        close=True,
        body=body,
        body_html=render_html_note(entry.body or "", note),
        reason="signal cleared",
        provenance=Provenance(rule_id=entry.rule_id, rule_hash=rule.hash if rule else "", as_of=now),
    )


def render_html_note(body: str, note: str) -> str:
    """The closed task's HubSpot body: what it said, then why upsync closed it (both escaped)."""
    paragraphs = [p for p in (body, note) if p]
    return "".join("<p>" + html.escape(p, quote=True).replace("\n", "<br>") + "</p>" for p in paragraphs)


def plan_tasks(
    actions: Iterable[Action],
    rules: Mapping[str, TaskRule],
    ledger: Mapping[str, LedgerEntry],
    *,
    now: datetime,
    policy: WritePolicy | None = None,
) -> Plan:
    """Tasks only (no CRM state, no fields): the backtest and the simplest callers."""
    acts = list(actions)
    system = acts[0].system if acts else "salesforce"
    return plan_changes(
        acts, rules, ledger, CrmState(), system=system, now=now, policy=policy or WritePolicy(fields=False)
    )
