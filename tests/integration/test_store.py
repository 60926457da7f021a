import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.errors import StateError
from core.records import CursorState, Deletion, LedgerEntry, LedgerState, Record, WriteResult
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


def account(crm_id: str, *, deleted: bool = False, ws: str | None = "ws-1", name: str | None = None) -> Record:
    return Record(
        kind="accounts",
        system="hubspot",
        key=crm_id,
        cursor_value=NOW - timedelta(days=1),
        deleted=deleted,
        values={"name": name or f"Account {crm_id}", "owner_id": "o1", "workspace_id": ws, "seats_purchased": 10},
    )


def usage(ws: str, on: date, used: int, updated_at: datetime) -> Record:
    return Record(
        kind="usage_daily",
        system="usage",
        key=f"{ws}|{on}",
        cursor_value=updated_at,
        values={
            "workspace_id": ws,
            "day": on,
            "active_users": used,
            "seats_used": used,
            "seats_limit": 50,
            "updated_at": updated_at,
            "feature_events": {"reports": 3},
        },
    )


def test_a_version_1_state_db_is_upgraded_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(V1_SCHEMA)
    with Store.open(str(path)) as store:
        check_upgraded(store)


def check_upgraded(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION == 12  # v12_revenue_inputs: deal currency, line MRR and frequency
    [entry] = store.ledger("hubspot").values()
    assert (entry.key, entry.state, entry.crm_id, entry.attempts) == ("k1", LedgerState.confirmed, "301", 0)
    assert (entry.owner_id, entry.body, entry.held, entry.closed_at) == (None, None, None, None)  # v5 columns
    assert store.field_memos("hubspot") == {}  # the v5 field ledger exists
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
    bad_usage = usage("ws-1", date(2026, 5, 31), 1, datetime(2026, 5, 31))  # naive time: refused by the store
    with pytest.raises(StateError):
        store.commit_page("usage.daily", [account("2"), bad_usage], CursorState(last_value=NOW), now=NOW)
    assert store.counts()["accounts"] == 1
    assert store.cursor("usage.daily") is None


def test_records_upsert_on_their_key_so_reread_overlap_is_harmless(store: Store) -> None:
    for _ in range(3):
        store.commit_page("hubspot.companies", [account("1"), account("2")], CursorState(last_value=NOW), now=NOW)
    store.commit_page("hubspot.companies", [account("2", deleted=True)], CursorState(last_value=NOW), now=NOW)
    assert store.counts(include_deleted=True)["accounts"] == 2
    tables = store.rule_tables("hubspot", since=date(2026, 1, 1), until=NOW)
    assert tables.accounts.get_column("crm_id").to_list() == ["1"]


def test_the_rules_read_live_accounts_with_usage_from_the_window_on(store: Store) -> None:
    rows = [usage("ws-1", date(2026, 5, d), d, datetime(2026, 5, d, 23, tzinfo=timezone.utc)) for d in (29, 30, 31)]
    store.commit_page("usage.daily", [account("1"), *rows], CursorState(last_value=NOW), now=NOW)
    tables = store.rule_tables("hubspot", since=date(2026, 5, 30), until=NOW)
    assert tables.accounts.select("crm_id", "workspace_id", "seats_purchased").rows() == [("1", "ws-1", 10)]
    assert tables.usage.get_column("day").to_list() == [date(2026, 5, 30), date(2026, 5, 31)]
    assert tables.usage.get_column("feature_events").to_list() == ['{"reports": 3}'] * 2


def test_a_tracked_account_field_changed_in_the_crm_is_logged_with_its_old_value(store: Store) -> None:
    def at(day: int, employees: int, parent: str | None) -> Record:
        return Record(
            kind="accounts",
            system="hubspot",
            key="1",
            cursor_value=datetime(2026, 5, day, tzinfo=timezone.utc),
            values={"name": "Acme", "employees": employees, "parent_id": parent},
        )

    store.commit_page("hubspot.companies", [at(1, 100, None)], None, now=NOW)
    store.commit_page("hubspot.companies", [at(1, 100, None)], None, now=NOW)  # a re-read changes nothing
    store.commit_page("hubspot.companies", [at(20, 150, "9")], None, now=NOW)
    events = store.rule_tables("hubspot", since=date(2026, 1, 1), until=NOW).account_events
    assert sorted(events.select("field", "old_value", "new_value").rows()) == [
        ("employees", "100", "150"),
        ("parent_id", None, "9"),
    ]
    assert set(events.get_column("changed_at").to_list()) == {datetime(2026, 5, 20, tzinfo=timezone.utc)}


def test_health_scores_and_signals_are_kept_per_day_and_read_back_up_to_until(store: Store) -> None:
    import polars as pl

    def health(day: date, score: float) -> pl.DataFrame:
        return pl.DataFrame(
            {"account_id": ["1"], "day": [day], "score": [score], "band": ["green"], "health_usage": [90.0]}
        )

    store.save_health("hubspot", health(date(2026, 5, 25), 70.0))
    store.save_health("hubspot", health(date(2026, 5, 31), 80.0))
    store.save_health("hubspot", health(date(2026, 5, 31), 81.0))  # the same day again: replaced
    tables = store.rule_tables("hubspot", since=date(2026, 5, 1), until=datetime(2026, 5, 30, tzinfo=timezone.utc))
    assert tables.health.select("day", "score").rows() == [(date(2026, 5, 25), 70.0)]
    assert [h["score"] for h in store.health_history("hubspot", "1")] == [70.0, 81.0]

    fired = pl.DataFrame(
        {"account": ["1", "2"], "rule_id": ["r", "r"], "blocked": [[], ["G5"]]},
        schema={"account": pl.String, "rule_id": pl.String, "blocked": pl.List(pl.String)},
    )
    store.log_signals("hubspot", fired, day=date(2026, 5, 30))
    store.log_signals("hubspot", fired.filter(pl.col("account") == "2"), day=date(2026, 5, 31))
    log = {r["account_id"]: r for r in store.signal_log("hubspot")}
    assert (log["1"]["first_fired_on"], log["1"]["last_fired_on"]) == (date(2026, 5, 30), date(2026, 5, 30))
    assert (log["2"]["last_fired_on"], log["2"]["blocked_by"], log["2"]["last_seen_on"]) == (
        None,
        "G5",
        date(2026, 5, 31),
    )
    read = store.rule_tables("hubspot", since=date(2026, 5, 1), until=NOW).signals
    assert read.select("account_id", "last_fired_on").rows() == [("1", date(2026, 5, 30))]


def test_a_signal_s_run_continues_across_a_missed_day_and_a_longer_gap_starts_a_new_one(store: Store) -> None:
    import polars as pl

    fired = pl.DataFrame(
        {"account": ["1"], "rule_id": ["r"], "blocked": [[]]},
        schema={"account": pl.String, "rule_id": pl.String, "blocked": pl.List(pl.String)},
    )

    def run_started(day: date) -> date:
        store.log_signals("hubspot", fired, day=day)
        started: date = next(r["run_started_on"] for r in store.signal_log("hubspot"))
        return started

    assert run_started(date(2026, 6, 1)) == date(2026, 6, 1)
    assert run_started(date(2026, 6, 1)) == date(2026, 6, 1)  # a later cycle the same day
    assert run_started(date(2026, 6, 2)) == date(2026, 6, 1)
    assert run_started(date(2026, 6, 8)) == date(2026, 6, 1)  # five days unseen: the same run
    assert run_started(date(2026, 6, 20)) == date(2026, 6, 20)  # eleven days unseen: a new run
    assert run_started(date(2026, 6, 21)) == date(2026, 6, 20)
    read = store.rule_tables("hubspot", since=date(2026, 5, 1), until=NOW + timedelta(days=30)).signals
    assert read.select("run_started_on", "last_seen_on").rows() == [(date(2026, 6, 20), date(2026, 6, 21))]


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


def test_json_columns_round_trip(store: Store) -> None:
    store.commit_page("usage.daily", [usage("ws-1", date(2026, 5, 30), 5, NOW)], None, now=NOW)
    [row] = store.rows("usage_daily")
    assert row["feature_events"] == {"reports": 3}


def test_duplicates_in_one_page_keep_the_last(store: Store) -> None:
    page = [account("1", name="first"), account("1", name="second")]
    store.commit_page("hubspot.companies", page, CursorState(last_value=NOW), now=NOW)
    assert [r["name"] for r in store.rows("accounts")] == ["second"]


def test_deletions_flag_known_records_and_ignore_unknown_ones(store: Store) -> None:
    store.commit_page("hubspot.companies", [account("1"), account("2")], None, now=NOW)
    gone = [Deletion(kind="accounts", system="hubspot", crm_id=i, deleted_at=NOW) for i in ("2", "404")]
    assert store.mark_deleted(gone, now=NOW) == 1
    assert {r["crm_id"]: r["deleted"] for r in store.rows("accounts")} == {"1": False, "2": True}
    assert store.counts()["accounts"] == 1 and store.counts(include_deleted=True)["accounts"] == 2


def test_a_full_pass_marks_what_it_did_not_see_of_its_own_stream_only(store: Store) -> None:
    store.commit_page("hubspot.companies", [account("1"), account("2")], None, now=NOW)
    store.commit_page("hubspot.other", [account("3")], None, now=NOW)
    store.commit_page("hubspot.companies", [account("1")], None, now=NOW, pass_id="p1")
    assert store.reconcile_full_pass("accounts", "hubspot.companies", pass_id="p1", before=NOW, now=NOW) == 1
    assert {r["crm_id"]: r["deleted"] for r in store.rows("accounts")} == {"1": False, "2": True, "3": False}


def test_a_record_modified_after_the_pass_began_is_not_taken_for_deleted(store: Store) -> None:
    late = Record(
        kind="accounts", system="hubspot", key="9", cursor_value=NOW + timedelta(hours=1), values={"name": "x"}
    )
    store.commit_page("hubspot.companies", [late], None, now=NOW)
    assert store.reconcile_full_pass("accounts", "hubspot.companies", pass_id="p1", before=NOW, now=NOW) == 0


def test_a_version_2_state_db_gains_the_new_kinds_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(V1_SCHEMA)
        conn.executescript(
            """
            ALTER TABLE ledger ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN last_error VARCHAR;
            UPDATE meta SET value = '2';
            CREATE TABLE accounts (system VARCHAR NOT NULL, crm_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
                owner_id VARCHAR, domain VARCHAR, workspace_id VARCHAR, seats_purchased INTEGER,
                deleted BOOLEAN NOT NULL, modified_at DATETIME NOT NULL, synced_at DATETIME NOT NULL,
                PRIMARY KEY (system, crm_id));
            INSERT INTO accounts VALUES ('hubspot', '7', 'Acme', 'o1', NULL, 'ws-7', 20, 0,
                '2026-05-01 00:00:00.000000', '2026-05-01 00:00:00.000000');
            """
        )
    with Store.open(str(path)) as store:
        assert store.schema_version() == SCHEMA_VERSION
        [row] = store.rows("accounts")
        assert (row["name"], row["seats_purchased"], row["parent_id"], row["deleted"]) == ("Acme", 20, None, False)
        store.commit_page(
            "salesforce.contracts",
            [
                Record(
                    kind="contracts", system="salesforce", key="800A", cursor_value=NOW, values={"account_id": "001A"}
                )
            ],
            None,
            now=NOW,
        )
        assert store.counts()["contracts"] == 1


def test_the_first_cycle_fills_the_weekly_health_points_from_stored_usage_once(tmp_path: Path) -> None:
    from sync.runner import fill_health_history
    from tests.unit.accounts import bundled_ruleset

    store = Store.open(str(tmp_path / "state.db"))
    rules = bundled_ruleset(["health-rising"])
    page = [account("1")]
    page += [
        usage("ws-1", NOW.date() - timedelta(days=d), 5, NOW - timedelta(days=d - 1, hours=12)) for d in range(1, 31)
    ]
    contract = Record(
        kind="contracts",
        system="hubspot",
        key="c1",
        cursor_value=NOW,
        values={"account_id": "1", "status": "Activated", "start_date": date(2025, 1, 1), "end_date": date(2027, 1, 1)},
    )
    store.commit_page("hubspot.companies", [*page, contract], None, now=NOW)
    written = fill_health_history(store, "hubspot", rules, as_of=NOW)
    days = store.health_days("hubspot", since=date(2026, 1, 1), until=NOW.date())
    # 30 days of usage: weeks 1-3 have a full week before them; weeks 4-7 would be guesses
    assert days == {date(2026, 5, 25), date(2026, 5, 18), date(2026, 5, 11)}
    assert written == 3
    assert fill_health_history(store, "hubspot", rules, as_of=NOW) == 0  # nothing missing: nothing read
    store.close()


def test_a_control_record_is_kept_once_with_its_first_day(target: str) -> None:
    """Recorded again by a later cycle, a retry or another replica, a control keeps its first day."""
    row = {"system": "salesforce", "rule_id": "seats-near-limit", "account_id": "001A", "period": "2026-06"}
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    with Store.open(target) as store:
        assert store.record_controls([{**row, "day": date(2026, 6, 1)}], now=now) == 1
        store.record_controls(
            [{**row, "day": date(2026, 6, 3)}, {**row, "period": "2026-07", "day": date(2026, 7, 1)}], now=now
        )
        kept = {(r["period"], r["day"]) for r in store.control_arm("salesforce")}
        assert kept == {("2026-06", date(2026, 6, 1)), ("2026-07", date(2026, 7, 1))}
        assert store.outcome_tables("salesforce").control.height == 2
        assert store.control_arm("hubspot") == []
