"""state.db: canonical tables, cursors, the write-back ledgers, history and runs.

SQLite in WAL mode by default (one file, survives kill -9: a committed page is on disk, an
uncommitted one is rolled back), or any SQLAlchemy URL (PostgreSQL for several replicas).
Opening a database brings it to the current schema with Alembic (:mod:`sync.store.migrate`).
This package is the only importer of sqlalchemy and alembic; each module holds one concern.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.errors import StateError
from sync.store.history import HistoryStore
from sync.store.inputs import InputStore
from sync.store.lease import Lease, hold, migration_lock
from sync.store.ledgers import LedgerStore
from sync.store.migrate import SCHEMA_VERSION, prepare, schema_version
from sync.store.records import RecordStore
from sync.store.runs import RunStore

__all__ = ["SCHEMA_VERSION", "Store"]


def _engine(target: str) -> Engine:
    if "://" in target:
        url = target
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return sa.create_engine(url, pool_pre_ping=True)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process; WAL checkpoints on close
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


class Store(RecordStore, InputStore, HistoryStore, LedgerStore, RunStore):
    """All reads and writes of upsync's state. Open with ``Store.open(path_or_url)``."""

    @classmethod
    def open(cls, target: str) -> Store:
        try:
            engine = _engine(target)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise StateError(
                f"cannot use {target!r} as state: {exc}",
                hint="pass a file path, or a URL such as postgresql+psycopg://user@host/db",
            ) from exc
        store = cls(engine)
        try:
            with migration_lock(store.engine):
                prepare(store.engine)
        except BaseException as exc:
            store.close()
            if not isinstance(exc, sa.exc.SQLAlchemyError):
                raise
            raise StateError(
                f"cannot open state at {engine.url.render_as_string(hide_password=True)}: {type(exc).__name__}",
                hint="check --state / [upsync].state; for PostgreSQL, that the server is up and the database exists",
            ) from exc
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def writer_lease(self, *, wait_seconds: float = 0.0) -> Iterator[Lease]:
        """Hold the one-writer lease for the ``with`` block (:mod:`sync.store.lease`)."""
        with hold(self.engine, "writer", wait_seconds=wait_seconds) as lease:
            yield lease

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return schema_version(conn)
