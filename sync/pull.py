"""The page loop: read a stream's window page by page, committing each page with its cursor."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Stream
from sync.cursor import advance, next_window
from sync.errors import ConnectorError
from sync.records import Clock, CursorState
from sync.store import Store

__all__ = ["PullReport", "pull_stream"]

log = logging.getLogger("upsync.pull")


@dataclass(kw_only=True)
class PullReport:
    stream: str
    records: int = 0
    pages: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    stopped: bool = False


def pull_stream(
    store: Store,
    stream: Stream,
    *,
    run_started_at: datetime,
    clock: Clock,
    stop: threading.Event | None = None,
) -> PullReport:
    """Read everything of ``stream`` changed since its cursor, up to the run's start.

    Each page and the cursor it reaches commit together, so a crash or a ConnectorError loses
    at most the page in flight and the next run resumes from the last committed page. Records
    that cannot be read are named in ``problems`` and the rest of the page is kept.
    """
    report = PullReport(stream=stream.name)
    spec = stream.spec
    state = store.cursor(stream.name) if spec is not None else None
    window = next_window(state, spec, run_started_at=run_started_at) if spec is not None else None
    if window is not None and window.start >= window.end:
        return report  # replaying a moment before the saved cursor: nothing new to read
    try:
        for page in stream.read(window):
            if window is not None:
                cursor = advance(state, page.records, window)
            else:
                cursor = CursorState(last_value=run_started_at)  # full read: remember when
            store.commit_page(stream.name, page.records, cursor, now=clock())
            state = cursor
            report.pages += 1
            report.records += len(page.records)
            for problem in page.problems:
                log.warning("skipped a record: %s", problem)
            report.problems.extend(page.problems)
            if stop is not None and stop.is_set():
                report.stopped = True
                break
    except ConnectorError as exc:
        report.error = str(exc)
        report.hint = exc.hint
        log.error("%s (cursor kept at the last committed page)", exc)
    return report
