"""Apply a plan through a CRM's writer, recording every outcome in the ledger.

Order of effects per batch: ledger rows ``pending`` (committed) → one CRM call → results
(committed). A crash after the CRM call leaves ``pending`` rows; the next plan turns them into
reconciles, which look the keys up in the CRM before creating anything, so a task is never
written twice and never lost. Updates (reassign, close) and field writes are idempotent
overwrites keyed on the record, so repeating one after a crash changes nothing twice.

Items the CRM refused come back ``failed`` one by one; the rest of their batch stands, and the
next run retries only the failed items (up to ``rules.plan.MAX_ATTEMPTS``).

``calls`` are the requests the write-back really sent, read off the connectors' call meter:
retries included, with the time they and their backoff took.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from connectors.base import TaskWriter
from connectors.http import METER, CallMeter
from core.clock import Clock
from core.errors import AuthError, ConnectorError, ShutdownError
from core.records import LedgerEntry, LedgerState, TaskIntent, TaskUpdate, WriteResult
from rules.plan import Plan, who_edited
from sync.store import Store

__all__ = ["ApplyReport", "apply_plan"]

log = logging.getLogger("upsync.writeback")
T = TypeVar("T")


@dataclass(kw_only=True)
class ApplyReport:
    created: int = 0
    reconciled: int = 0
    updated: int = 0
    closed: int = 0
    fields: int = 0
    held: int = 0
    failed: int = 0
    unknown: int = 0
    calls: int = 0  # requests sent to the CRM, retries included
    retried: int = 0  # of those, retries of a failed attempt
    call_seconds: float = 0.0  # time in those calls and their backoff
    errors: list[str] = field(default_factory=list)
    stopped: bool = False
    refused: bool = False  # the CRM refused upsync's credentials: nothing more is tried this run


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
        owner_id=task.owner_id,
        priority=task.priority,
        due_on=task.due_on,
        step=task.step,
        body=task.body,
        provenance=task.provenance,
    )


def _batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


LEASE_LOST = "the writer lease was lost (the state database ended its session): stopped writing; the next cycle resumes"


def apply_plan(
    store: Store,
    writer: TaskWriter,
    plan: Plan,
    ledger: Mapping[str, LedgerEntry],
    *,
    clock: Clock,
    stop: threading.Event | None = None,
    leased: Callable[[], bool] | None = None,
    meter: CallMeter = METER,
) -> ApplyReport:
    """Holds, reconciles, creates, updates and closes, then fields; stops between batches on ``stop``,
    or when ``leased`` says the writer lease was lost (another replica may be writing now)."""
    report = ApplyReport()
    before = meter.total(writer.system)
    try:
        _apply_plan(store, writer, plan, ledger, clock, stop, leased, report)
    finally:
        spent = meter.total(writer.system) - before
        report.calls, report.retried, report.call_seconds = spent.attempts, spent.retried, spent.seconds + spent.waited
    return report


def _apply_plan(
    store: Store,
    writer: TaskWriter,
    plan: Plan,
    ledger: Mapping[str, LedgerEntry],
    clock: Clock,
    stop: threading.Event | None,
    leased: Callable[[], bool] | None,
    report: ApplyReport,
) -> None:
    system = writer.system
    _record_holds(store, plan, system, clock, report)
    _adopt(store, plan, ledger, clock, report)
    to_create = _reconcile(store, writer, plan, ledger, clock, report)

    def stopped() -> bool:
        if stop is not None and stop.is_set():
            report.stopped = True
        elif not report.stopped and leased is not None and not leased():
            report.errors.append(LEASE_LOST)
            log.error(LEASE_LOST)
            report.stopped = True
        return report.stopped

    for batch in _batches(to_create, writer.batch_size):
        if stopped():
            return
        store.mark_pending([_entry(t, ledger.get(t.key)) for t in batch], now=clock())
        results = _call(writer.create, batch, report, what="task batch")
        if results is None and report.refused:
            # refused at the door: nothing was applied, so nothing to look up, and no attempt spent
            store.release_pending([t.key for t in batch], error=report.errors[-1], now=clock())
            report.failed += len(batch)
            return
        if results is None:
            # The CRM may or may not hold these: the next run looks them up by key first.
            store.record_results(
                [
                    WriteResult(key=t.key, crm_id=None, state=LedgerState.unknown, error=report.errors[-1])
                    for t in batch
                ],
                now=clock(),
            )
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
    if report.unknown:  # a lost answer is an error however it was lost (a timeout, a 207 that left one out)
        report.errors.append(f"{report.unknown} task writes unconfirmed: looked up by key on the next run")

    for ubatch in _batches(list(plan.updates), writer.batch_size):
        if stopped():
            return
        ubatch = _still_ours(store, writer, ubatch, clock, report)
        if not ubatch:
            continue
        uresults = _call(writer.update, ubatch, report, what="task update batch")
        if uresults is None and report.refused:
            return
        if uresults is None:
            break  # idempotent: the next plan proposes the same updates again
        store.record_updates(ubatch, uresults, now=clock())
        for u, r in zip(ubatch, uresults, strict=True):
            if r.state is LedgerState.confirmed:
                if u.close:
                    report.closed += 1
                else:
                    report.updated += 1
            else:
                report.failed += 1
                log.warning("update of task %s refused: %s", u.key, r.error)

    for fbatch in _batches(list(plan.fields), writer.batch_size):
        if stopped():
            return
        store.mark_fields_pending(fbatch, now=clock())
        fresults = _call(writer.write_fields, fbatch, report, what="field batch")
        if fresults is None and report.refused:
            refused = [WriteResult(key=w.key, crm_id=w.account_id, state=LedgerState.failed) for w in fbatch]
            store.record_field_results(fbatch, refused, now=clock())
            report.failed += len(fbatch)
            return
        if fresults is None:
            break  # the values stay pending: the next plan compares them with what the pull reads
        store.record_field_results(fbatch, fresults, now=clock())
        for w, r in zip(fbatch, fresults, strict=True):
            if r.state is LedgerState.confirmed:
                report.fields += 1
            else:
                report.failed += 1
                log.warning("fields of account %s refused: %s", w.account_id, r.error)


TASK_FIELDS = ("subject", "body", "due_on", "priority", "owner_id", "status")


def _adopt(store: Store, plan: Plan, ledger: Mapping[str, LedgerEntry], clock: Clock, report: ApplyReport) -> None:
    """Tasks the CRM already holds under their keys become the ledger's, confirmed: no call."""
    if not plan.adopted:
        return
    fresh = [a.intent for a in plan.adopted if a.intent is not None]
    if fresh:
        store.mark_pending([_entry(t, ledger.get(t.key)) for t in fresh], now=clock())
    results = [WriteResult(key=a.key, crm_id=a.crm_id, state=LedgerState.confirmed) for a in plan.adopted]
    store.record_results(results, now=clock())
    report.reconciled += len(results)


def _reconcile(
    store: Store,
    writer: TaskWriter,
    plan: Plan,
    ledger: Mapping[str, LedgerEntry],
    clock: Clock,
    report: ApplyReport,
) -> list[TaskIntent]:
    """Look up, by key, every write whose answer was lost (the writer reads in bounded chunks):
    found ones are confirmed; a missing one is created again when it is still planned, or let go
    when its signal no longer asks for it. Returns what to create: nothing when the lookup fails."""
    keys = [t.key for t in plan.reconciles] + list(plan.lookups)
    if not keys:
        return list(plan.creates)
    accounts = {k: e.account_id for k in keys if (e := ledger.get(k)) is not None}
    try:
        found = writer.find({k: accounts.get(k) for k in keys})
    except ConnectorError as exc:
        report.errors.append(f"reconcile: {exc}")
        log.error("cannot look up %d unconfirmed writes, creating nothing: %s", len(keys), exc)
        return []
    done = [WriteResult(key=k, crm_id=v, state=LedgerState.confirmed) for k, v in found.items()]
    done += [
        WriteResult(key=k, crm_id=None, state=LedgerState.failed, error="never reached the CRM; no longer planned")
        for k in plan.lookups
        if k not in found
    ]
    store.record_results(done, now=clock())
    report.reconciled += len(found)
    return [t for t in plan.reconciles if t.key not in found] + list(plan.creates)


def _still_ours(
    store: Store, writer: TaskWriter, batch: Sequence[TaskUpdate], clock: Clock, report: ApplyReport
) -> Sequence[TaskUpdate]:
    """Ask the CRM, right before changing upsync's own tasks, whether a person touched them since
    the pull read them (one read per batch): a rep's edit of a minute ago is never overwritten."""
    ids = {u.crm_id: list(TASK_FIELDS) for u in batch if u.crm_id}
    try:
        sources = writer.edit_sources("tasks", ids)
    except ConnectorError as exc:
        report.errors.append(f"cannot confirm tasks are untouched: {exc}")
        log.error("not updating %d tasks: cannot confirm nobody edited them: %s", len(batch), exc)
        return []
    mine, theirs = [], []
    for u in batch:
        src = sources.get(u.crm_id or "")
        if src is not None and src.origin != "upsync":
            theirs.append((u.key, who_edited(src, "task")))
        else:
            mine.append(u)
    if theirs:
        store.hold_tasks(theirs, now=clock())
        report.held += len(theirs)
    return mine


def _call(
    fn: Callable[[Sequence[T]], list[WriteResult]], batch: Sequence[T], report: ApplyReport, *, what: str
) -> list[WriteResult] | None:
    try:
        results = fn(batch)
    except ShutdownError:
        report.stopped = True  # the batch may have landed: it is looked up by key on the next start
        return None
    except AuthError as exc:
        report.errors.append(f"{what} not written: {exc}")
        report.refused = True
        log.error("%s of %d not written, nor anything after it: %s", what, len(batch), exc)
        return None
    except ConnectorError as exc:
        report.errors.append(str(exc))
        log.error("%s of %d not confirmed: %s", what, len(batch), exc)
        return None
    if len(results) != len(batch):
        report.errors.append(f"{what}: {len(results)} results for {len(batch)} items")
        return None
    return results


def _record_holds(store: Store, plan: Plan, system: str, clock: Clock, report: ApplyReport) -> None:
    """Remember what people edited (upsync leaves it alone from now on) and what they released."""
    now = clock()
    tasks = [(h.target, h.reason) for h in plan.holds if h.kind == "task"]
    fields = [(h.account_id, h.target, h.value, h.reason) for h in plan.holds if h.kind == "field"]
    if plan.landed:
        store.confirm_fields(system, plan.landed)
    if tasks:
        store.hold_tasks(tasks, now=now)
    if fields:
        store.hold_fields(system, fields, now=now)
    report.held += len(tasks) + len(fields)
