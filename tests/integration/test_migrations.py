"""Migrations and the canonical schema agree, and a state.db written by the last release upgrades in place."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sync.store import SCHEMA_VERSION, Store
from sync.store.schema import METADATA

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _same_width(_ctx: Any, _inspected: Any, _metadata: Any, inspected_type: Any, metadata_type: Any) -> bool | None:
    """Integer widths aside (SQLite has one integer type), column types must match."""
    integers = (sa.Integer, sa.BigInteger)
    if isinstance(inspected_type, integers) and isinstance(metadata_type, integers):
        return False
    return None


def differences(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": _same_width})
        diffs = compare_metadata(ctx, METADATA)
    alembic_own = ("remove_table", "alembic_version")
    return [d for d in diffs if not (isinstance(d, tuple) and (d[0], getattr(d[1], "name", None)) == alembic_own)]


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("postgres_url"))


def release_state_db(tmp_path: Path) -> Path:
    """A state.db written by upsync 0.1 (schema version 5) after one HubSpot cycle against the sandbox."""
    path = tmp_path / "state.db"
    with gzip.open(FIXTURES / "state-v5.db.gz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def test_the_migrations_build_exactly_the_tables_the_canonical_schema_declares(target: str) -> None:
    with Store.open(target) as store:
        assert differences(store) == []
        assert store.schema_version() == SCHEMA_VERSION


def test_a_state_db_from_the_last_release_upgrades_in_place_and_keeps_every_row(tmp_path: Path) -> None:
    path = release_state_db(tmp_path)
    recorded = json.loads((FIXTURES / "state-v5.json").read_text())
    with Store.open(str(path)) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert differences(store) == []
        assert store.counts(include_deleted=True) == recorded["counts"]
        assert sorted(store.ledger("hubspot")) == recorded["ledger_keys"]
        assert {k: v.last_value.isoformat() for k, v in store.cursors().items()} == recorded["cursors"]
        assert store.meta("writeback_started:hubspot") is not None  # not on its first write-back run again
    with Store.open(str(path)) as store:  # reopening an upgraded database changes nothing
        assert store.counts(include_deleted=True) == recorded["counts"]


def test_a_database_migrated_by_a_newer_upsync_is_refused(tmp_path: Path) -> None:
    from core.errors import StateError

    path = tmp_path / "state.db"
    Store.open(str(path)).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v999'")
    with pytest.raises(StateError, match="newer upsync"):
        Store.open(str(path))
