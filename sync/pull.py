"""The page loop: read a stream page by page, committing each page with the cursor it reaches.

Per stream and run, in order:

1. **full pass** when one is due (every ``full_refresh``) or one was interrupted: the whole
   history ``[epoch, pass start)`` is read again under its own cursor (``<stream>#full``), which
   catches formula and roll-up fields whose changes never move the modstamp. Records the
   pass saw carry its id; when it completes, records of this stream it did not see (and that
   were not modified since it began) are marked deleted: the weekly Id reconciliation.
2. **incremental read** of ``[cursor - lookback, run start)``: each page commits with the cursor
   it reaches (only at checkpoints, for readers whose pages are not in cursor order).
3. **deletes** when due (every ``deletes_every``): hard deletes and archives the read cannot see.

A ConnectorError stops the stream with its cursors at the last committed page; the next run
resumes there. Nothing is ever skipped: a cursor only moves past records already stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial

from connectors.base import Page, Stream
from core.clock import Clock
from core.cursor import advance, next_window
from core.errors import AuthError, ConnectorError, QuotaExhaustedError
from core.records import CursorState, Window
from sync.store import Store

__all__ = ["EPOCH", "PullReport", "backfill_stream", "pull_stream"]

log = logging.getLogger("upsync.pull")
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
MIN_DELETES_WINDOW = timedelta(minutes=2)
"""Salesforce's getDeleted refuses windows of a minute or less."""


@dataclass(kw_only=True)
class PullReport:
    stream: str
    records: int = 0
    pages: int = 0
    deleted: int = 0
    full_pass: bool = False
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    quota: bool = False
    halts_system: bool = False  # auth or quota: the system's other streams would fail the same way
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class _Seen:
    key: str
    cursor_value: datetime


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
    report = PullReport(stream=stream.name)
    try:
        if stream.spec is None:
            _read_whole(store, stream, as_of, clock, report, stop, progress)
            return report
        state = store.cursor(stream.name)
        full = store.cursor(f"{stream.name}#full")
        due = state is not None and (
            state.full_at is None or (full_refresh is not None and as_of - state.full_at >= full_refresh)
        )
        if full is not None or due:
            report.full_pass = True
            state = _full_pass(store, stream, state, full, as_of, clock, report, stop, progress)
            if state is not None and state.full_at == as_of:
                _deletes(store, stream, as_of, clock, report, deletes_every)
                return report  # a pass that started this run covered everything up to now
        state = _incremental(store, stream, state, as_of, clock, report, stop, progress)
        _deletes(store, stream, as_of, clock, report, deletes_every)
    except (_Stopped, ConnectorError) as exc:
        _record(report, exc)
    return report


def _consume(
    store: Store,
    stream: Stream,
    cursor_name: str,
    state: CursorState | None,
    window: Window,
    clock: Clock,
    report: PullReport,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None,
    *,
    pass_id: str | None = None,
) -> CursorState | None:
    """Read ``window`` into the store, moving the cursor ``cursor_name`` at each checkpoint.

    Incremental reads (no ``pass_id``) let the reader skip records stored unchanged; a pass
    must see every record, to tag it and to catch values that changed without a modstamp.
    """
    unchanged = None if pass_id is not None else partial(store.unchanged, system=_system(stream))
    best: _Seen | None = None
    for page in stream.read(window, unchanged=unchanged):
        best = _max_seen(best, page)
        cursor: CursorState | None = None
        if page.checkpoint:
            cursor = advance(state, [best] if best else [], window)
            best = None
        store.commit_page(stream.name, page.records, cursor, now=clock(), pass_id=pass_id, cursor_name=cursor_name)
        if cursor is not None:
            state = cursor
        _account(report, page, progress)
        if stop is not None and stop.is_set():
            raise _Stopped
    return state


def _incremental(
    store: Store,
    stream: Stream,
    state: CursorState | None,
    as_of: datetime,
    clock: Clock,
    report: PullReport,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None,
) -> CursorState | None:
    assert stream.spec is not None
    window = next_window(state, stream.spec, as_of=as_of)
    if window.start >= window.end:
        return state  # replaying a moment before the saved cursor: nothing new to read
    first_read = state is None
    state = _consume(store, stream, stream.name, state, window, clock, report, stop, progress)
    if first_read:  # the first read is a full read: the next full pass is due a period from now
        base = state or CursorState(last_value=window.start)
        state = replace(base, full_at=as_of)
        store.save_cursor(stream.name, state, now=clock())
    return state


def _full_pass(
    store: Store,
    stream: Stream,
    state: CursorState | None,
    full: CursorState | None,
    as_of: datetime,
    clock: Clock,
    report: PullReport,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None,
) -> CursorState | None:
    done, window_end = _pass(store, stream, "#full", full, EPOCH, as_of, clock, report, stop, progress, reconcile=True)
    return _merge(store, stream, state, done, window_end, clock)


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
    report = PullReport(stream=stream.name, full_pass=True)
    try:
        if stream.spec is None:
            _read_whole(store, stream, as_of, clock, report, stop, progress)
            return report
        resume = store.cursor(f"{stream.name}#backfill")
        done, window_end = _pass(
            store,
            stream,
            "#backfill",
            resume,
            since or EPOCH,
            as_of,
            clock,
            report,
            stop,
            progress,
            reconcile=since is None,
        )
        main = store.cursor(stream.name)
        # a backfill from the start is a full read; one from --since on a fresh store sets the
        # horizon: history before it is not wanted, so no full pass follows on its heels
        _merge(store, stream, main, done, window_end, clock, full=since is None or main is None)
    except (_Stopped, ConnectorError) as exc:
        _record(report, exc)
    return report


def _record(report: PullReport, exc: Exception) -> None:
    """How a stream ended early: stopped on request, or a connector error with its hint."""
    if isinstance(exc, _Stopped):
        report.stopped = True
        return
    assert isinstance(exc, ConnectorError)
    report.error = str(exc)
    report.hint = exc.hint
    report.quota = isinstance(exc, QuotaExhaustedError)
    report.halts_system = isinstance(exc, QuotaExhaustedError | AuthError)
    log.error("%s (cursors kept at the last committed page; the next run resumes there)", exc)


def _pass(
    store: Store,
    stream: Stream,
    suffix: str,
    resume: CursorState | None,
    start: datetime,
    as_of: datetime,
    clock: Clock,
    report: PullReport,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None,
    *,
    reconcile: bool,
) -> tuple[CursorState, datetime]:
    """Read a fixed window under ``<stream><suffix>``; on completion optionally mark what it did
    not see as deleted, and remove that cursor. Returns (final position, window end)."""
    assert stream.spec is not None
    name = f"{stream.name}{suffix}"
    if resume is None:
        resume = CursorState(last_value=start, pass_id=as_of.isoformat(), window_end=as_of)
        store.save_cursor(name, resume, now=clock())
        log.info("%s: %s pass started from %s", stream.name, suffix.lstrip("#"), start.isoformat())
    assert resume.window_end is not None and resume.pass_id is not None
    begin = resume.last_value if resume.last_value <= start else resume.last_value - stream.spec.lookback
    window = Window(start=max(begin, start), end=resume.window_end)
    done = _consume(store, stream, name, resume, window, clock, report, stop, progress, pass_id=resume.pass_id)
    assert done is not None
    if reconcile:
        gone = store.reconcile_full_pass(
            stream.kind, stream.name, pass_id=resume.pass_id, before=resume.window_end, now=clock()
        )
        report.deleted += gone
        if gone:
            log.info("%s: %d records no longer in the source, marked deleted", stream.name, gone)
    store.save_cursor(name, None, now=clock())
    return done, resume.window_end


def _merge(
    store: Store,
    stream: Stream,
    state: CursorState | None,
    done: CursorState,
    window_end: datetime,
    clock: Clock,
    *,
    full: bool = True,
) -> CursorState:
    """Fold a completed pass into the incremental cursor (never backwards)."""
    main = state or CursorState(last_value=EPOCH)
    value, key = max((main.last_value, main.last_key), (done.last_value, done.last_key))
    main = replace(main, last_value=value, last_key=key, full_at=window_end if full else main.full_at)
    store.save_cursor(stream.name, main, now=clock())
    return main


def _deletes(
    store: Store,
    stream: Stream,
    as_of: datetime,
    clock: Clock,
    report: PullReport,
    every: timedelta | None,
) -> None:
    if every is None:
        return
    name = f"{stream.name}#deletes"
    state = store.cursor(name)
    if state is None:  # what exists now was just read: deletes count from here on
        store.save_cursor(name, CursorState(last_value=as_of), now=clock())
        return
    if as_of - state.last_value < max(every, MIN_DELETES_WINDOW):
        return
    lookback = stream.spec.lookback if stream.spec is not None else timedelta(0)
    batches = stream.deletions(state.last_value - lookback, as_of)  # deletes commit late too
    if batches is None:
        return
    for batch in batches:
        report.deleted += store.mark_deleted(list(batch), now=clock())
    store.save_cursor(name, CursorState(last_value=as_of), now=clock())


def _read_whole(
    store: Store,
    stream: Stream,
    as_of: datetime,
    clock: Clock,
    report: PullReport,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None,
) -> None:
    for page in stream.read(None):
        store.commit_page(stream.name, page.records, CursorState(last_value=as_of), now=clock())
        _account(report, page, progress)
        if stop is not None and stop.is_set():
            raise _Stopped


def _system(stream: Stream) -> str:
    return stream.name.split(".", 1)[0]


def _max_seen(best: _Seen | None, page: Page) -> _Seen | None:
    for record in page.records:
        if best is None or (record.cursor_value, record.key) > (best.cursor_value, best.key):
            best = _Seen(record.key, record.cursor_value)
    return best


def _account(report: PullReport, page: Page, progress: Callable[[int], None] | None) -> None:
    report.pages += 1
    report.records += len(page.records)
    for problem in page.problems:
        log.warning("skipped: %s", problem)
    report.problems.extend(page.problems)
    if progress is not None:
        progress(len(page.records))
