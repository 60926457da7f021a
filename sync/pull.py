"""The page loop: read a stream page by page, committing each page with the cursor it reaches.

Per stream and run, in order:

1. **full pass** when one is due (every ``full_refresh``) or one was interrupted: the whole
   history ``[epoch, pass start)`` is read again under its own cursor (``<stream>#full``), which
   catches formula and roll-up fields whose changes never move the modstamp. Records the
   pass saw carry its id; when it completes, records of this stream it did not see (and that
   were not modified since it began) are marked deleted: the weekly Id reconciliation.
2. **incremental read** of ``[cursor - lookback, as_of)``: each page commits with the cursor
   it reaches (only at checkpoints, for readers whose pages are not in cursor order).
3. **deletes** when due (every ``deletes_every``): hard deletes and archives the read cannot see.

A ConnectorError stops the stream with its cursors at the last committed page; the next run
resumes there. Nothing is ever skipped: a cursor only moves past records already stored. The
window maths is :mod:`core.cursor`'s; this module only reads, commits and reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from connectors.base import Page, Stream
from core.clock import Clock
from core.cursor import (
    EPOCH,
    advance,
    deletes_window,
    full_pass_due,
    highest,
    merge_pass,
    next_window,
    pass_window,
)
from core.errors import AuthError, ConnectorError, QuotaExhaustedError, ShutdownError, UnreachableError
from core.records import CursorState, Window
from sync.store import Store

__all__ = ["PullReport", "StreamRun", "backfill_stream", "pull_stream"]

log = logging.getLogger("upsync.pull")


@dataclass(kw_only=True)
class PullReport:
    stream: str
    kind: str = ""  # the canonical kind the stream writes
    records: int = 0
    pages: int = 0
    deleted: int = 0
    full_pass: bool = False
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    quota: bool = False
    auth: bool = False  # the system refused upsync's credentials
    halts_system: bool = False  # auth, quota, unreachable: the system's other streams would fail the same way
    stopped: bool = False


@dataclass(kw_only=True)
class StreamRun:
    """One stream read in one run: where its pages go, the run's moment, and what it reports."""

    store: Store
    stream: Stream
    as_of: datetime
    clock: Clock
    report: PullReport
    stop: threading.Event | None = None
    progress: Callable[[int], None] | None = None

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def lookback(self) -> timedelta:
        return self.stream.spec.lookback if self.stream.spec is not None else timedelta(0)

    def save(self, cursor_name: str, state: CursorState | None) -> None:
        self.store.save_cursor(cursor_name, state, now=self.clock())

    def account(self, page: Page) -> None:
        """Count a committed page; name its unreadable records; stop here if asked to."""
        self.report.pages += 1
        self.report.records += len(page.records)
        for problem in page.problems:
            log.warning("skipped: %s", problem, extra={"stream": self.name})
        self.report.problems.extend(page.problems)
        if self.progress is not None:
            self.progress(len(page.records))
        if self.stop is not None and self.stop.is_set():
            raise _Stopped


class _Stopped(Exception):
    pass


def pull_stream(
    store: Store,
    stream: Stream,
    *,
    as_of: datetime,
    clock: Clock,
    stop: threading.Event | None = None,
    full_refresh: timedelta | None = None,
    deletes_every: timedelta | None = None,
    progress: Callable[[int], None] | None = None,
) -> PullReport:
    """Bring ``stream`` up to ``as_of``: full pass if due, then incremental, then deletes."""
    run = StreamRun(
        store=store,
        stream=stream,
        as_of=as_of,
        clock=clock,
        report=PullReport(stream=stream.name, kind=stream.kind),
        stop=stop,
        progress=progress,
    )
    try:
        _bring_up(run, full_refresh, deletes_every)
    except (_Stopped, ConnectorError) as exc:
        _record(run.report, exc)
    _note(run)  # not on an unexpected exception: a bug is not a pull that ended well
    return run.report


def _bring_up(run: StreamRun, full_refresh: timedelta | None, deletes_every: timedelta | None) -> None:
    store, stream, as_of = run.store, run.stream, run.as_of
    if stream.spec is None:
        _read_whole(run)
        return
    state = store.cursor(stream.name)
    full = store.cursor(f"{stream.name}#full")
    if full is not None or full_pass_due(state, as_of=as_of, every=full_refresh):
        run.report.full_pass = True
        done, window_end = _pass(run, "#full", full, EPOCH, reconcile=True)
        state = _merge(run, state, done, full_at=window_end)
        if state.full_at == as_of:
            _deletes(run, deletes_every)
            return  # a pass that started this run covered everything up to now
    _incremental(run, state)
    _deletes(run, deletes_every)


def _note(run: StreamRun) -> None:
    """The stream's freshness for ``upsync status``: a stopped run is neither a success nor a failure."""
    r = run.report
    if not r.stopped:
        run.store.note_stream_pull(r.stream, at=run.as_of, ok=r.error is None, error=r.error, records=r.records)


def backfill_stream(
    store: Store,
    stream: Stream,
    *,
    since: datetime | None,
    as_of: datetime,
    clock: Clock,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> PullReport:
    """Read ``[since, backfill start)`` under the stream's ``#backfill`` cursor: resumable after a
    kill (the window end is kept, so a resumed backfill finishes the same window), and merged into
    the incremental cursor when it completes. Pulls only: it writes nothing to the CRM."""
    run = StreamRun(
        store=store,
        stream=stream,
        as_of=as_of,
        clock=clock,
        report=PullReport(stream=stream.name, kind=stream.kind, full_pass=True),
        stop=stop,
        progress=progress,
    )
    try:
        if stream.spec is None:
            _read_whole(run)
            return run.report
        resume = store.cursor(f"{stream.name}#backfill")
        done, window_end = _pass(run, "#backfill", resume, since or EPOCH, reconcile=since is None)
        main = store.cursor(stream.name)
        # a backfill from the start is a full read; one from --since on a fresh store sets the
        # horizon: history before it is not wanted, so no full pass follows on its heels
        full = since is None or main is None
        _merge(run, main, done, full_at=window_end if full else (main.full_at if main else None))
        if store.cursor(f"{stream.name}#deletes") is None:
            # deletes count from the moment the backfill read what exists, not from the first sync
            # after it: a record deleted in between is listed by that sync's deletes read
            run.save(f"{stream.name}#deletes", CursorState(last_value=window_end))
    except (_Stopped, ConnectorError) as exc:
        _record(run.report, exc)
    return run.report


def _consume(
    run: StreamRun, cursor_name: str, state: CursorState | None, window: Window, *, pass_id: str | None = None
) -> CursorState | None:
    """Read ``window`` into the store, moving the cursor ``cursor_name`` at each checkpoint.

    Incremental reads (no ``pass_id``) let the reader skip records stored unchanged; a pass
    must see every record, to tag it and to catch values that changed without a modstamp.
    """
    system = run.name.split(".", 1)[0]
    unchanged = None if pass_id is not None else partial(run.store.unchanged, system=system)
    best = None
    for page in run.stream.read(window, unchanged=unchanged):
        best = highest(best, page.records)
        cursor: CursorState | None = None
        if page.checkpoint:
            cursor = advance(state, [best] if best else [], window)
            best = None
        run.store.commit_page(run.name, page.records, cursor, now=run.clock(), pass_id=pass_id, cursor_name=cursor_name)
        if cursor is not None:
            state = cursor
        run.account(page)
    return state


def _incremental(run: StreamRun, state: CursorState | None) -> None:
    assert run.stream.spec is not None
    window = next_window(state, run.stream.spec, as_of=run.as_of)
    if window.start >= window.end:
        return  # replaying a moment before the saved cursor: nothing new to read
    first_read = state is None
    state = _consume(run, run.name, state, window)
    if first_read:  # the first read is a full read: the next full pass is due a period from now
        base = state or CursorState(last_value=window.start)
        run.save(run.name, replace(base, full_at=run.as_of))


def _pass(
    run: StreamRun, suffix: str, resume: CursorState | None, start: datetime, *, reconcile: bool
) -> tuple[CursorState, datetime]:
    """Read a fixed window under ``<stream><suffix>``; on completion optionally mark what it did
    not see as deleted, and remove that cursor. Returns (final position, window end)."""
    name = f"{run.name}{suffix}"
    if resume is None:
        resume = CursorState(last_value=start, pass_id=run.as_of.isoformat(), window_end=run.as_of)
        run.save(name, resume)
        log.info(
            "%s: %s pass started from %s", run.name, suffix.lstrip("#"), start.isoformat(), extra={"stream": run.name}
        )
    assert resume.window_end is not None and resume.pass_id is not None
    window = pass_window(resume, start=start, lookback=run.lookback)
    done = _consume(run, name, resume, window, pass_id=resume.pass_id)
    assert done is not None
    if reconcile:
        gone = run.store.reconcile_full_pass(
            run.stream.kind, run.name, pass_id=resume.pass_id, before=resume.window_end, now=run.clock()
        )
        run.report.deleted += gone
        if gone:
            log.info(
                "%s: %d records no longer in the source, marked deleted", run.name, gone, extra={"stream": run.name}
            )
    run.save(name, None)
    return done, resume.window_end


def _merge(run: StreamRun, state: CursorState | None, done: CursorState, *, full_at: datetime | None) -> CursorState:
    """Fold a completed pass into the incremental cursor (never backwards)."""
    merged = merge_pass(state or CursorState(last_value=EPOCH), done, full_at=full_at)
    run.save(run.name, merged)
    return merged


def _deletes(run: StreamRun, every: timedelta | None) -> None:
    if every is None:
        return
    name = f"{run.name}#deletes"
    state = run.store.cursor(name)
    if state is None:  # what exists now was just read: deletes count from here on
        run.save(name, CursorState(last_value=run.as_of))
        return
    window = deletes_window(state.last_value, as_of=run.as_of, every=every, lookback=run.lookback)
    if window is None:
        return
    batches = run.stream.deletions(window.start, window.end)
    if batches is None:
        return
    for batch in batches:
        run.report.deleted += run.store.mark_deleted(list(batch), now=run.clock())
    run.save(name, CursorState(last_value=run.as_of))


def _read_whole(run: StreamRun) -> None:
    for page in run.stream.read(None):
        run.store.commit_page(run.name, page.records, CursorState(last_value=run.as_of), now=run.clock())
        run.account(page)


def _record(report: PullReport, exc: Exception) -> None:
    """How a stream ended early: stopped on request, or a connector error with its hint."""
    if isinstance(exc, _Stopped | ShutdownError):
        report.stopped = True
        return
    assert isinstance(exc, ConnectorError)
    report.error = str(exc)
    report.hint = exc.hint
    report.quota = isinstance(exc, QuotaExhaustedError)
    report.auth = isinstance(exc, AuthError)
    # auth, quota, or no answer at all (DNS, TLS trust, the proxy): the other streams would fail alike
    report.halts_system = isinstance(exc, QuotaExhaustedError | AuthError | UnreachableError)
    log.error(
        "%s (cursors kept at the last committed page; the next run resumes there)", exc, extra={"stream": report.stream}
    )
