import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sync.errors import StateError
from sync.records import Account, CursorState, LedgerEntry, LedgerState, UsageDay, WriteResult
from sync.store import SCHEMA_VERSION, Store

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state database on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
    else:
        yield request.getfixturevalue("postgres_url")


NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)

# What upsync's first schema (version 1) wrote: kept verbatim to prove in-place upgrades.
V1_SCHEMA = """
CREATE TABLE meta (key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE ledger (
    key VARCHAR NOT NULL PRIMARY KEY, system VARCHAR NOT NULL, rule_id VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL, window VARCHAR NOT NULL, state VARCHAR NOT NULL, crm_id VARCHAR,
    created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL
);
INSERT INTO ledger VALUES ('k1', 'hubspot', 'seats-near-limit', '101', '2026-05', 'confirmed', '301',
    '2026-05-02 10:00:00.000000', '2026-05-02 10:00:00.000000');
CREATE TABLE cursors (stream VARCHAR NOT NULL PRIMARY KEY, version INTEGER NOT NULL, last_value DATETIME NOT NULL,
    last_key VARCHAR NOT NULL, updated_at DATETIME NOT NULL);
INSERT INTO cursors VALUES ('hubspot.companies', 1, '2026-05-01 00:00:00.000000', '7', '2026-05-01 00:00:00.000000');
"""


def account(crm_id: str, *, deleted: bool = False, ws: str | None = "ws-1") -> Account:
    return Account(
        system="hubspot",
        crm_id=crm_id,
        name=f"Account {crm_id}",
        owner_id="o1",
        domain=None,
        workspace_id=ws,
        seats_purchased=10,
        deleted=deleted,
        modified_at=NOW - timedelta(days=1),
    )


def test_a_version_1_state_db_is_upgraded_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(V1_SCHEMA)
    with Store.open(str(path)) as store:
        check_upgraded(store)


def check_upgraded(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION == 2
    [entry] = store.ledger("hubspot").values()
    assert (entry.key, entry.state, entry.crm_id, entry.attempts) == ("k1", LedgerState.confirmed, "301", 0)
    assert store.cursor("hubspot.companies") == CursorState(
        last_value=datetime(2026, 5, 1, tzinfo=timezone.utc), last_key="7"
    )
    # and the new tables exist and work
    store.commit_page("hubspot.companies", [account("1")], CursorState(last_value=NOW), now=NOW)
    assert store.counts()["accounts"] == 1


def test_a_state_db_from_a_newer_upsync_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(str(path)).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="schema version 99"):
        Store.open(str(path))


def test_a_database_that_is_not_upsyncs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StateError, match="no upsync schema version"):
        Store.open(str(path))


def test_state_db_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(str(path)).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.fixture
def store(target: str) -> Iterator[Store]:
    with Store.open(target) as opened:
        yield opened


def test_a_page_and_its_cursor_commit_together_or_not_at_all(store: Store) -> None:
    store.commit_page("hubspot.companies", [account("1")], CursorState(last_value=NOW - timedelta(days=1)), now=NOW)
    bad_usage = UsageDay(
        workspace_id="ws-1",
        day=date(2026, 5, 31),
        active_users=1,
        seats_used=1,
        seats_limit=1,
        updated_at=datetime(2026, 5, 31),
    )  # naive: refused by the store
    with pytest.raises(StateError):
        store.commit_page("usage.daily", [account("2"), bad_usage], CursorState(last_value=NOW), now=NOW)
    assert store.counts()["accounts"] == 1
    assert store.cursor("usage.daily") is None


def test_records_upsert_on_their_key_so_reread_overlap_is_harmless(store: Store) -> None:
    for _ in range(3):
        store.commit_page("hubspot.companies", [account("1"), account("2")], CursorState(last_value=NOW), now=NOW)
    store.commit_page("hubspot.companies", [account("2", deleted=True)], CursorState(last_value=NOW), now=NOW)
    assert store.counts()["accounts"] == 2
    assert [s.crm_id for s in store.account_snapshots("hubspot", now=NOW)] == ["1"]


def test_snapshots_join_the_latest_usage_known_at_now(store: Store) -> None:
    rows = [
        UsageDay(
            workspace_id="ws-1",
            day=date(2026, 5, d),
            active_users=d,
            seats_used=d,
            seats_limit=50,
            updated_at=datetime(2026, 5, d, 23, tzinfo=timezone.utc),
        )
        for d in (29, 30, 31)
    ]
    store.commit_page("usage.daily", [account("1"), *rows], CursorState(last_value=NOW), now=NOW)
    [latest] = store.account_snapshots("hubspot", now=NOW)
    assert (latest.usage_day, latest.seats_used) == (date(2026, 5, 31), 31)
    [replayed] = store.account_snapshots("hubspot", now=datetime(2026, 5, 31, 12, tzinfo=timezone.utc))
    assert (replayed.usage_day, replayed.seats_used) == (date(2026, 5, 30), 30)


def test_ledger_pending_then_results(store: Store) -> None:
    entry = LedgerEntry(
        key="k", system="hubspot", rule_id="r", account_id="1", window="2026-06", state=LedgerState.pending
    )
    store.mark_pending([entry], now=NOW)
    assert store.ledger("hubspot")["k"].state is LedgerState.pending
    assert store.ledger("hubspot")["k"].attempts == 1
    store.record_results([WriteResult(key="k", crm_id="301", state=LedgerState.confirmed)], now=NOW)
    assert store.ledger("hubspot")["k"].crm_id == "301"
    assert store.ledger("salesforce") == {}


def test_a_fresh_database_gets_the_current_schema(target: str) -> None:
    with Store.open(target) as store:
        assert store.schema_version() == SCHEMA_VERSION
    with Store.open(target) as store:  # reopening changes nothing
        assert store.schema_version() == SCHEMA_VERSION
