"""Cursor window maths: lookback, inclusive start, signpost cap. Pure: values in, values out.

The window read on each run is ``[last_value - lookback, as_of)``. The inclusive start
and the lookback re-read a few records every run (records become visible with a modstamp below
the saved cursor, and many records can share one timestamp at a page boundary); they are
harmless because records upsert on their primary key. The saved cursor never moves backwards
and never passes the signpost (the run's start), so a record modified during the run is read
by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

from core.records import CURSOR_STATE_VERSION, CursorSpec, CursorState, Window

__all__ = [
    "EPOCH",
    "MIN_DELETES_WINDOW",
    "Cursored",
    "Seen",
    "advance",
    "deletes_window",
    "full_pass_due",
    "highest",
    "merge_pass",
    "next_window",
    "pass_window",
]

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
"""Where a stream's history starts when nothing narrower is known: before any CRM record."""

MIN_DELETES_WINDOW = timedelta(minutes=2)
"""Salesforce's getDeleted refuses windows of a minute or less."""


class Cursored(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def cursor_value(self) -> datetime: ...


def next_window(state: CursorState | None, spec: CursorSpec, *, as_of: datetime) -> Window:
    """The window to read this run; empty (``start >= end``) when replaying before the cursor."""
    start = spec.initial_value if state is None else state.last_value - spec.lookback
    return Window(start=start, end=as_of)


def advance(state: CursorState | None, page: Sequence[Cursored], window: Window) -> CursorState:
    """The cursor after committing ``page``: the highest (timestamp, key) seen, monotonic, capped.

    With no record in the page the cursor stays where it was (it does not jump to the
    signpost: a record committed late with an old modstamp would be skipped).
    """
    if state is not None and state.last_value >= window.end:
        return state  # a replay before the saved cursor: never move it backwards
    prev_value = window.start if state is None else state.last_value
    prev_key = "" if state is None else state.last_key
    best = (prev_value, prev_key)
    for record in page:
        candidate = (record.cursor_value, record.key)
        if candidate > best:
            best = candidate
    value, key = best
    if value >= window.end:
        value, key = window.end, ""
    if state is None:
        return CursorState(version=CURSOR_STATE_VERSION, last_value=value, last_key=key)
    return replace(state, last_value=value, last_key=key)


@dataclass(frozen=True, slots=True)
class Seen:
    """The highest (timestamp, key) read so far in a window."""

    key: str
    cursor_value: datetime


def highest(best: Seen | None, records: Iterable[Cursored]) -> Seen | None:
    """``best`` moved up to the highest (timestamp, key) among ``records``."""
    for record in records:
        if best is None or (record.cursor_value, record.key) > (best.cursor_value, best.key):
            best = Seen(record.key, record.cursor_value)
    return best


def full_pass_due(state: CursorState | None, *, as_of: datetime, every: timedelta | None) -> bool:
    """A stream read before is re-read whole when it never was, or ``every`` has passed since."""
    if state is None:
        return False
    return state.full_at is None or (every is not None and as_of - state.full_at >= every)


def pass_window(resume: CursorState, *, start: datetime, lookback: timedelta) -> Window:
    """The rest of a fixed-window pass (full or backfill) from where it stopped: a lookback before
    its position (records commit late), never before the pass's own start."""
    assert resume.window_end is not None
    begin = resume.last_value if resume.last_value <= start else resume.last_value - lookback
    return Window(start=max(begin, start), end=resume.window_end)


def merge_pass(state: CursorState, done: CursorState, *, full_at: datetime | None) -> CursorState:
    """A completed pass folded into the incremental cursor: the higher position wins (never
    backwards); ``full_at`` says when the last full read completed."""
    value, key = max((state.last_value, state.last_key), (done.last_value, done.last_key))
    return replace(state, last_value=value, last_key=key, full_at=full_at)


def deletes_window(read_until: datetime, *, as_of: datetime, every: timedelta, lookback: timedelta) -> Window | None:
    """The window to ask for deletes (hard deletes, archives) when due, else None; it reaches a
    lookback before where the last ask ended, because deletes commit late too."""
    if as_of - read_until < max(every, MIN_DELETES_WINDOW):
        return None
    return Window(start=read_until - lookback, end=as_of)
