"""Cursor window maths: lookback, inclusive start, signpost cap. Pure: values in, values out.

The window read on each run is ``[last_value - lookback, as_of)``. The inclusive start
and the lookback re-read a few records every run (records become visible with a modstamp below
the saved cursor, and many records can share one timestamp at a page boundary); they are
harmless because records upsert on their primary key. The saved cursor never moves backwards
and never passes the signpost (the run's start), so a record modified during the run is read
by the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from core.records import CURSOR_STATE_VERSION, CursorSpec, CursorState, Window

__all__ = ["Cursored", "advance", "next_window"]


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
