"""`upsync status`'s freshness table: what an operator reads about each source and stream."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sync.cli.views import age, freshness_rows

NOW = datetime(2026, 6, 3, 12, tzinfo=timezone.utc)


def test_ages_read_as_a_person_says_them() -> None:
    assert [age(s) for s in (0, 59, 60, 3599, 3600, 12_000, 86_400, 190_000)] == [
        "0 s",
        "59 s",
        "1 min",
        "59 min",
        "1 h 0 min",
        "3 h 20 min",
        "1 d 0 h",
        "2 d 4 h",
    ]


def test_a_failing_stream_keeps_its_last_success_and_says_why_it_failed() -> None:
    ok = (NOW - timedelta(hours=30)).isoformat()
    pulls: dict[str, dict[str, Any]] = {
        "salesforce.accounts": {"ok_at": (NOW - timedelta(minutes=15)).isoformat(), "tried_at": None},
        "salesforce.tasks": {"ok_at": ok, "tried_at": (NOW - timedelta(minutes=15)).isoformat(), "error": "HTTP 503"},
        "salesforce.contracts": {"ok_at": None, "tried_at": NOW.isoformat(), "error": "INVALID_TYPE"},
        "usage.daily": {"ok_at": (NOW - timedelta(hours=50)).isoformat()},
    }
    rows = freshness_rows(
        pulls,
        {"salesforce": NOW - timedelta(hours=30), "usage": NOW - timedelta(hours=50)},
        now=NOW,
        stale_after=48 * 3600,
    )
    assert rows == [
        ("salesforce", "2026-06-02 06:00 UTC", "1 d 6 h", "fresh"),
        ("  salesforce.accounts", "2026-06-03 11:45 UTC", "15 min", "fresh"),
        ("  salesforce.contracts", "-", "-", "failing: INVALID_TYPE"),
        ("  salesforce.tasks", "2026-06-02 06:00 UTC", "1 d 6 h", "last try failed (2026-06-03 11:45): HTTP 503"),
        ("usage", "2026-06-01 10:00 UTC", "2 d 2 h", "stale (older than 2 d 0 h)"),
        ("  usage.daily", "2026-06-01 10:00 UTC", "2 d 2 h", "stale (older than 2 d 0 h)"),
    ]


def test_a_source_never_pulled_says_so_and_nothing_is_stale_when_staleness_is_off() -> None:
    rows = freshness_rows(
        {"hubspot.companies": {"ok_at": (NOW - timedelta(days=9)).isoformat()}},
        {"hubspot": None},
        now=NOW,
        stale_after=None,
    )
    assert rows == [
        ("hubspot", "-", "-", "never pulled successfully"),
        ("  hubspot.companies", "2026-05-25 12:00 UTC", "9 d 0 h", "fresh"),
    ]
