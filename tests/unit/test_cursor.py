from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from core.cursor import (
    MIN_DELETES_WINDOW,
    Seen,
    advance,
    deletes_window,
    full_pass_due,
    highest,
    merge_pass,
    next_window,
    pass_window,
)
from core.records import CursorSpec, CursorState, Window

T0 = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
SPEC = CursorSpec(
    field="SystemModstamp", tie_breaker="Id", lookback=timedelta(minutes=10), initial_value=T0 - timedelta(days=365)
)


@dataclass(frozen=True)
class Rec:
    key: str
    cursor_value: datetime


def test_first_window_starts_at_the_initial_value_and_ends_at_the_run_start() -> None:
    assert next_window(None, SPEC, as_of=T0) == Window(start=SPEC.initial_value, end=T0)


def test_next_window_starts_a_lookback_before_the_saved_cursor() -> None:
    state = CursorState(last_value=T0 - timedelta(hours=1), last_key="001")
    window = next_window(state, SPEC, as_of=T0)
    assert window.start == T0 - timedelta(hours=1, minutes=10)


def test_advance_takes_the_highest_timestamp_and_key_in_the_page() -> None:
    window = Window(start=T0 - timedelta(days=1), end=T0)
    page = [Rec("b", T0 - timedelta(hours=2)), Rec("a", T0 - timedelta(hours=1)), Rec("c", T0 - timedelta(hours=1))]
    assert advance(None, page, window) == CursorState(last_value=T0 - timedelta(hours=1), last_key="c")


def test_advance_never_moves_backwards() -> None:
    state = CursorState(last_value=T0 - timedelta(hours=1), last_key="z")
    window = Window(start=T0 - timedelta(hours=2), end=T0)
    page = [Rec("a", T0 - timedelta(hours=1, minutes=5))]  # re-read by the lookback
    assert advance(state, page, window) == state


def test_advance_with_an_empty_page_keeps_the_cursor_instead_of_jumping_to_the_signpost() -> None:
    state = CursorState(last_value=T0 - timedelta(days=3))
    assert advance(state, [], Window(start=T0 - timedelta(days=4), end=T0)) == state


def test_advance_caps_at_the_signpost() -> None:
    window = Window(start=T0 - timedelta(days=1), end=T0)
    assert advance(None, [Rec("a", T0 + timedelta(seconds=1))], window).last_value == T0


def test_a_replay_before_the_cursor_reads_nothing_and_keeps_the_cursor() -> None:
    state = CursorState(last_value=T0)
    earlier = T0 - timedelta(days=2)
    window = next_window(state, SPEC, as_of=earlier)
    assert window.start >= window.end
    assert advance(state, [], window) == state


def test_a_full_pass_is_due_for_a_stream_never_read_whole_or_read_whole_a_period_ago() -> None:
    week = timedelta(days=7)
    assert not full_pass_due(None, as_of=T0, every=week)  # never read: the first read is whole anyway
    assert full_pass_due(CursorState(last_value=T0), as_of=T0, every=week)
    done = CursorState(last_value=T0, full_at=T0 - timedelta(days=6))
    assert not full_pass_due(done, as_of=T0, every=week)
    assert full_pass_due(done, as_of=T0 + timedelta(days=1), every=week)
    assert not full_pass_due(done, as_of=T0 + timedelta(days=30), every=None)


def test_a_resumed_pass_reads_from_a_lookback_before_where_it_stopped_never_before_its_start() -> None:
    start, end = T0 - timedelta(days=30), T0
    fresh = CursorState(last_value=start, pass_id="p", window_end=end)
    assert pass_window(fresh, start=start, lookback=timedelta(minutes=10)) == Window(start=start, end=end)
    halfway = CursorState(last_value=T0 - timedelta(days=3), pass_id="p", window_end=end)
    resumed = pass_window(halfway, start=start, lookback=timedelta(minutes=10))
    assert resumed == Window(start=T0 - timedelta(days=3, minutes=10), end=end)
    near = CursorState(last_value=start + timedelta(minutes=1), pass_id="p", window_end=end)
    assert pass_window(near, start=start, lookback=timedelta(minutes=10)).start == start


def test_merging_a_pass_never_moves_the_cursor_backwards() -> None:
    ahead = CursorState(last_value=T0, last_key="9")
    behind = CursorState(last_value=T0 - timedelta(hours=1), last_key="1")
    assert merge_pass(ahead, behind, full_at=T0).last_value == T0
    assert merge_pass(behind, ahead, full_at=T0).last_value == T0
    assert merge_pass(behind, ahead, full_at=None).full_at is None


def test_deletes_are_asked_when_due_with_a_lookback_and_never_for_a_minute_or_less() -> None:
    last = T0 - timedelta(hours=2)
    assert deletes_window(last, as_of=T0, every=timedelta(hours=1), lookback=timedelta(minutes=5)) == Window(
        start=last - timedelta(minutes=5), end=T0
    )
    assert deletes_window(last, as_of=T0, every=timedelta(hours=3), lookback=timedelta(0)) is None
    just = T0 - MIN_DELETES_WINDOW + timedelta(seconds=1)
    assert deletes_window(just, as_of=T0, every=timedelta(0), lookback=timedelta(0)) is None


def test_highest_keeps_the_greatest_timestamp_then_key() -> None:
    page = [Rec("b", T0), Rec("a", T0), Rec("z", T0 - timedelta(seconds=1))]
    assert highest(None, page) == Seen("b", T0)
    assert highest(Seen("c", T0), page) == Seen("c", T0)
    assert highest(None, []) is None
