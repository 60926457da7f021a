"""One cycle: pull → store → evaluate → plan → write. A straight line of effects around pure calls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from connectors.base import CrmConnector
from connectors.usage.client import UsageConnector
from core.clock import Clock
from core.errors import ConnectorError
from core.records import FIELD_NAMES, Action, EditSource, LedgerEntry, Scalar
from rules import engine
from rules.engine import Evaluation, RuleSet
from rules.plan import (
    CrmState,
    Plan,
    TaskRule,
    WritePolicy,
    desired_fields,
    field_suspects,
    plan_changes,
    task_suspects,
)
from rules.playbooks import features_needed
from sync.pull import PullReport, pull_stream
from sync.settings import Settings
from sync.store import Store
from sync.writeback import ApplyReport, apply_plan

__all__ = [
    "Context",
    "RunReport",
    "cadences",
    "connect_crm",
    "connect_usage",
    "evaluate_now",
    "plan_cycle",
    "pull_all",
    "run_cycle",
    "task_rules",
]

log = logging.getLogger("upsync.runner")


def connect_crm(settings: Settings, env: Mapping[str, str]) -> CrmConnector:
    """The configured CRM's connector (imported lazily: each vendor SDK is slow to import)."""
    if settings.upsync.crm == "salesforce":
        from connectors.salesforce.connector import SalesforceConnector

        assert settings.salesforce is not None
        return SalesforceConnector(settings.salesforce, env, settings.retry)
    from connectors.hubspot.connector import HubSpotConnector

    assert settings.hubspot is not None
    return HubSpotConnector(settings.hubspot, env, settings.retry)


def connect_usage(settings: Settings, env: Mapping[str, str]) -> UsageConnector:
    assert settings.usage is not None
    return UsageConnector(settings.usage, env, settings.retry)


def cadences(settings: Settings, system: str) -> tuple[timedelta | None, timedelta | None]:
    """(full refresh period, deletes period) of a system's streams; the usage API has neither."""
    section = getattr(settings, system, None)
    if system not in ("salesforce", "hubspot") or section is None:
        return None, None
    return timedelta(days=section.full_refresh_days), timedelta(hours=section.deletes_every_hours)


def pull_all(
    ctx: Context,
    *,
    started: datetime,
    only: Callable[[str], bool] | None = None,
    progress: Callable[[str], Callable[[int], None] | None] | None = None,
) -> list[PullReport]:
    """Pull every stream of the CRM, then the usage API. After an auth or quota stop, the rest of
    that system's streams wait for the next run (their cursors untouched)."""
    reports: list[PullReport] = []
    for connector in (ctx.crm, ctx.usage):
        full_refresh, deletes_every = cadences(ctx.settings, connector.system)
        halted: str | None = None
        report_quota = False
        for stream in connector.streams:
            if only is not None and not only(stream.name):
                continue
            if ctx.stop.is_set():
                return reports
            if halted is not None:
                reports.append(PullReport(stream=stream.name, error=f"not read: {halted}", quota=report_quota))
                continue
            report = pull_stream(
                ctx.store,
                stream,
                run_started_at=started,
                clock=ctx.clock,
                stop=ctx.stop,
                full_refresh=full_refresh,
                deletes_every=deletes_every,
                progress=progress(stream.name) if progress else None,
            )
            reports.append(report)
            if report.halts_system:
                halted = f"{connector.system} stopped after {stream.name}"
                report_quota = report.quota
    return reports


def task_rules(settings: Settings, ruleset: RuleSet) -> dict[str, TaskRule]:
    return engine.task_rules(ruleset, {p.id: p for p in settings.playbooks})


def owned_fields(settings: Settings) -> tuple[str, ...]:
    """The account fields this config declares as upsync's (the only ones it ever writes)."""
    crm = settings.upsync.crm
    mapping = settings.salesforce.account_fields if crm == "salesforce" and settings.salesforce else None
    if crm == "hubspot" and settings.hubspot:
        mapping = settings.hubspot.company_properties
    return tuple(n for n in FIELD_NAMES if mapping and n in mapping)


def usage_since(ruleset: RuleSet, day: date) -> date:
    """How far back usage (and health history) must be read for features as of ``day``."""
    weeks = ruleset.params.features.series_weeks
    return day - timedelta(days=max(90, 7 * weeks) + 7)


def fill_health_history(store: Store, system: str, ruleset: RuleSet, *, as_of: datetime) -> int:
    """Compute and store the weekly health points a trend needs that the history lacks (the first
    runs on an org whose usage history was backfilled): S11 can fire from day one.

    Cheap when nothing is missing (one query for the stored days); a point is only filled from a
    day that has a full week of usage before it, never guessed from partial data."""
    weeks = ruleset.params.features.series_weeks
    targets = [as_of - timedelta(days=7 * i) for i in range(1, weeks)]
    have = store.health_days(system, since=targets[-1].date() - timedelta(days=3), until=as_of.date())
    missing = [at for at in targets if not any(abs((d - at.date()).days) <= 3 for d in have)]
    if not missing:
        return 0
    tables = store.rule_tables(system, since=usage_since(ruleset, missing[-1].date()), until=as_of)
    first_day = tables.usage.get_column("day").min()
    if not isinstance(first_day, date):
        return 0
    first_full_week = first_day + timedelta(days=7)
    written = 0
    for at in missing:
        if at.date() < first_full_week:
            continue
        rows = engine.health_points(ruleset, tables, as_of=at)
        if not rows.is_empty():
            written += store.save_health(system, rows)
    return written


def evaluate_now(store: Store, system: str, ruleset: RuleSet, *, as_of: datetime) -> Evaluation:
    """Every rule over every stored account of ``system`` as of ``as_of`` (reads only)."""
    tables = store.rule_tables(system, since=usage_since(ruleset, as_of.date()), until=as_of)
    return engine.evaluate(ruleset, tables, as_of=as_of)


@dataclass
class Context:
    """Everything a cycle needs, built once by the CLI or the daemon."""

    settings: Settings
    store: Store
    crm: CrmConnector
    usage: UsageConnector
    clock: Clock
    stop: threading.Event = field(default_factory=threading.Event)
    dry_run: bool = False
    _ruleset: RuleSet | None = None

    @property
    def ruleset(self) -> RuleSet:
        """The rules, compiled once per context."""
        if self._ruleset is None:
            self._ruleset = self.settings.ruleset()
        return self._ruleset

    def close(self) -> None:
        """Release the connectors and the store (the context owns all three)."""
        self.crm.close()
        self.usage.close()
        self.store.close()


@dataclass(kw_only=True)
class CyclePlan:
    """One cycle's decision: the evaluation, the actions, and the plan against this ledger."""

    evaluation: Evaluation
    actions: list[Action]
    ledger: dict[str, LedgerEntry]
    plan: Plan
    tasks_held: str = ""


def writeback_key(system: str) -> str:
    return f"writeback_started:{system}"


def plan_cycle(ctx: Context, *, as_of: datetime, record: bool, tasks: bool | None = None) -> CyclePlan:
    """Evaluate the stored data as of ``as_of`` and plan every CRM change (pure but for the reads;
    ``record`` also stores the day's health scores and signal log). ``tasks``: True creates tasks
    even on a first run or backfill, False never; None follows ``[writeback]``."""
    system = ctx.crm.system
    ruleset = ctx.ruleset
    settings = ctx.settings
    if record:
        fill_health_history(ctx.store, system, ruleset, as_of=as_of)
    evaluation = evaluate_now(ctx.store, system, ruleset, as_of=as_of)
    if record:
        ctx.store.save_health(system, evaluation.health_rows())
        ctx.store.log_signals(system, evaluation.signals, day=as_of.date())
    rules = task_rules(settings, ruleset)
    needed = sorted({name for r in rules.values() for name in features_needed(r.playbook)})
    actions = engine.actions(evaluation, ruleset, system=system, extra=needed)
    ledger = ctx.store.ledger(system)

    held = ""
    if not settings.writeback.tasks:
        held = "tasks are off ([writeback] tasks = false)"
    elif tasks is False:
        held = "backfill: no tasks for the past (pass --tasks to create them)"
    elif (
        tasks is None
        and not settings.writeback.first_run_tasks
        and not ledger  # an upgraded install that wrote tasks before is not on its first run
        and ctx.store.meta(writeback_key(system)) is None
    ):
        held = "first run: fields only, tasks from the next run (or pass --tasks)"
    owned = owned_fields(settings)
    policy = WritePolicy(
        tasks=not held,
        held_because=held,
        fields=settings.writeback.fields,
        owned_fields=owned,
        owner_weekly_budget=settings.writeback.owner_weekly_budget,
        on_clear=settings.writeback.on_clear,
        update_open_tasks=settings.writeback.update_open_tasks,
    )
    state = CrmState(
        tasks=ctx.store.own_tasks(system),
        accounts=ctx.store.account_states(system) if policy.fields else {},
        fields=ctx.store.field_memos(system) if policy.fields else {},
    )
    by_account = {a.account_id: a for a in actions}
    titles = {r.id: r.title for r in ruleset.rules}
    last = {
        account: f"{titles.get(rule_id, rule_id)} ({day:%Y-%m-%d})"
        for account, (rule_id, day) in ctx.store.last_signals(system).items()
    }
    desired = {}
    if policy.fields:
        cols = [c for c in ("account", "health_score", "health_band") if c in evaluation.features.columns]
        desired = desired_fields(
            evaluation.features.select(cols).iter_rows(named=True), by_account, rules, last, as_of=as_of
        )
    state = _ask_who(ctx, state, ledger, desired, owned)
    firing = zip(
        evaluation.signals.get_column("account").to_list(),
        evaluation.signals.get_column("rule_id").to_list(),
        strict=True,
    )
    plan = plan_changes(
        actions, rules, ledger, state, system=system, now=as_of, policy=policy, firing=firing, desired=desired
    )
    return CyclePlan(evaluation=evaluation, actions=actions, ledger=ledger, plan=plan, tasks_held=held)


def _ask_who(
    ctx: Context,
    state: CrmState,
    ledger: dict[str, LedgerEntry],
    desired: Mapping[str, Mapping[str, Scalar]],
    owned: tuple[str, ...],
) -> CrmState:
    """Ask the CRM who changed the few tasks and fields that moved since upsync wrote them."""
    tasks = task_suspects(ledger, state)
    fields = field_suspects(desired, state, owned) if desired else {}
    task_edits: dict[str, EditSource] = {}
    account_edits: dict[str, EditSource] = {}
    try:
        if tasks:
            task_edits = ctx.crm.writer.edit_sources("tasks", tasks)
        if fields:
            account_edits = ctx.crm.writer.edit_sources("accounts", fields)
    except ConnectorError as exc:
        # Unknown authorship is treated as a person's edit (left alone): safe, and retried next run.
        log.warning("cannot tell who edited %d tasks / %d accounts: %s", len(tasks), len(fields), exc)
    return CrmState(
        tasks=state.tasks,
        accounts=state.accounts,
        fields=state.fields,
        task_edits=task_edits,
        account_edits=account_edits,
    )


def apply_cycle(ctx: Context, cycle: CyclePlan, *, as_of: datetime) -> ApplyReport:
    """Write the plan; the first write-back run is remembered (the flood guard's "first run")."""
    system = ctx.crm.system
    applied = apply_plan(ctx.store, ctx.crm.writer, cycle.plan, cycle.ledger, clock=ctx.clock, stop=ctx.stop)
    if ctx.store.meta(writeback_key(system)) is None and not applied.stopped:
        ctx.store.set_meta(writeback_key(system), as_of.isoformat())
    return applied


@dataclass(kw_only=True)
class RunReport:
    started_at: datetime
    pulls: list[PullReport]
    signals: int
    blocked: int
    actions: list[Action]
    plan: Plan
    applied: ApplyReport | None
    stopped: bool = False
    tasks_held: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "pulled": {p.stream: p.records for p in self.pulls},
            "pull_errors": {p.stream: p.error for p in self.pulls if p.error},
            "problems": sum(len(p.problems) for p in self.pulls),
            "signals": self.signals,
            "blocked": self.blocked,
            "actions": len(self.actions),
            "planned": len(self.plan.writes),
            "updates": len(self.plan.updates),
            "field_writes": len(self.plan.fields),
            "skipped": len(self.plan.skipped),
            "holds": len(self.plan.holds),
            "tasks_held": self.tasks_held,
            "created": self.applied.created if self.applied else 0,
            "reconciled": self.applied.reconciled if self.applied else 0,
            "updated": self.applied.updated if self.applied else 0,
            "closed": self.applied.closed if self.applied else 0,
            "fields": self.applied.fields if self.applied else 0,
            "failed": self.applied.failed if self.applied else 0,
            "unknown": self.applied.unknown if self.applied else 0,
            "calls": self.applied.calls if self.applied else 0,
            "stopped": self.stopped,
        }

    @property
    def ok(self) -> bool:
        return not any(p.error for p in self.pulls) and not (self.applied and self.applied.errors)


def run_cycle(ctx: Context, *, command: str = "sync", pull: bool = True, tasks: bool | None = None) -> RunReport:
    """Pull every stream (unless ``pull`` is False: ``upsync apply``), evaluate the rules as of
    the clock's ``now``, plan and apply (unless a dry run)."""
    started = ctx.clock()
    run_id = ctx.store.start_run(command, started_at=started, as_of=started)
    pulls = pull_all(ctx, started=started) if pull else []
    stopped = ctx.stop.is_set()
    cycle = plan_cycle(ctx, as_of=started, record=True, tasks=tasks)
    applied = None
    if not (ctx.dry_run or ctx.settings.upsync.dry_run) and not (stopped or ctx.stop.is_set()):
        applied = apply_cycle(ctx, cycle, as_of=started)
        stopped = stopped or applied.stopped
    signals = cycle.evaluation.signals
    blocked = signals.filter(signals.get_column("blocked").list.len() > 0).height
    report = RunReport(
        started_at=started,
        pulls=pulls,
        signals=signals.height,
        blocked=blocked,
        actions=cycle.actions,
        plan=cycle.plan,
        applied=applied,
        stopped=stopped,
        tasks_held=cycle.tasks_held,
    )
    ctx.store.finish_run(
        run_id, finished_at=ctx.clock(), status="ok" if report.ok else "errors", summary=report.summary()
    )
    log.info("cycle done: %s", report.summary())
    return report
