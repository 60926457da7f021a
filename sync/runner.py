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
from rules import engine
from rules.engine import Evaluation, RuleSet
from rules.plan import Plan, TaskRule, plan_tasks
from sync.pull import PullReport, pull_stream
from sync.records import Action, Clock
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
    playbooks = {p.id: (p.title, p.url) for p in settings.playbooks}
    return engine.task_rules(ruleset, playbooks)


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
class RunReport:
    started_at: datetime
    pulls: list[PullReport]
    signals: int
    blocked: int
    actions: list[Action]
    plan: Plan
    applied: ApplyReport | None
    stopped: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "pulled": {p.stream: p.records for p in self.pulls},
            "pull_errors": {p.stream: p.error for p in self.pulls if p.error},
            "problems": sum(len(p.problems) for p in self.pulls),
            "signals": self.signals,
            "blocked": self.blocked,
            "actions": len(self.actions),
            "planned": len(self.plan.writes),
            "skipped": len(self.plan.skipped),
            "created": self.applied.created if self.applied else 0,
            "reconciled": self.applied.reconciled if self.applied else 0,
            "failed": self.applied.failed if self.applied else 0,
            "unknown": self.applied.unknown if self.applied else 0,
            "stopped": self.stopped,
        }

    @property
    def ok(self) -> bool:
        return not any(p.error for p in self.pulls) and not (self.applied and self.applied.errors)


def run_cycle(ctx: Context, *, command: str = "sync") -> RunReport:
    """Pull every stream, evaluate the rules as of the clock's ``now``, plan and apply."""
    started = ctx.clock()
    run_id = ctx.store.start_run(command, started_at=started, as_of=started)
    pulls = pull_all(ctx, started=started)
    stopped = ctx.stop.is_set()
    system = ctx.crm.system
    ruleset = ctx.ruleset
    fill_health_history(ctx.store, system, ruleset, as_of=started)
    evaluation = evaluate_now(ctx.store, system, ruleset, as_of=started)
    ctx.store.save_health(system, evaluation.health_rows())
    ctx.store.log_signals(system, evaluation.signals, day=started.date())
    actions = engine.actions(evaluation, ruleset, system=system)
    ledger = ctx.store.ledger(system)
    plan = plan_tasks(actions, task_rules(ctx.settings, ruleset), ledger, now=started)
    applied = None
    if not (ctx.dry_run or ctx.settings.upsync.dry_run) and not (stopped or ctx.stop.is_set()):
        applied = apply_plan(ctx.store, ctx.crm.writer, plan, ledger, clock=ctx.clock, stop=ctx.stop)
        stopped = stopped or applied.stopped
    blocked = evaluation.signals.filter(evaluation.signals.get_column("blocked").list.len() > 0).height
    report = RunReport(
        started_at=started,
        pulls=pulls,
        signals=evaluation.signals.height,
        blocked=blocked,
        actions=actions,
        plan=plan,
        applied=applied,
        stopped=stopped,
    )
    ctx.store.finish_run(
        run_id, finished_at=ctx.clock(), status="ok" if report.ok else "errors", summary=report.summary()
    )
    log.info("cycle done: %s", report.summary())
    return report
