"""One cycle: pull → store → evaluate → plan → write. A straight line of effects around pure calls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.base import CrmConnector
from connectors.usage.client import UsageConnector
from rules.plan import Plan, plan_tasks
from rules.signals import RuleSpec, evaluate
from sync.pull import PullReport, pull_stream
from sync.records import Clock, Signal
from sync.settings import Settings
from sync.store import Store
from sync.writeback import ApplyReport, apply_plan

__all__ = ["Context", "RunReport", "cadences", "connect_crm", "connect_usage", "pull_all", "rule_specs", "run_cycle"]

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


def rule_specs(settings: Settings) -> dict[str, RuleSpec]:
    specs = {}
    for rule in settings.rules:
        if not rule.enabled:
            continue
        playbook = settings.playbook(rule.playbook)
        specs[rule.id] = RuleSpec(
            id=rule.id,
            signal=rule.signal,
            kind=rule.kind,
            threshold=rule.threshold,
            priority=rule.priority,
            due_in_days=rule.due_in_days,
            window=rule.window,
            subject=rule.subject,
            playbook_title=playbook.title,
            playbook_url=playbook.url,
        )
    return specs


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

    def close(self) -> None:
        """Release the connectors and the store (the context owns all three)."""
        self.crm.close()
        self.usage.close()
        self.store.close()


@dataclass(kw_only=True)
class RunReport:
    started_at: datetime
    pulls: list[PullReport]
    signals: list[Signal]
    plan: Plan
    applied: ApplyReport | None
    stopped: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "pulled": {p.stream: p.records for p in self.pulls},
            "pull_errors": {p.stream: p.error for p in self.pulls if p.error},
            "problems": sum(len(p.problems) for p in self.pulls),
            "signals": len(self.signals),
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
    specs = rule_specs(ctx.settings)
    snapshots = ctx.store.account_snapshots(ctx.crm.system, now=started)
    signals = evaluate(specs.values(), snapshots, now=started)
    ledger = ctx.store.ledger(ctx.crm.system)
    crm_settings = getattr(ctx.settings, ctx.crm.system)
    plan = plan_tasks(signals, specs, ledger, now=started, fallback_owner_id=crm_settings.fallback_owner_id)
    applied = None
    if not (ctx.dry_run or ctx.settings.upsync.dry_run) and not (stopped or ctx.stop.is_set()):
        applied = apply_plan(ctx.store, ctx.crm.writer, plan, ledger, clock=ctx.clock, stop=ctx.stop)
        stopped = stopped or applied.stopped
    report = RunReport(started_at=started, pulls=pulls, signals=signals, plan=plan, applied=applied, stopped=stopped)
    ctx.store.finish_run(
        run_id, finished_at=ctx.clock(), status="ok" if report.ok else "errors", summary=report.summary()
    )
    log.info("cycle done: %s", report.summary())
    return report
