"""Tasks: one per next best action (a sequence: one per due step), updated, closed or held, within budgets."""

from __future__ import annotations

import html
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from core.records import (
    Action,
    CrmTask,
    EditSource,
    FieldWrite,
    LedgerEntry,
    LedgerState,
    Provenance,
    Scalar,
    TaskIntent,
    TaskUpdate,
)
from rules.nba import owner_line
from rules.plan.choose import Considered, capped, consider, ordered, skip, skip_rule
from rules.plan.control import control_reason, hold_out, kept_out
from rules.plan.fields import landed_fields, plan_fields, who_edited
from rules.plan.keys import CALENDAR, anchored_period, identify, legacy_key, op_key, period_of, recent_periods
from rules.plan.stages import current_stage
from rules.plan.values import (
    EDIT_SLACK,
    LIVE,
    OPEN,
    Adoption,
    ControlRecord,
    CrmState,
    Hold,
    Plan,
    Skip,
    TaskRule,
    WritePolicy,
)
from rules.playbooks import TaskContent, render_html, render_subject, render_text


def task_suspects(ledger: Mapping[str, LedgerEntry], state: CrmState) -> dict[str, list[str]]:
    """upsync's open tasks that changed after upsync last wrote them (another user modified
    them, or their modstamp moved): the shell asks the CRM who changed them."""
    out: dict[str, list[str]] = {}
    for key, entry in ledger.items():
        task = state.tasks.get(key)
        if entry.state not in OPEN or entry.held or task is None or task.is_closed:
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


def _content(
    rule: TaskRule,
    action: Action,
    key: str,
    as_of: datetime,
    step: object | None = None,
    labels: Mapping[str, str] | None = None,
) -> TaskContent:
    return TaskContent(
        account_name=action.account_name,
        rule_id=rule.id,
        rule_title=rule.title,
        kind=rule.kind,
        signal=rule.signal,
        reasons=action.reasons,
        owner=owner_line(action.owner_name, action.role),
        lifecycle=action.lifecycle,
        evidence=dict(action.evidence),
        labels=dict(labels or {}),
        offer=str(action.evidence.get("offer")) if action.evidence.get("offer") else None,
        key=key,
        step=step,  # type: ignore[arg-type]
        as_of=as_of.date(),
    )


def _anchor(rule: TaskRule, action: Action) -> date | None:
    raw = anchored_period(action.evidence.get(rule.playbook.anchor))
    return date.fromisoformat(raw) if raw is not None else None


def _key(rule_id: str, action: Action, period: str, known: Container[str]) -> str:
    """The task's readable key, or the legacy hash key it was written under before keys were
    readable (the ledger or the CRM holds it, and not the readable one): that task stays the same
    task, never created twice, and keeps its key until its period ends."""
    key = op_key(rule_id, action.system, action.account_id, period)
    if key in known:
        return key
    legacy = legacy_key(rule_id, action.system, action.account_id, period)
    return legacy if legacy in known else key


def _written_steps(
    rule: TaskRule, action: Action, anchor: date, ledger: Mapping[str, LedgerEntry], state: CrmState
) -> dict[str, bool]:
    """Step id → whether its task is closed, for every step of this sequence that has a task."""
    out = {}
    known = _Known(ledger, state.tasks)
    for step in rule.playbook.steps:
        key = _key(f"{rule.id}#{step.id}", action, anchor.isoformat(), known)
        entry, task = ledger.get(key), state.tasks.get(key)
        if entry is None and task is None:
            continue
        out[step.id] = (task is not None and task.is_closed) or (
            entry is not None and (entry.closed_at is not None or entry.state is LedgerState.failed)
        )
    return out


def _intents(
    rule: TaskRule, action: Action, as_of: datetime, ledger: Mapping[str, LedgerEntry], state: CrmState
) -> tuple[list[TaskIntent], str]:
    """The task one action asks for now (a sequence: its current stage, A4), and why a ripe window
    gets none or waits ("" when nothing holds it). A task already written under its legacy key
    keeps it (:func:`_key`); the body carries the CRM's field labels."""
    known, labels = _Known(ledger, state.tasks), state.labels
    provenance = Provenance(rule_id=rule.id, rule_hash=rule.hash, as_of=as_of, inputs=dict(action.evidence))
    owner = action.owner_id
    if rule.playbook.steps:
        anchor = _anchor(rule, action)
        if anchor is None:
            return [], f"no task: {rule.playbook.anchor} is unknown for this account (the sequence is anchored on it)"
        stage = current_stage(rule.playbook, anchor, as_of.date(), _written_steps(rule, action, anchor, ledger, state))
        if stage is None:
            return [], ""
        step = stage.step
        key = _key(f"{rule.id}#{step.id}", action, anchor.isoformat(), known)
        content = _content(rule, action, key, as_of, step, labels)
        intent = TaskIntent(
            key=key,
            rule_id=rule.id,
            system=action.system,
            account_id=action.account_id,
            owner_id=owner,
            subject=render_subject(f"{step.title}: {action.account_name}"),
            body=render_text(content, rule.playbook),
            body_html=render_html(content, rule.playbook),
            due_on=stage.due_on,
            priority=rule.priority,
            playbook_url=rule.playbook.url,
            window=anchor.isoformat(),
            evidence=dict(action.evidence),
            provenance=provenance,
            step=step.id,
        )
        return [intent], stage.waiting
    if rule.window in CALENDAR:
        period = period_of(rule.window, as_of)
    else:
        found = anchored_period(action.evidence.get(rule.window))
        if found is None:
            return [], f"no task: {rule.window} is unknown for this account (the rule's window is anchored on it)"
        period = found
    key = _key(rule.id, action, period, known)
    content = _content(rule, action, key, as_of, labels=labels)
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
            due_on=as_of.date() + timedelta(days=rule.due_in_days),
            priority=rule.priority,
            playbook_url=rule.playbook.url,
            window=period,
            evidence=dict(action.evidence),
            provenance=provenance,
        )
    ], ""


class _Known(Container[str]):
    """A key the ledger or the CRM holds."""

    def __init__(self, *maps: Mapping[str, object]) -> None:
        self.maps = maps

    def __contains__(self, key: object) -> bool:
        return any(key in m for m in self.maps)


def _week_start(as_of: datetime) -> date:
    day = as_of.date()
    return day - timedelta(days=day.weekday())


def _budget_used(ledger: Mapping[str, LedgerEntry], as_of: datetime) -> dict[str, int]:
    """Tasks each owner got this ISO week (a sequence's steps count once: one proposal)."""
    start = _week_start(as_of)
    seen: set[tuple[str, str, str]] = set()
    used: dict[str, int] = {}
    for e in ledger.values():
        if e.owner_id is None or e.created_at is None or e.state not in LIVE or e.created_at.date() < start:
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
    as_of: datetime,
    policy: WritePolicy,
    firing: Iterable[tuple[str, str]] = (),
    desired: Mapping[str, Mapping[str, Scalar]] | None = None,
    dates: Mapping[str, Mapping[str, Scalar]] | None = None,
) -> Plan:
    """Every change for this cycle. ``firing`` holds the (account, rule) pairs whose condition is
    true now, blocked or not (a guard holding a signal back, e.g. the frequency cap counting the
    task just created, does not clear it); ``desired`` the account fields (:func:`desired_fields`);
    ``dates`` the date features date-anchored windows name, by account (account → feature →
    value), for accounts whose tasks the ledger does not know: such a task is recognised by them
    even when its signal has cleared."""
    creates: list[TaskIntent] = []
    reconciles: list[TaskIntent] = []
    adopted: list[Adoption] = []
    updates: list[TaskUpdate] = []
    skipped: list[Skip] = []
    holds: list[Hold] = []
    firing_set = set(firing)
    strays = _strays(ledger, state, rules, system=system, as_of=as_of, dates=_anchored_dates(actions, rules, dates))
    adopted.extend(Adoption(key=e.key, crm_id=e.crm_id or "", intent=i) for e, i in strays)
    stray_keys = {e.key for e, _ in strays}

    # Tasks upsync created that are still open: held (a person's), or candidates to update/close.
    open_by_pair: dict[tuple[str, str], list[LedgerEntry]] = {}
    for entry in [*ledger.values(), *(e for e, _ in strays)]:
        task = state.tasks.get(entry.key)
        if entry.state not in OPEN or entry.closed_at is not None or task is None or task.is_closed:
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

    # New tasks: every ripe rule's own (tasks_per = "window"), or the account's one (tasks_per = "account").
    seen: set[str] = set()
    considered: list[tuple[Action, TaskRule, Considered]] = []
    controls: list[ControlRecord] = []
    units = {(e.account_id, e.rule_id, e.window) for e in ledger.values()}
    for action in ordered(actions, policy):
        rule = rules[action.rule_id]
        intents, held_why = _intents(rule, action, as_of, ledger, state)
        intents = [t for t in intents if t.key not in seen]
        seen.update(t.key for t in intents)
        found = consider(action, rule, intents, held_why, ledger, state, stray_keys, open_by_pair)
        hold_out(found, rule, ledger=ledger, tasks=state.tasks, written=units)  # drawn; kept below if due now
        adopted.extend(found.adopted)
        considered.append((action, rule, found))
    candidates: list[tuple[Action, TaskRule, list[TaskIntent], bool]] = []  # … whether its control group
    first: dict[str, tuple[str, bool]] = {}  # account → (the rule that holds its one task, whether it is open)
    for action, rule, found in considered:
        if policy.tasks_per == "account" and action.account_id in first:
            holder, is_open = first[action.account_id]
            reason = f"upsync's task of {holder} is open" if is_open else f"{holder} goes first"
            skipped.extend(
                skip(t, f'one task per account ([writeback] tasks_per = "account"): {reason}') for t in found.intents
            )
            if not found.intents and found.why:
                skipped.append(skip_rule(action, found.why))
            continue
        skipped.extend(found.skips)
        if found.todo:
            candidates.append((action, rule, found.todo, False))
        if found.control:
            candidates.append((action, rule, found.control, True))
        if not found.settled:
            first[action.account_id] = (rule.id, found.open)
    candidates.sort(key=lambda c: (-c[0].value, c[0].account_id, c[3]))

    # Unconfirmed writes no action asks for any more: adopted when the pull read them back, else looked up.
    lookups: list[str] = []
    for key, entry in sorted(ledger.items()):
        if key in seen or entry.state not in (LedgerState.pending, LedgerState.unknown):
            continue
        held_by_crm = state.tasks.get(key)
        if held_by_crm is not None:
            adopted.append(Adoption(key=key, crm_id=held_by_crm.crm_id))
        else:
            lookups.append(key)

    used = _budget_used(ledger, as_of)
    offered: dict[str, list[str]] = {}  # account → the kinds of the tasks this cycle proposes to it
    for action, rule, todo, control in candidates:
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
            skipped.extend(skip(t, policy.held_because) for t in fresh)
            continue
        cap_held = capped(rule, action, offered.get(action.account_id, []))
        if cap_held:
            skipped.extend(skip(t, cap_held) for t in fresh)
            continue
        owner = action.owner_id or ""
        if used.get(owner, 0) >= policy.owner_weekly_budget:
            reason = f"owner's weekly budget of {policy.owner_weekly_budget} tasks is spent (higher value went first)"
            skipped.extend(skip(t, reason) for t in fresh)
            continue
        if control:  # would be created now: kept without it, consuming neither budget nor cap
            skipped.extend(skip(t, control_reason(rule.id, rule.control_share)) for t in fresh)
            controls.extend(kept_out(action, rule, fresh, as_of.date()))
            continue
        used[owner] = used.get(owner, 0) + 1
        if (action.account_id, rule.id, fresh[0].window) not in units:  # a sequence's next stage: offered already
            offered.setdefault(action.account_id, []).append(rule.kind)
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
                        updates.append(_close(entry, task, as_of, rules.get(rule_id)))
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
                            rule_id=rule_id, rule_hash=now_rule.hash, as_of=as_of, inputs=dict(now_action.evidence)
                        ),
                    )
                )

    fields: list[FieldWrite] = []
    if policy.fields and desired:
        provenance = {
            a.account_id: Provenance(
                rule_id=a.rule_id, rule_hash=rules[a.rule_id].hash, as_of=as_of, inputs=dict(a.evidence)
            )
            for a in actions
            if a.primary
        }
        fields, field_holds = plan_fields(system, desired, state, policy, provenance)
        holds.extend(field_holds)

    return Plan(
        creates=tuple(creates),
        reconciles=tuple(reconciles),
        adopted=tuple(adopted),
        lookups=tuple(lookups),
        updates=tuple(updates),
        fields=tuple(fields),
        skipped=tuple(skipped),
        holds=tuple(holds),
        landed=tuple(landed_fields(state)) if policy.fields else (),
        controls=tuple(controls) if policy.tasks else (),  # no task would be written: no control either
    )


def _strays(
    ledger: Mapping[str, LedgerEntry],
    state: CrmState,
    rules: Mapping[str, TaskRule],
    *,
    system: str,
    as_of: datetime,
    dates: Mapping[str, Mapping[str, list[str]]],
) -> list[tuple[LedgerEntry, TaskIntent]]:
    """upsync's open tasks in the CRM that the ledger does not know (a lost or restored state), each
    matched by its key to the rule and period that made it: they become the ledger's again, so a
    signal that cleared meanwhile still closes its task. A date-anchored window is matched on the
    account's dates as this cycle's evidence holds them (``dates``: account → feature → periods).
    Sequence steps and tasks of removed rules are not matched: they stay as they are, as a
    person's would."""
    unknown = [t for t in state.tasks.values() if t.key not in ledger and not t.is_closed and t.account_id]
    if not unknown:
        return []
    periods = recent_periods(as_of)
    singles = [(r.id, r.window) for r in rules.values() if not r.playbook.steps]
    out = []
    for task in unknown:
        assert task.account_id is not None
        found = identify(task.key, system, task.account_id, singles, {**periods, **dates.get(task.account_id, {})})
        if found is None:
            continue
        rule = rules[found[0]]
        intent = TaskIntent(
            key=task.key,
            rule_id=rule.id,
            system=system,  # type: ignore[arg-type]
            account_id=task.account_id,
            owner_id=task.owner_id,
            subject="",
            body="",
            due_on=as_of.date(),
            priority=rule.priority,
            playbook_url=rule.playbook.url,
            window=found[1],
        )
        entry = LedgerEntry(
            key=task.key,
            system=intent.system,
            rule_id=rule.id,
            account_id=task.account_id,
            window=found[1],
            state=LedgerState.confirmed,
            crm_id=task.crm_id,
            owner_id=task.owner_id,
            priority=rule.priority,
        )
        out.append((entry, intent))
    return out


def _anchored_dates(
    actions: Sequence[Action], rules: Mapping[str, TaskRule], dates: Mapping[str, Mapping[str, Scalar]] | None
) -> dict[str, dict[str, list[str]]]:
    """Account → date feature → its period, for every date-anchored window: from ``dates``, and
    from this cycle's actions' evidence."""
    windows = {r.window for r in rules.values() if r.window not in CALENDAR}
    values = [(a, dict(v)) for a, v in (dates or {}).items()] + [(a.account_id, dict(a.evidence)) for a in actions]
    out: dict[str, dict[str, list[str]]] = {}
    for account, known in values:
        for window in windows:
            period = anchored_period(known.get(window))
            if period is not None:
                out.setdefault(account, {})[window] = [period]
    return out


def _close(entry: LedgerEntry, task: CrmTask, as_of: datetime, rule: TaskRule | None) -> TaskUpdate:
    note = (
        f"Closed by upsync on {as_of:%Y-%m-%d}: the signal ({entry.rule_id}) no longer holds; this task is not needed."
    )
    # a task adopted from the CRM (a lost state) has no body on record: its text is left as it is
    return TaskUpdate(
        key=entry.key,
        crm_id=task.crm_id,
        rule_id=entry.rule_id,
        system=entry.system,
        account_id=entry.account_id,
        close=True,
        body=f"{entry.body}\n\n{note}" if entry.body else None,
        body_html=render_html_note(entry.body, note) if entry.body else "",
        reason="signal cleared",
        provenance=Provenance(rule_id=entry.rule_id, rule_hash=rule.hash if rule else "", as_of=as_of),
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
    as_of: datetime,
    policy: WritePolicy | None = None,
) -> Plan:
    """Tasks only (no CRM state, no fields): the backtest and the simplest callers."""
    acts = list(actions)
    system = acts[0].system if acts else "salesforce"
    return plan_changes(
        acts, rules, ledger, CrmState(), system=system, as_of=as_of, policy=policy or WritePolicy(fields=False)
    )
