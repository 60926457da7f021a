from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from core.cursor import advance, next_window
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
