"""state.db: canonical tables, cursors, the write-back ledger and runs (the only importer of sqlmodel).

SQLite in WAL mode by default (one file, survives kill -9: a committed page is on disk, an
uncommitted one is rolled back), or any SQLAlchemy URL (PostgreSQL for several replicas).
The schema carries a version in the ``meta`` table; opening an older state.db upgrades it in
place, one migration per version, and opening one written by a newer upsync is refused rather
than guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from sync.errors import StateError
from sync.records import (
    Account,
    AccountSnapshot,
    CursorState,
    LedgerEntry,
    LedgerState,
    Owner,
    UsageDay,
    WriteResult,
)

__all__ = ["SCHEMA_VERSION", "Store"]

SCHEMA_VERSION = 2
"""1: initial schema. 2: ledger.attempts and ledger.last_error (why a write failed, how often)."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StateError("naive datetime reached the store", hint="this is a bug: every time must be UTC-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _utc(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class CursorRow(SQLModel, table=True):
    __tablename__ = "cursors"
    stream: str = Field(primary_key=True)
    version: int
    last_value: datetime = _utc()
    last_key: str = ""
    updated_at: datetime = _utc()


class AccountRow(SQLModel, table=True):
    __tablename__ = "accounts"
    system: str = Field(primary_key=True)
    crm_id: str = Field(primary_key=True)
    name: str
    owner_id: str | None = None
    domain: str | None = None
    workspace_id: str | None = Field(default=None, index=True)
    seats_purchased: int | None = None
    deleted: bool = False
    modified_at: datetime = _utc()
    synced_at: datetime = _utc()


class OwnerRow(SQLModel, table=True):
    __tablename__ = "owners"
    system: str = Field(primary_key=True)
    crm_id: str = Field(primary_key=True)
    name: str
    email: str | None = None
    active: bool = True
    modified_at: datetime = _utc()


class UsageRow(SQLModel, table=True):
    __tablename__ = "usage_daily"
    workspace_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    active_users: int | None = None
    seats_used: int | None = None
    seats_limit: int | None = None
    updated_at: datetime = _utc()


class LedgerRow(SQLModel, table=True):
    __tablename__ = "ledger"
    key: str = Field(primary_key=True)
    system: str = Field(index=True)
    rule_id: str
    account_id: str
    window: str
    state: str
    crm_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    command: str
    started_at: datetime = _utc()
    as_of: datetime = _utc()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    status: str = "running"
    summary: str = "{}"


META = cast(sa.Table, MetaRow.__table__)  # type: ignore[attr-defined]
CURSORS = cast(sa.Table, CursorRow.__table__)  # type: ignore[attr-defined]
ACCOUNTS = cast(sa.Table, AccountRow.__table__)  # type: ignore[attr-defined]
OWNERS = cast(sa.Table, OwnerRow.__table__)  # type: ignore[attr-defined]
USAGE = cast(sa.Table, UsageRow.__table__)  # type: ignore[attr-defined]
LEDGER = cast(sa.Table, LedgerRow.__table__)  # type: ignore[attr-defined]
RUNS = cast(sa.Table, RunRow.__table__)  # type: ignore[attr-defined]


def _migrate_1_to_2(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE ledger ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"))
    conn.execute(sa.text("ALTER TABLE ledger ADD COLUMN last_error VARCHAR"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_1_to_2}
"""version N → the function that upgrades a version-N database to N+1, in place."""


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


class Store:
    """All reads and writes of upsync's state. Open with ``Store.open(path_or_url)``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._upsert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

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
            store._prepare()
        except BaseException as exc:
            store.close()
            if not isinstance(exc, sa.exc.SQLAlchemyError):
                raise
            raise StateError(
                f"cannot open state at {target}: {type(exc).__name__}",
                hint="check --state / [upsync].state; for PostgreSQL, that the server is up and the database exists",
            ) from exc
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------

    def _prepare(self) -> None:
        with self.engine.begin() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            if not tables:
                SQLModel.metadata.create_all(conn)
                conn.execute(sa.insert(META).values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            if "meta" not in tables:
                raise StateError(
                    "the state database holds tables but no upsync schema version",
                    hint="point --state at an upsync state.db or at an empty database",
                )
            row = conn.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state.db has schema version {version}; this upsync understands up to {SCHEMA_VERSION}",
                    hint="upgrade upsync, or point --state at another database",
                )
            if version < 1:
                raise StateError(f"state.db has an invalid schema version {version!r}")
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
            SQLModel.metadata.create_all(conn)  # tables added by later versions
            conn.execute(sa.text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar_one())

    # -- cursors and pages ----------------------------------------------------------------

    def cursor(self, stream: str) -> CursorState | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(CURSORS).where(CURSORS.c.stream == stream)).first()
        if row is None:
            return None
        return CursorState(version=row.version, last_value=row.last_value, last_key=row.last_key)

    def cursors(self) -> dict[str, CursorState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(CURSORS)).all()
        return {r.stream: CursorState(version=r.version, last_value=r.last_value, last_key=r.last_key) for r in rows}

    def commit_page(
        self,
        stream: str,
        records: Sequence[Account | Owner | UsageDay],
        cursor: CursorState,
        *,
        now: datetime,
    ) -> None:
        """Upsert one page and move the stream's cursor in the same transaction.

        A crash before the commit loses the whole page and leaves the cursor where it was; the
        next run reads the page again. Records upsert on their primary key, so the overlap the
        lookback causes is harmless.
        """
        accounts = [_account_values(r, now) for r in records if isinstance(r, Account)]
        owners = [_owner_values(r) for r in records if isinstance(r, Owner)]
        usage = [_usage_values(r) for r in records if isinstance(r, UsageDay)]
        try:
            self._commit_page(stream, accounts, owners, usage, cursor, now)
        except sa.exc.StatementError as exc:
            raise StateError(
                f"could not store a page of {stream}: {exc.orig or exc}", hint="the cursor was not moved; this is a bug"
            ) from exc

    def _commit_page(
        self,
        stream: str,
        accounts: Sequence[Mapping[str, Any]],
        owners: Sequence[Mapping[str, Any]],
        usage: Sequence[Mapping[str, Any]],
        cursor: CursorState,
        now: datetime,
    ) -> None:
        with self.engine.begin() as conn:
            self._upsert_rows(conn, ACCOUNTS, accounts, ("system", "crm_id"))
            self._upsert_rows(conn, OWNERS, owners, ("system", "crm_id"))
            self._upsert_rows(conn, USAGE, usage, ("workspace_id", "day"))
            self._upsert_rows(
                conn,
                CURSORS,
                [
                    {
                        "stream": stream,
                        "version": cursor.version,
                        "last_value": cursor.last_value,
                        "last_key": cursor.last_key,
                        "updated_at": now,
                    }
                ],
                ("stream",),
            )

    def _upsert_rows(
        self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...]
    ) -> None:
        if not rows:
            return
        stmt = self._upsert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))

    # -- what the rules read ----------------------------------------------------------------

    def account_snapshots(self, system: str, *, now: datetime) -> list[AccountSnapshot]:
        """Live accounts of ``system`` joined with their owner and latest usage known at ``now``."""
        a = ACCOUNTS.alias("a")
        o = OWNERS.alias("o")
        u = USAGE.alias("u")
        latest = (
            sa.select(u.c.workspace_id, sa.func.max(u.c.day).label("day"))
            .where(u.c.updated_at <= now)
            .group_by(u.c.workspace_id)
            .subquery("latest")
        )
        query = (
            sa.select(
                a.c.crm_id,
                a.c.name,
                a.c.owner_id,
                a.c.workspace_id,
                a.c.seats_purchased,
                o.c.active.label("owner_active"),
                u.c.day,
                u.c.seats_used,
                u.c.seats_limit,
                u.c.active_users,
            )
            .select_from(a)
            .outerjoin(o, sa.and_(o.c.system == a.c.system, o.c.crm_id == a.c.owner_id))
            .outerjoin(latest, latest.c.workspace_id == a.c.workspace_id)
            .outerjoin(u, sa.and_(u.c.workspace_id == latest.c.workspace_id, u.c.day == latest.c.day))
            .where(a.c.system == system, a.c.deleted.is_(False))
            .order_by(a.c.crm_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            AccountSnapshot(
                system=cast(Any, system),
                crm_id=r.crm_id,
                name=r.name,
                owner_id=r.owner_id,
                owner_active=r.owner_active,
                workspace_id=r.workspace_id,
                seats_purchased=r.seats_purchased,
                usage_day=r.day,
                seats_used=r.seats_used,
                seats_limit=r.seats_limit,
                active_users=r.active_users,
            )
            for r in rows
        ]

    def account_names(self, system: str) -> dict[str, str]:
        t = ACCOUNTS
        with self.engine.connect() as conn:
            return {r.crm_id: r.name for r in conn.execute(sa.select(t.c.crm_id, t.c.name).where(t.c.system == system))}

    def owner_names(self, system: str) -> dict[str, str]:
        t = OWNERS
        with self.engine.connect() as conn:
            return {r.crm_id: r.name for r in conn.execute(sa.select(t.c.crm_id, t.c.name).where(t.c.system == system))}

    def counts(self) -> dict[str, int]:
        tables = {"accounts": ACCOUNTS, "owners": OWNERS, "usage_daily": USAGE, "ledger": LEDGER}
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for name, table in tables.items()
            }

    def unmatched_accounts(self, system: str) -> list[tuple[str, str, str | None]]:
        """Live accounts whose workspace has no usage at all: (crm_id, name, workspace_id)."""
        a = ACCOUNTS
        u = USAGE
        has_usage = sa.exists().where(u.c.workspace_id == a.c.workspace_id)
        query = (
            sa.select(a.c.crm_id, a.c.name, a.c.workspace_id)
            .where(a.c.system == system, a.c.deleted.is_(False), sa.not_(has_usage))
            .order_by(a.c.name)
        )
        with self.engine.connect() as conn:
            return [(r.crm_id, r.name, r.workspace_id) for r in conn.execute(query)]

    # -- ledger ---------------------------------------------------------------------------

    def ledger(self, system: str) -> dict[str, LedgerEntry]:
        t = LEDGER
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.system == system)).all()
        return {
            r.key: LedgerEntry(
                key=r.key,
                system=r.system,
                rule_id=r.rule_id,
                account_id=r.account_id,
                window=r.window,
                state=LedgerState(r.state),
                crm_id=r.crm_id,
                attempts=r.attempts,
                last_error=r.last_error,
            )
            for r in rows
        }

    def mark_pending(self, entries: Iterable[LedgerEntry], *, now: datetime) -> None:
        """Record intended writes before the CRM call (committed): a crash after the call is
        then visible as ``pending`` and reconciled by key instead of written twice."""
        rows = [
            {
                "key": e.key,
                "system": e.system,
                "rule_id": e.rule_id,
                "account_id": e.account_id,
                "window": e.window,
                "state": LedgerState.pending.value,
                "crm_id": e.crm_id,
                "attempts": e.attempts + 1,
                "last_error": e.last_error,
                "created_at": now,
                "updated_at": now,
            }
            for e in entries
        ]
        if not rows:
            return
        t = LEDGER
        stmt = self._upsert(t)
        keep = {"key", "created_at"}
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key"],
                    set_={c.name: stmt.excluded[c.name] for c in t.columns if c.name not in keep},
                ),
                rows,
            )

    def record_results(self, results: Iterable[WriteResult], *, now: datetime) -> None:
        t = LEDGER
        with self.engine.begin() as conn:
            for r in results:
                conn.execute(
                    sa.update(t)
                    .where(t.c.key == r.key)
                    .values(state=r.state.value, crm_id=r.crm_id, last_error=r.error, updated_at=now)
                )

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, command: str, *, started_at: datetime, as_of: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(RUNS).values(command=command, started_at=started_at, as_of=as_of))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(self, run_id: int, *, finished_at: datetime, status: str, summary: Mapping[str, Any]) -> None:
        t = RUNS
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == run_id)
                .values(finished_at=finished_at, status=status, summary=json.dumps(summary, default=str))
            )

    def last_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        t = RUNS
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit)).all()
        return [dict(r._mapping) for r in rows]


def _account_values(r: Account, now: datetime) -> dict[str, Any]:
    return {
        "system": r.system,
        "crm_id": r.crm_id,
        "name": r.name,
        "owner_id": r.owner_id,
        "domain": r.domain,
        "workspace_id": r.workspace_id,
        "seats_purchased": r.seats_purchased,
        "deleted": r.deleted,
        "modified_at": r.modified_at,
        "synced_at": now,
    }


def _owner_values(r: Owner) -> dict[str, Any]:
    return {
        "system": r.system,
        "crm_id": r.crm_id,
        "name": r.name,
        "email": r.email,
        "active": r.active,
        "modified_at": r.modified_at,
    }


def _usage_values(r: UsageDay) -> dict[str, Any]:
    return {
        "workspace_id": r.workspace_id,
        "day": r.day,
        "active_users": r.active_users,
        "seats_used": r.seats_used,
        "seats_limit": r.seats_limit,
        "updated_at": r.updated_at,
    }
