"""Activities are keyed by object type as well as id: HubSpot numbers each engagement type on its own."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.errors import StateError
from core.records import CursorState, Deletion, Record
from sync.store import Store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    target = str(tmp_path / "state.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Store.open(target) as opened:
        yield opened


def engagement(object_type: str, crm_id: str = "501", *, sync_key: str | None = None) -> Record:
    return Record(
        kind="activities",
        system="hubspot",
        key=crm_id,
        object_type=object_type,
        cursor_value=NOW - timedelta(hours=1),
        values={
            "account_id": "101",
            "activity_type": object_type.removesuffix("s"),
            "subject": f"a {object_type[:-1]}",
            "activity_at": NOW - timedelta(days=2),
            "sync_key": sync_key,
            "status": "NOT_STARTED" if object_type == "tasks" else None,
        },
    )


def pull(store: Store, *records: Record) -> None:
    for r in records:
        assert r.object_type is not None
        store.commit_page(f"hubspot.{r.object_type}", [r], CursorState(last_value=NOW), now=NOW)


def test_a_task_a_call_and_a_note_sharing_an_id_are_all_kept(store: Store) -> None:
    pull(store, engagement("tasks", sync_key="k1"), engagement("calls"), engagement("notes"))
    rows = store.rows("activities")
    assert sorted((r["object_type"], r["crm_id"], r["activity_type"]) for r in rows) == [
        ("calls", "501", "call"),
        ("notes", "501", "note"),
        ("tasks", "501", "task"),
    ]
    # upsync's own task is still read back with its id, for updates and closes
    [task] = store.own_tasks("hubspot").values()
    assert (task.key, task.crm_id, task.is_closed) == ("k1", "501", False)


def test_an_archive_flags_the_archived_type_only(store: Store) -> None:
    pull(store, engagement("tasks", sync_key="k1"), engagement("calls"), engagement("notes"))
    gone = Deletion(kind="activities", system="hubspot", crm_id="501", deleted_at=NOW, object_type="calls")
    assert store.mark_deleted([gone], now=NOW) == 1
    deleted = {r["object_type"]: r["deleted"] for r in store.rows("activities")}
    assert deleted == {"tasks": False, "calls": True, "notes": False}
    assert not store.own_tasks("hubspot")["k1"].is_closed  # the call's archive does not close upsync's task


def test_unchanged_records_are_recognised_within_their_type(store: Store) -> None:
    pull(store, engagement("tasks"))
    pair = [("501", NOW - timedelta(hours=1))]
    assert store.unchanged("activities", "tasks", pair, system="hubspot") == {"501"}
    # a call with the task's id and time is not stored yet: it must be read, not skipped
    assert store.unchanged("activities", "calls", pair, system="hubspot") == set()


def test_an_activity_without_its_object_type_is_refused_not_stored(store: Store) -> None:
    untyped = Record(kind="activities", system="hubspot", key="9", cursor_value=NOW, values={})
    with pytest.raises(StateError, match="no object_type"):
        store.commit_page("hubspot.tasks", [untyped], None, now=NOW)
    untyped_gone = Deletion(kind="activities", system="hubspot", crm_id="9", deleted_at=NOW)
    with pytest.raises(StateError, match="no object type"):
        store.mark_deleted([untyped_gone], now=NOW)


def test_a_version_5_state_db_keeps_every_activity_typed_by_the_stream_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with gzip.open(FIXTURES / "state-v5.db.gz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    with closing(sqlite3.connect(path)) as conn:
        before = conn.execute("SELECT source, count(*) FROM activities GROUP BY source ORDER BY source").fetchall()
    with Store.open(str(path)) as store:
        rows = store.rows("activities")
    after: dict[str, int] = {}
    for r in rows:
        assert r["source"] == f"hubspot.{r['object_type']}", r
        after[r["source"]] = after.get(r["source"], 0) + 1
    assert sorted(after.items()) == before
    assert {"hubspot.tasks", "hubspot.calls", "hubspot.notes"} <= set(after)
