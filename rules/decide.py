"""One cycle's decision, pure: what upsync knows (:class:`CycleInputs`) → the plan, the health
rows to keep and the signals to log (:class:`Decision`).

The orchestration gathers the inputs once (the stored tables, the ledger, the CRM's state as
the pull read it, who edited what), calls :func:`decide`, then applies and records what comes
back: data goes down once and comes back once. ``upsync plan`` is the same call over the same
stored inputs, so what it prints is what ``upsync apply`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import polars as pl

from core.records import Action, LedgerEntry, Scalar, System
from core.tables import TABLE_SCHEMAS, Tables
from rules import engine
from rules.breaker import held_rules
from rules.engine import Evaluation, RuleSet
from rules.plan import (
    CALENDAR,
    CrmState,
    Plan,
    TaskRule,
    WritePolicy,
    anchored_period,
    desired_fields,
    field_suspects,
    plan_changes,
    task_suspects,
)
from rules.playbooks import features_needed

__all__ = [
    "CycleInputs",
    "Decision",
    "decide",
    "evaluate",
    "health_gaps",
    "health_window",
    "missing_health",
    "read_since",
    "tasks_held",
    "usage_since",
]

_NEARBY = timedelta(days=3)
"""A stored score this close to a weekly point stands for it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleInputs:
    """Everything a cycle decides from, gathered once by the orchestration.

    ``tables`` are the stored records and history up to ``as_of`` (usage from :func:`read_since`
    on); ``crm`` is upsync's own tasks and fields as the pull read them, with who edited the few
    that moved when the CRM was asked (``edits_asked``; ``upsync plan`` does not ask).
    ``writeback_started``: a write-back run has completed on this CRM before. ``stale``: source →
    why its data is too old to act on (:func:`rules.breaker.stale_sources`).
    """

    system: System
    tables: Tables
    ledger: Mapping[str, LedgerEntry]
    crm: CrmState
    writeback_started: bool
    edits_asked: bool = True
    stale: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What the rules say and what to change: ``health`` holds the rows to keep (weekly points the
    history lacked, and today's scores); ``evaluation.signals`` the signals to log."""

    evaluation: Evaluation
    actions: tuple[Action, ...]
    plan: Plan
    health: pl.DataFrame
    tasks_held: str = ""
    unasked: tuple[str, ...] = ()
    """CRM ids of upsync's tasks and accounts that moved since upsync wrote them, when the CRM
    was not asked who moved them (``upsync plan``): ``apply`` asks before touching them."""
    held_rules: Mapping[str, str] = field(default_factory=dict)
    """Rule id → why it is held (a stale input): no task created, updated or closed from it."""


def usage_since(ruleset: RuleSet, day: date) -> date:
    """How far back usage (and health history) must be read for features as of ``day``: the
    windows and weekly series, or the longest daily series a rule reads (its days end yesterday)."""
    weeks = ruleset.params.features.series_weeks
    longest = max(ruleset.daily.values(), default=0)
    return day - timedelta(days=max(max(90, 7 * weeks) + 7, longest))


def health_window(ruleset: RuleSet, as_of: datetime) -> tuple[date, date]:
    """The days whose stored health scores tell which weekly points are missing."""
    weeks = ruleset.params.features.series_weeks
    oldest = as_of - timedelta(days=7 * (weeks - 1))
    return oldest.date() - _NEARBY, as_of.date()


def health_gaps(ruleset: RuleSet, as_of: datetime, stored: Iterable[date]) -> list[datetime]:
    """The weekly points before ``as_of`` (newest first) that no stored score stands for."""
    weeks = ruleset.params.features.series_weeks
    have = set(stored)
    targets = [as_of - timedelta(days=7 * i) for i in range(1, weeks)]
    return [at for at in targets if not any(abs(d - at.date()) <= _NEARBY for d in have)]


def read_since(ruleset: RuleSet, as_of: datetime, stored: Iterable[date]) -> date:
    """Where the usage read must start: the evaluation's window, or further back when weekly
    health points are missing and must be computed from older usage."""
    gaps = health_gaps(ruleset, as_of, stored)
    return usage_since(ruleset, (gaps[-1] if gaps else as_of).date())


def missing_health(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> pl.DataFrame:
    """Health rows for the weekly points the stored history lacks (the first runs on an org whose
    usage history was loaded): S11 can fire from day one. A point is computed only from a day
    with a full week of usage before it, never guessed from partial data."""
    empty = pl.DataFrame(schema={"account_id": pl.String(), "day": pl.Date()})
    low, high = health_window(ruleset, as_of)
    stored = tables.health.filter(pl.col("day").is_between(low, high)).get_column("day").to_list()
    gaps = health_gaps(ruleset, as_of, stored)
    first_day = tables.usage.get_column("day").min() if gaps else None
    if not isinstance(first_day, date):
        return empty
    points = [
        engine.health_points(ruleset, tables, as_of=at) for at in gaps if at.date() >= first_day + timedelta(days=7)
    ]
    points = [p for p in points if not p.is_empty()]
    return pl.concat(points, how="vertical") if points else empty


def evaluate(ruleset: RuleSet, tables: Tables, *, as_of: datetime) -> tuple[Evaluation, pl.DataFrame]:
    """Every rule over every account as of ``as_of``, with the weekly health points the history
    lacked filled in first; returns the evaluation and those points."""
    filled = missing_health(ruleset, tables, as_of=as_of)
    since = usage_since(ruleset, as_of.date())
    history = tables.health
    if not filled.is_empty():
        history = pl.concat([history, filled.select(list(TABLE_SCHEMAS["health"]))], how="vertical")
    window = replace(
        tables,
        usage=tables.usage.filter(pl.col("day") >= since),
        health=history.filter(pl.col("day") >= since),
    )
    return engine.evaluate(ruleset, window, as_of=as_of), filled


def tasks_held(inputs: CycleInputs, policy: WritePolicy, *, tasks: bool | None) -> str:
    """Why no task may be created this cycle ("" when they may): tasks switched off, a backfill,
    or the first write-back run on this CRM (fields first, so a fresh install is no flood).
    ``tasks``: True creates tasks even on a first run, False never; None follows ``[writeback]``."""
    if not policy.tasks:
        return "tasks are off ([writeback] tasks = false)"
    if tasks is False:
        return "backfill: no tasks for the past (pass --tasks to create them)"
    first_run = not inputs.writeback_started and not inputs.ledger  # an upgraded install is not new
    if tasks is None and not policy.first_run_tasks and first_run:
        return "first run: fields only, tasks from the next run (or pass --tasks)"
    return ""


def last_signals(
    log: pl.DataFrame, fired: Iterable[tuple[str, str]], *, today: date, titles: Mapping[str, str]
) -> dict[str, str]:
    """Each account's most recent unblocked signal, as its field shows it: the signal log with
    today's signals folded in ("Seats near the limit (2026-06-01)")."""
    latest: dict[tuple[str, str], date] = {
        (a, r): d for a, r, d in log.select("account_id", "rule_id", "last_fired_on").iter_rows() if d is not None
    }
    latest.update({pair: today for pair in fired})
    best: dict[str, tuple[date, str]] = {}
    for (account, rule_id), day in latest.items():
        if account not in best or (day, rule_id) > best[account]:
            best[account] = (day, rule_id)
    return {account: f"{titles.get(rule_id, rule_id)} ({day:%Y-%m-%d})" for account, (day, rule_id) in best.items()}


def decide(
    inputs: CycleInputs,
    ruleset: RuleSet,
    policy: WritePolicy,
    *,
    as_of: datetime,
    rules: Mapping[str, TaskRule],
    tasks: bool | None = None,
) -> Decision:
    """The cycle's decision as of ``as_of``: evaluate, pick the next best actions, and plan every
    CRM change against the ledger and the CRM's state. ``rules``: each rule as the planner needs
    it (:func:`rules.engine.task_rules`)."""
    system = inputs.system
    evaluation, filled = evaluate(ruleset, inputs.tables, as_of=as_of)
    needed = sorted({name for r in rules.values() for name in (*features_needed(r.playbook), *_anchors(r))})
    # every ripe rule comes as an action: per account, the planner still takes one at a time if asked
    actions = engine.actions(evaluation, ruleset, system=system, extra=needed, every=True)
    held = tasks_held(inputs, policy, tasks=tasks)
    policy = replace(policy, tasks=not held, held_because=held)
    on_hold = held_rules(ruleset, inputs.stale, crm=system)
    paused = {a.account_id for a in actions if a.primary and a.rule_id in on_hold}
    actions = [a for a in actions if a.rule_id not in on_hold]
    signals = evaluation.signals
    unblocked = signals.filter(pl.col("blocked").list.len() == 0)
    fired_today = zip(unblocked.get_column("account").to_list(), unblocked.get_column("rule_id").to_list(), strict=True)
    desired = {}
    if policy.fields:
        titles = {r.id: r.title for r in ruleset.rules}
        last = last_signals(inputs.tables.signals, fired_today, today=as_of.date(), titles=titles)
        cols = [c for c in ("account", "health_score", "health_band") if c in evaluation.features.columns]
        by_account = {a.account_id: a for a in actions if a.primary}
        desired = desired_fields(
            evaluation.features.select(cols).iter_rows(named=True), by_account, rules, last, as_of=as_of
        )
        desired = _hold_fields(desired, paused, usage_stale="usage" in inputs.stale)
    firing: Iterable[tuple[str, str]] = zip(
        signals.get_column("account").to_list(), signals.get_column("rule_id").to_list(), strict=True
    )
    if on_hold:  # a held rule's open tasks stay as they are: old data must not clear them either
        kept = [(e.account_id, e.rule_id) for e in inputs.ledger.values() if e.rule_id in on_hold]
        firing = [*firing, *kept]
    plan = plan_changes(
        actions,
        rules,
        inputs.ledger,
        inputs.crm,
        system=system,
        as_of=as_of,
        policy=policy,
        firing=firing,
        desired=desired,
        dates=_unknown_task_dates(evaluation.features, rules, inputs),
    )
    health = _health_rows(filled, evaluation.health_rows())
    unasked: tuple[str, ...] = ()
    if not inputs.edits_asked:
        moved = [*task_suspects(inputs.ledger, inputs.crm), *field_suspects(None, inputs.crm, policy.owned_fields)]
        unasked = tuple(sorted(moved))
    return Decision(
        evaluation=evaluation,
        actions=tuple(actions),
        plan=plan,
        health=health,
        tasks_held=held,
        unasked=unasked,
        held_rules=on_hold,
    )


def _unknown_task_dates(
    features: pl.DataFrame, rules: Mapping[str, TaskRule], inputs: CycleInputs
) -> dict[str, dict[str, Scalar]]:
    """The dates date-anchored windows name, for accounts with an open upsync task the ledger does
    not know (a lost state): the planner recognises such a task by them, signal or not."""
    windows = sorted({r.window for r in rules.values()} - set(CALENDAR) & set(features.columns))
    accounts = {t.account_id for t in inputs.crm.tasks.values() if t.key not in inputs.ledger and not t.is_closed}
    if not windows or not accounts:
        return {}
    rows = features.filter(pl.col("account").is_in(list(accounts))).select("account", *windows)
    return {r.pop("account"): {k: anchored_period(v) for k, v in r.items()} for r in rows.to_dicts()}


def _anchors(rule: TaskRule) -> tuple[str, ...]:
    """The date feature a rule's window is anchored on, if any: its evidence must hold it."""
    return () if rule.window in CALENDAR else (rule.window,)


_FROM_USAGE = ("health_score", "health_band")


def _hold_fields(
    desired: Mapping[str, Mapping[str, Scalar]], paused: set[str], *, usage_stale: bool
) -> dict[str, dict[str, Scalar]]:
    """The account fields to write, less those a stale input would move: every field of an account
    whose action is held (its next best action is not known), and the health score and band (from
    usage) while usage is stale. They keep the value they have in the CRM."""
    out = {}
    for account, values in desired.items():
        if account in paused:
            continue
        out[account] = {k: v for k, v in values.items() if not (usage_stale and k in _FROM_USAGE)}
    return out


def _health_rows(*parts: pl.DataFrame) -> pl.DataFrame:
    frames: Sequence[pl.DataFrame] = [p for p in parts if not p.is_empty()]
    if not frames:
        return parts[-1]
    return pl.concat(frames, how="diagonal_relaxed")
