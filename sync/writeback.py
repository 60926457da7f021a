"""Apply a plan through a CRM's task writer, recording every outcome in the ledger.

Order of effects per batch: ledger rows ``pending`` (committed) → one CRM call → results
(committed). A crash after the CRM call leaves ``pending`` rows; the next plan turns them into
reconciles, which look the keys up in the CRM before creating anything, so a task is never
written twice and never lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connectors.base import TaskWriter
from rules.plan import Plan
from sync.errors import ConnectorError
from sync.records import Clock, LedgerEntry, LedgerState, TaskIntent, WriteResult
from sync.store import Store

__all__ = ["ApplyReport", "apply_plan"]

log = logging.getLogger("upsync.writeback")


@dataclass(kw_only=True)
class ApplyReport:
    created: int = 0
    reconciled: int = 0
    failed: int = 0
    unknown: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: bool = False


def _entry(task: TaskIntent, previous: LedgerEntry | None) -> LedgerEntry:
    return LedgerEntry(
        key=task.key,
        system=task.system,
        rule_id=task.rule_id,
        account_id=task.account_id,
        window=task.window,
        state=LedgerState.pending,
        attempts=previous.attempts if previous else 0,
        last_error=previous.last_error if previous else None,
    )


def apply_plan(
    store: Store,
    writer: TaskWriter,
    plan: Plan,
    ledger: Mapping[str, LedgerEntry],
    *,
    clock: Clock,
    stop: threading.Event | None = None,
) -> ApplyReport:
    report = ApplyReport()
    to_create: list[TaskIntent] = list(plan.creates)
    if plan.reconciles:
        try:
            found = writer.find([t.key for t in plan.reconciles])
        except ConnectorError as exc:
            report.errors.append(f"reconcile: {exc}")
            log.error("cannot reconcile %d unconfirmed writes, creating nothing: %s", len(plan.reconciles), exc)
            return report
        store.record_results(
            [WriteResult(key=k, crm_id=v, state=LedgerState.confirmed) for k, v in found.items()], now=clock()
        )
        report.reconciled = len(found)
        to_create = [t for t in plan.reconciles if t.key not in found] + to_create
    for start in range(0, len(to_create), writer.batch_size):
        if stop is not None and stop.is_set():
            report.stopped = True
            break
        batch: Sequence[TaskIntent] = to_create[start : start + writer.batch_size]
        store.mark_pending([_entry(t, ledger.get(t.key)) for t in batch], now=clock())
        try:
            results = writer.create(batch)
        except ConnectorError as exc:
            # The CRM may or may not hold these: the next run looks them up by key first.
            results = [WriteResult(key=t.key, crm_id=None, state=LedgerState.unknown, error=str(exc)) for t in batch]
            report.errors.append(str(exc))
            log.error("task batch of %d not confirmed (will reconcile next run): %s", len(batch), exc)
            store.record_results(results, now=clock())
            report.unknown += len(batch)
            break
        store.record_results(results, now=clock())
        for r in results:
            if r.state is LedgerState.confirmed:
                report.created += 1
            elif r.state is LedgerState.failed:
                report.failed += 1
                log.warning("task %s refused: %s", r.key, r.error)
            else:
                report.unknown += 1
    return report
