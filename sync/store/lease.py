"""One writer at a time: a lease held in the state store itself for as long as a cycle runs.

Several replicas may share one state (PostgreSQL is the supported way to run them); only the
holder of the lease pulls into the store and writes to the CRM. PostgreSQL: a session advisory
lock on a connection kept open for the cycle. SQLite: an exclusive lock on a file beside
state.db. Both are released by the operating system or the server when the holder dies, even by
``kill -9``, so the next replica takes over at its next try; nothing has to expire.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = ["Lease", "advisory_key", "hold", "migration_lock"]

_POLL_SECONDS = 0.25


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks, from a lock's name."""
    return int.from_bytes(hashlib.sha256(f"upsync:{name}".encode()).digest()[:8], "big", signed=True)


def _lock_path(engine: Engine, name: str) -> Path:
    database = engine.url.database or "state.db"
    return Path(f"{database}.{name}.lock")


class Lease:
    """A lease as its holder sees it: ``held`` at the start, and :meth:`alive` before each write.

    A PostgreSQL session lock lives as long as its connection: a server restart, a failover or a
    network cut ends it silently, and another replica may take over while this one still runs.
    ``alive`` asks the server, on the lock's own connection, whether this session still holds it."""

    def __init__(self, held: bool, probe: Callable[[], bool] | None = None) -> None:
        self.held = held
        self._probe = probe

    def alive(self) -> bool:
        if not self.held:
            return False
        if self._probe is None:
            return True  # a file lock lasts as long as this process
        try:
            return self._probe()
        except sa.exc.SQLAlchemyError:
            return False  # the lock's connection is gone, and the lock with it


@contextmanager
def hold(engine: Engine, name: str, *, wait_seconds: float = 0.0) -> Iterator[Lease]:
    """Hold the lease ``name`` for the ``with`` block: ``held`` is False when another process
    holds it and did not let go within ``wait_seconds``."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            held = _poll(lambda: _pg_try(conn, name), wait_seconds)
            try:
                yield Lease(held, lambda: _pg_holds(conn, name))
            finally:
                if held:
                    try:
                        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(name)})
                        conn.commit()
                    except sa.exc.SQLAlchemyError:
                        pass  # the connection died: the server released the lock with it
        return
    with _file_lock(_lock_path(engine, name), wait_seconds) as held:
        yield Lease(held)


def _pg_holds(conn: Connection, name: str) -> bool:
    key = advisory_key(name)
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        " AND classid = ((:k >> 32) & 4294967295)::oid AND objid = (:k & 4294967295)::oid AND objsubid = 1"
    )
    held = bool(conn.execute(query, {"k": key}).scalar())
    conn.commit()
    return held


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise schema migrations across processes opening one new database at once."""
    if engine.dialect.name == "postgresql":
        yield  # prepare() takes a transaction-scoped advisory lock itself
        return
    with _file_lock(_lock_path(engine, "migrate"), wait_seconds=60.0):
        yield


def _pg_try(conn: Connection, name: str) -> bool:
    held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}).scalar())
    conn.commit()  # end the implicit transaction; the session lock outlives it
    return held


@contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        held = _poll(lambda: _flock(fd), wait_seconds)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _poll(attempt: Callable[[], bool], wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while True:
        if attempt():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
