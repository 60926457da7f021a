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

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from core.canonical import KINDS, ColumnType
from core.canonical import Table as Kind
from core.errors import StateError
from core.records import (
    AccountState,
    CrmTask,
    CursorState,
    Deletion,
    FieldMemo,
    FieldWrite,
    LedgerEntry,
    LedgerState,
    Provenance,
    Record,
    TaskUpdate,
    WriteResult,
    normalise,
)
from core.tables import OUTCOME_SCHEMAS, TABLE_SCHEMAS, OutcomeTables, Tables

__all__ = ["SCHEMA_VERSION", "Store"]

SCHEMA_VERSION = 5
"""1: initial schema. 2: ledger.attempts and ledger.last_error (why a write failed, how often).
3: every canonical kind (contracts, opportunities, activities…), full-pass and delete cursors.
4: the rules' history: account change log, daily health scores, signal log.
5: write-back: the ledger keeps owner, body, provenance, closes and holds; the field ledger."""


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
    """One stream position. ``<stream>`` is the incremental cursor; ``<stream>#full`` a full pass
    in progress (``pass_id``, ``window_end``); ``<stream>#deletes`` how far deletes were read."""

    __tablename__ = "cursors"
    stream: str = Field(primary_key=True)
    version: int
    last_value: datetime = _utc()
    last_key: str = ""
    updated_at: datetime = _utc()
    pass_id: str | None = None
    window_end: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    full_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


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
    owner_id: str | None = None
    priority: str | None = None
    due_on: date | None = None
    step: str | None = None
    body: str | None = None
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    held: str | None = None
    provenance: str | None = None


class FieldLedgerRow(SQLModel, table=True):
    """What upsync last wrote to one of its own fields on one account (so a value someone else
    put there is recognised), or, once ``held`` is set, the value a person put there."""

    __tablename__ = "field_ledger"
    system: str = Field(primary_key=True)
    account_id: str = Field(primary_key=True)
    field: str = Field(primary_key=True)
    value: str | None = None
    state: str
    write_key: str | None = None
    written_at: datetime = _utc()
    held: str | None = None
    last_error: str | None = None
    provenance: str | None = None


class AccountEventRow(SQLModel, table=True):
    """A tracked account field the CRM overwrote in place (employees, parent…): life events need
    the old value, which the canonical row no longer has."""

    __tablename__ = "account_events"
    id: int | None = Field(default=None, primary_key=True)
    system: str = Field(index=True)
    account_id: str = Field(index=True)
    field: str
    old_value: str | None = None
    new_value: str | None = None
    changed_at: datetime = _utc()


class HealthRow(SQLModel, table=True):
    """One account's health score on one day (A2): the history trends are read from."""

    __tablename__ = "health_daily"
    system: str = Field(primary_key=True)
    account_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    score: float
    band: str
    components: str = "{}"


class SignalLogRow(SQLModel, table=True):
    """When a rule last fired (unblocked) on an account, and why it was last held back: S12's
    "within 14 days" and the per-rule funnel read it."""

    __tablename__ = "signal_log"
    system: str = Field(primary_key=True)
    account_id: str = Field(primary_key=True)
    rule_id: str = Field(primary_key=True)
    first_fired_on: date
    last_fired_on: date | None = None
    last_seen_on: date
    blocked_by: str | None = None


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    command: str
    started_at: datetime = _utc()
    as_of: datetime = _utc()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    status: str = "running"
    summary: str = "{}"


_SA_TYPES: dict[ColumnType, Any] = {
    "text": sa.String,
    "int": sa.BigInteger,
    "float": sa.Float,
    "bool": sa.Boolean,
    "date": sa.Date,
    "datetime": UTCDateTime,
    "json": sa.JSON,
}


def _canonical_table(k: Kind) -> sa.Table:
    columns = [
        sa.Column(name, _SA_TYPES[ctype], primary_key=name in k.key, nullable=name not in k.key)
        for name, ctype in k.columns.items()
    ]
    indexes = [sa.Index(f"ix_{k.name}_{'_'.join(cols)}", *cols) for cols in k.indexes]
    return sa.Table(k.name, SQLModel.metadata, *columns, *indexes)


TABLES: dict[str, sa.Table] = {name: _canonical_table(k) for name, k in KINDS.items()}
META = cast(sa.Table, MetaRow.__table__)  # type: ignore[attr-defined]
CURSORS = cast(sa.Table, CursorRow.__table__)  # type: ignore[attr-defined]
ACCOUNTS = TABLES["accounts"]
OWNERS = TABLES["owners"]
USAGE = TABLES["usage_daily"]
WORKSPACES = TABLES["workspaces"]
LEDGER = cast(sa.Table, LedgerRow.__table__)  # type: ignore[attr-defined]
FIELD_LEDGER = cast(sa.Table, FieldLedgerRow.__table__)  # type: ignore[attr-defined]
EVENTS = cast(sa.Table, AccountEventRow.__table__)  # type: ignore[attr-defined]
HEALTH = cast(sa.Table, HealthRow.__table__)  # type: ignore[attr-defined]
SIGNALS = cast(sa.Table, SignalLogRow.__table__)  # type: ignore[attr-defined]
RUNS = cast(sa.Table, RunRow.__table__)  # type: ignore[attr-defined]


def _migrate_1_to_2(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE ledger ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"))
    conn.execute(sa.text("ALTER TABLE ledger ADD COLUMN last_error VARCHAR"))


def _add_missing_columns(conn: Connection) -> None:
    """Forward-compatible part of every upgrade: columns a newer schema added to an existing
    table are added (nullable; booleans default to false), data untouched."""
    inspector = sa.inspect(conn)
    existing_tables = set(inspector.get_table_names())
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            ddl_type = column.type.compile(dialect=conn.dialect)
            default = " DEFAULT false" if isinstance(column.type, sa.Boolean) else ""
            conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {ddl_type}{default}'))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _migrate_1_to_2,
    2: _add_missing_columns,
    3: lambda conn: None,  # 4 only adds tables (create_all)
    4: lambda conn: None,  # 5: the field ledger (create_all) and ledger columns (_add_missing_columns)
}
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
            _add_missing_columns(conn)
            conn.execute(sa.text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar_one())

    # -- cursors and pages ----------------------------------------------------------------

    def cursor(self, stream: str) -> CursorState | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(CURSORS).where(CURSORS.c.stream == stream)).first()
        return None if row is None else _cursor_state(row)

    def cursors(self) -> dict[str, CursorState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(CURSORS)).all()
        return {r.stream: _cursor_state(r) for r in rows}

    def save_cursor(self, stream: str, cursor: CursorState | None, *, now: datetime) -> None:
        """Set (or, with None, remove) one cursor row outside of a page commit."""
        with self.engine.begin() as conn:
            if cursor is None:
                conn.execute(sa.delete(CURSORS).where(CURSORS.c.stream == stream))
            else:
                self._upsert_rows(conn, CURSORS, [_cursor_values(stream, cursor, now)], ("stream",))

    def commit_page(
        self,
        stream: str,
        records: Sequence[Record],
        cursor: CursorState | None,
        *,
        now: datetime,
        pass_id: str | None = None,
        cursor_name: str | None = None,
    ) -> None:
        """Upsert one page and move the stream's cursor in the same transaction.

        A crash before the commit loses the whole page and leaves the cursor where it was; the
        next run reads the page again. Records upsert on their key (the last of duplicates in a
        page wins), so the overlap the lookback causes is harmless. ``pass_id`` marks the
        records as seen by that full pass. With ``cursor`` None only the records are stored;
        ``cursor_name`` (default: the stream) is the cursor row it moves.
        """
        by_kind: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        for record in records:
            k = KINDS.get(record.kind)
            if k is None:
                raise StateError(f"{stream}: unknown record kind {record.kind!r}", hint="this is a bug in the stream")
            row = _row(k, record, now, pass_id, stream)
            by_kind.setdefault(k.name, {})[tuple(row[c] for c in k.key)] = row
        try:
            with self.engine.begin() as conn:
                if "accounts" in by_kind:
                    self._log_account_changes(conn, list(by_kind["accounts"].values()))
                for name, rows in by_kind.items():
                    self._upsert_rows(conn, TABLES[name], list(rows.values()), KINDS[name].key)
                if cursor is not None:
                    self._upsert_rows(conn, CURSORS, [_cursor_values(cursor_name or stream, cursor, now)], ("stream",))
        except sa.exc.StatementError as exc:
            raise StateError(
                f"could not store a page of {stream}: {exc.orig or exc}", hint="the cursor was not moved; this is a bug"
            ) from exc

    def _upsert_rows(
        self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...]
    ) -> None:
        if not rows:
            return
        stmt = self._upsert(table)
        present = rows[0].keys()
        update = {c: stmt.excluded[c] for c in present if c not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))

    def _log_account_changes(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record tracked fields that these incoming rows change (compared with what is stored)."""
        by_system: dict[str, dict[str, Mapping[str, Any]]] = {}
        for row in rows:
            by_system.setdefault(row["system"], {})[row["crm_id"]] = row
        events = []
        a = ACCOUNTS
        for system, incoming in by_system.items():
            ids = list(incoming)
            for start in range(0, len(ids), 500):
                query = sa.select(a.c.crm_id, *(a.c[f] for f in TRACKED_ACCOUNT_FIELDS)).where(
                    a.c.system == system, a.c.crm_id.in_(ids[start : start + 500])
                )
                for old in conn.execute(query):
                    new = incoming[old.crm_id]
                    for f in TRACKED_ACCOUNT_FIELDS:
                        before, after = getattr(old, f), new.get(f)
                        if f in new and before != after:
                            events.append(
                                {
                                    "system": system,
                                    "account_id": old.crm_id,
                                    "field": f,
                                    "old_value": None if before is None else str(before),
                                    "new_value": None if after is None else str(after),
                                    "changed_at": new["modified_at"],
                                }
                            )
        if events:
            conn.execute(sa.insert(EVENTS), events)

    def mark_deleted(self, deletions: Sequence[Deletion], *, now: datetime) -> int:
        """Flag records the source reports gone; unknown ids are ignored. Returns rows changed."""
        changed = 0
        with self.engine.begin() as conn:
            for (kind_name, system), group in _group_deletions(deletions).items():
                table = TABLES[kind_name]
                for start in range(0, len(group), 500):
                    ids = group[start : start + 500]
                    result = conn.execute(
                        sa.update(table)
                        .where(table.c.system == system, table.c.crm_id.in_(ids), table.c.deleted.is_(False))
                        .values(deleted=True, synced_at=now)
                    )
                    changed += result.rowcount or 0
        return changed

    def reconcile_full_pass(self, kind_name: str, source: str, *, pass_id: str, before: datetime, now: datetime) -> int:
        """After a complete full pass of stream ``source``: its records the pass did not see (and
        that were not modified after it began) are gone from the source. Returns how many."""
        table = TABLES[kind_name]
        if "seen_pass" not in table.c:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(table)
                .where(
                    table.c.source == source,
                    table.c.deleted.is_(False),
                    sa.or_(table.c.seen_pass.is_(None), table.c.seen_pass != pass_id),
                    table.c.modified_at < before,
                )
                .values(deleted=True, synced_at=now)
            )
        return result.rowcount or 0

    def unchanged(self, kind_name: str, pairs: Sequence[tuple[str, datetime]], *, system: str) -> set[str]:
        """Of ``(crm_id, modified_at)`` pairs, the ids stored live with exactly that modification time."""
        table = TABLES[kind_name]
        stored: dict[str, datetime] = {}
        ids = [p[0] for p in pairs]
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = sa.select(table.c.crm_id, table.c.modified_at).where(
                    table.c.system == system, table.c.crm_id.in_(ids[start : start + 500]), table.c.deleted.is_(False)
                )
                stored.update({r.crm_id: r.modified_at for r in conn.execute(query)})
        return {crm_id for crm_id, at in pairs if stored.get(crm_id) == at}

    def rows(self, kind_name: str, *, system: str | None = None, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every stored row of a kind (tests, status and small reads; rules read in bulk elsewhere)."""
        table = TABLES[kind_name]
        query = sa.select(table)
        if system is not None:
            query = query.where(table.c.system == system)
        if not include_deleted and "deleted" in table.c:
            query = query.where(table.c.deleted.is_(False))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- what the rules read ----------------------------------------------------------------

    def rule_tables(self, system: str, *, since: date, until: datetime) -> Tables:
        """The live records of ``system`` as the rules read them (:class:`rules.features.Tables`).

        Usage rows from ``since`` on (the window the features need); everything else whole, since
        aggregates (last review, customer since, co-purchase) reach far back. ``until`` bounds the
        history tables (health, signals) so a replay does not read its own future.
        """
        a, w = ACCOUNTS, WORKSPACES
        workspace = sa.func.coalesce(a.c.workspace_id, w.c.workspace_id)
        accounts = (
            sa.select(
                *(a.c[c] for c in TABLE_SCHEMAS["accounts"] if c != "workspace_id"), workspace.label("workspace_id")
            )
            .select_from(a)
            .outerjoin(w, sa.and_(a.c.workspace_id.is_(None), w.c.domain == a.c.domain))
            .where(a.c.system == system, a.c.deleted.is_(False))
        )
        frames: dict[str, Any] = {}
        with self.engine.connect() as conn:
            frames["accounts"] = _frame(conn, accounts, "accounts")
            for name, kind_name in (
                ("owners", "owners"),
                ("contracts", "contracts"),
                ("opportunities", "opportunities"),
                ("line_items", "line_items"),
                ("products", "products"),
                ("assets", "assets"),
                ("contacts", "contacts"),
                ("activities", "activities"),
                ("tickets", "tickets"),
            ):
                t = TABLES[kind_name]
                query = sa.select(*(t.c[c] for c in TABLE_SCHEMAS[name])).where(
                    t.c.system == system, t.c.deleted.is_(False)
                )
                frames[name] = _frame(conn, query, name)
            u = USAGE
            usage_cols = [
                sa.cast(u.c[c], sa.Text).label(c) if c in ("feature_events", "users_by_department") else u.c[c]
                for c in TABLE_SCHEMAS["usage"]
            ]
            frames["usage"] = _frame(conn, sa.select(*usage_cols).where(u.c.day >= since), "usage")
            e = EVENTS
            frames["account_events"] = _frame(
                conn,
                sa.select(e.c.account_id, e.c.field, e.c.old_value, e.c.new_value, e.c.changed_at).where(
                    e.c.system == system
                ),
                "account_events",
            )
            ld = LEDGER
            frames["ledger"] = _frame(
                conn,
                sa.select(*(ld.c[c] for c in TABLE_SCHEMAS["ledger"])).where(ld.c.system == system),
                "ledger",
            )
            h = HEALTH
            frames["health"] = _frame(
                conn,
                sa.select(h.c.account_id, h.c.day, h.c.score, h.c.band).where(
                    h.c.system == system, h.c.day >= since, h.c.day <= until.date()
                ),
                "health",
            )
            sg = SIGNALS
            frames["signals"] = _frame(
                conn,
                sa.select(sg.c.account_id, sg.c.rule_id, sg.c.first_fired_on, sg.c.last_fired_on).where(
                    sg.c.system == system, sg.c.last_fired_on.is_not(None), sg.c.last_fired_on <= until.date()
                ),
                "signals",
            )
        return Tables(**frames)

    def save_health(self, system: str, rows: pl.DataFrame) -> int:
        """Upsert the day's health scores (account_id, day, score, band, health_<component>…)."""
        components = [c for c in rows.columns if c.startswith("health_")]
        values = [
            {
                "system": system,
                "account_id": r["account_id"],
                "day": r["day"],
                "score": r["score"],
                "band": r["band"],
                "components": json.dumps({c.removeprefix("health_"): r[c] for c in components}),
            }
            for r in rows.iter_rows(named=True)
        ]
        with self.engine.begin() as conn:
            for start in range(0, len(values), 5000):
                self._upsert_rows(conn, HEALTH, values[start : start + 5000], ("system", "account_id", "day"))
        return len(values)

    def health_days(self, system: str, *, since: date, until: date) -> set[date]:
        """The days between ``since`` and ``until`` that have stored health scores."""
        h = HEALTH
        query = sa.select(h.c.day).where(h.c.system == system, h.c.day >= since, h.c.day <= until).distinct()
        with self.engine.connect() as conn:
            return {r.day for r in conn.execute(query)}

    def health_bands(self, system: str) -> tuple[date, dict[str, int]] | None:
        """(latest day with health scores, accounts per band that day)."""
        h = HEALTH
        with self.engine.connect() as conn:
            day = conn.execute(sa.select(sa.func.max(h.c.day)).where(h.c.system == system)).scalar()
            if day is None:
                return None
            query = sa.select(h.c.band, sa.func.count()).where(h.c.system == system, h.c.day == day).group_by(h.c.band)
            return day, {band: int(n) for band, n in conn.execute(query)}

    def signal_summary(self, system: str) -> list[dict[str, Any]]:
        """Per rule, from the signal log: accounts last seen standing (fired) or held back, and when
        it last fired."""
        sg = SIGNALS
        latest = sa.select(sa.func.max(sg.c.last_seen_on)).where(sg.c.system == system).scalar_subquery()
        query = (
            sa.select(
                sg.c.rule_id,
                sa.func.sum(sa.case((sg.c.blocked_by.is_(None), 1), else_=0)).label("fired"),
                sa.func.sum(sa.case((sg.c.blocked_by.is_not(None), 1), else_=0)).label("held"),
                sa.func.max(sg.c.last_fired_on).label("last_fired_on"),
            )
            .where(sg.c.system == system, sg.c.last_seen_on == latest)
            .group_by(sg.c.rule_id)
            .order_by(sg.c.rule_id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def health_history(self, system: str, account_id: str) -> list[dict[str, Any]]:
        h = HEALTH
        with self.engine.connect() as conn:
            query = sa.select(h).where(h.c.system == system, h.c.account_id == account_id).order_by(h.c.day)
            return [dict(r._mapping) for r in conn.execute(query)]

    def log_signals(self, system: str, signals: pl.DataFrame, *, day: date) -> int:
        """Fold one evaluation's signals (account, rule_id, blocked) into the signal log."""
        sg = SIGNALS
        rows = [
            {
                "system": system,
                "account_id": r["account"],
                "rule_id": r["rule_id"],
                "first_fired_on": day,
                "last_fired_on": None if r["blocked"] else day,
                "last_seen_on": day,
                "blocked_by": ",".join(r["blocked"]) or None,
            }
            for r in signals.select("account", "rule_id", "blocked").iter_rows(named=True)
        ]
        if not rows:
            return 0
        stmt = self._upsert(sg)
        excluded = stmt.excluded
        update = {
            "first_fired_on": sa.func.min(sg.c.first_fired_on, excluded.first_fired_on)
            if self.engine.dialect.name == "sqlite"
            else sa.func.least(sg.c.first_fired_on, excluded.first_fired_on),
            "last_fired_on": sa.func.coalesce(excluded.last_fired_on, sg.c.last_fired_on),
            "last_seen_on": excluded.last_seen_on,
            "blocked_by": excluded.blocked_by,
        }
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(
                    stmt.on_conflict_do_update(index_elements=["system", "account_id", "rule_id"], set_=update),
                    rows[start : start + 5000],
                )
        return len(rows)

    def signal_log(self, system: str) -> list[dict[str, Any]]:
        sg = SIGNALS
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(sg).where(sg.c.system == system))]

    def account_names(self, system: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            query = sa.select(ACCOUNTS.c.crm_id, ACCOUNTS.c.name).where(ACCOUNTS.c.system == system)
            return {r.crm_id: r.name for r in conn.execute(query)}

    def owner_names(self, system: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            query = sa.select(OWNERS.c.crm_id, OWNERS.c.name).where(OWNERS.c.system == system)
            return {r.crm_id: r.name for r in conn.execute(query)}

    def counts(self, *, include_deleted: bool = False) -> dict[str, int]:
        """Rows per canonical kind (live ones unless ``include_deleted``), plus the ledger."""
        out = {}
        with self.engine.connect() as conn:
            for name, table in TABLES.items():
                query = sa.select(sa.func.count()).select_from(table)
                if not include_deleted and "deleted" in table.c:
                    query = query.where(table.c.deleted.is_(False))
                out[name] = int(conn.execute(query).scalar_one())
            out["ledger"] = int(conn.execute(sa.select(sa.func.count()).select_from(LEDGER)).scalar_one())
        return out

    def unmatched_accounts(self, system: str) -> list[tuple[str, str, str | None]]:
        """Live accounts matched to no workspace with usage, by field or by domain: (id, name, workspace)."""
        a = ACCOUNTS
        w = WORKSPACES
        workspace = sa.func.coalesce(a.c.workspace_id, w.c.workspace_id)
        has_usage = sa.exists().where(USAGE.c.workspace_id == workspace)
        query = (
            sa.select(a.c.crm_id, a.c.name, a.c.workspace_id)
            .select_from(a)
            .outerjoin(w, sa.and_(a.c.workspace_id.is_(None), w.c.domain == a.c.domain))
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
        return {r.key: _ledger_entry(r) for r in rows}

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
                "owner_id": e.owner_id,
                "priority": e.priority,
                "due_on": e.due_on,
                "step": e.step,
                "body": e.body,
                "provenance": _provenance_json(e.provenance),
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
                    set_={c.name: stmt.excluded[c.name] for c in t.columns if c.name not in keep and c.name in rows[0]},
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

    def record_updates(self, updates: Sequence[TaskUpdate], results: Sequence[WriteResult], *, now: datetime) -> None:
        """What became of upsync's changes to its own tasks: the new owner/priority, or closed."""
        t = LEDGER
        ok = {r.key for r in results if r.state is LedgerState.confirmed}
        errors = {r.key: r.error for r in results if r.state is not LedgerState.confirmed}
        with self.engine.begin() as conn:
            for u in updates:
                if u.key not in ok:
                    conn.execute(sa.update(t).where(t.c.key == u.key).values(last_error=errors.get(u.key)))
                    continue
                values: dict[str, Any] = {"updated_at": now, "last_error": None}
                if u.owner_id is not None:
                    values["owner_id"] = u.owner_id
                if u.priority is not None:
                    values["priority"] = u.priority
                if u.due_on is not None:
                    values["due_on"] = u.due_on
                if u.body is not None:
                    values["body"] = u.body
                if u.close:
                    values["closed_at"] = now
                conn.execute(sa.update(t).where(t.c.key == u.key).values(**values))

    def hold_tasks(self, holds: Iterable[tuple[str, str]], *, now: datetime) -> None:
        """(key, why): a person edited these tasks; upsync never writes them again."""
        t = LEDGER
        with self.engine.begin() as conn:
            for key, why in holds:
                conn.execute(sa.update(t).where(t.c.key == key).values(held=why, updated_at=now))

    # -- field ledger ---------------------------------------------------------------------

    def field_memos(self, system: str) -> dict[tuple[str, str], FieldMemo]:
        t = FIELD_LEDGER
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.system == system)).all()
        return {
            (r.account_id, r.field): FieldMemo(
                value=r.value, state=LedgerState(r.state), written_at=r.written_at, held=r.held
            )
            for r in rows
        }

    def mark_fields_pending(self, writes: Sequence[FieldWrite], *, now: datetime) -> None:
        """Record the values about to be written (committed before the call): after a crash the
        CRM may hold them, and the next plan must not take them for a person's edit."""
        rows = [
            {
                "system": w.system,
                "account_id": w.account_id,
                "field": name,
                "value": normalise(name, value),
                "state": LedgerState.pending.value,
                "write_key": w.key,
                "written_at": now,
                "held": None,
                "last_error": None,
                "provenance": _provenance_json(w.provenance),
            }
            for w in writes
            for name, value in w.values.items()
        ]
        self._upsert_fields(rows)

    def record_field_results(
        self, writes: Sequence[FieldWrite], results: Sequence[WriteResult], *, now: datetime
    ) -> None:
        t = FIELD_LEDGER
        by_key = {r.key: r for r in results}
        with self.engine.begin() as conn:
            for w in writes:
                r = by_key.get(w.key)
                if r is None:
                    continue
                conn.execute(
                    sa.update(t)
                    .where(t.c.system == w.system, t.c.account_id == w.account_id, t.c.write_key == w.key)
                    .values(state=r.state.value, last_error=r.error, written_at=now)
                )

    def hold_fields(self, system: str, holds: Sequence[tuple[str, str, str | None, str]], *, now: datetime) -> None:
        """(account, field, the person's value, why): upsync leaves these fields alone while the
        person's value stays (clearing it hands the field back)."""
        rows = [
            {
                "system": system,
                "account_id": account,
                "field": name,
                "value": value,
                "state": LedgerState.confirmed.value,
                "write_key": None,
                "written_at": now,
                "held": why,
                "last_error": None,
                "provenance": None,
            }
            for account, name, value, why in holds
        ]
        self._upsert_fields(rows)

    def confirm_fields(self, system: str, pairs: Sequence[tuple[str, str]]) -> None:
        t = FIELD_LEDGER
        with self.engine.begin() as conn:
            for account, name in pairs:
                conn.execute(
                    sa.update(t)
                    .where(t.c.system == system, t.c.account_id == account, t.c.field == name)
                    .values(state=LedgerState.confirmed.value)
                )

    def _upsert_fields(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        t = FIELD_LEDGER
        stmt = self._upsert(t)
        pk = ["system", "account_id", "field"]
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=pk,
                        set_={c.name: stmt.excluded[c.name] for c in t.columns if c.name not in pk},
                    ),
                    list(rows[start : start + 5000]),
                )

    # -- the CRM as the pull last saw it ----------------------------------------------------

    def own_tasks(self, system: str) -> dict[str, CrmTask]:
        """upsync's tasks as read back from the CRM (activities carrying a sync key)."""
        a = TABLES["activities"]
        query = sa.select(
            a.c.sync_key,
            a.c.crm_id,
            a.c.account_id,
            a.c.status,
            a.c.is_closed,
            a.c.owner_id,
            a.c.created_by,
            a.c.last_modified_by,
            a.c.modified_at,
            a.c.deleted,
        ).where(a.c.system == system, a.c.sync_key.is_not(None))
        out = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                out[r.sync_key] = CrmTask(
                    key=r.sync_key,
                    crm_id=r.crm_id,
                    account_id=r.account_id,
                    status=r.status,
                    is_closed=bool(r.is_closed) or bool(r.deleted),
                    owner_id=r.owner_id,
                    created_by=r.created_by,
                    last_modified_by=r.last_modified_by,
                    modified_at=r.modified_at,
                )
        return out

    def account_states(self, system: str) -> dict[str, AccountState]:
        """upsync's own fields on every live account as the pull last read them."""
        a = ACCOUNTS
        cols = [a.c.crm_id, a.c.synced_at]
        has_fields = "upsync_fields" in a.c
        has_modifier = "last_modified_by" in a.c
        if has_fields:
            cols.append(a.c.upsync_fields)
        if has_modifier:
            cols.append(a.c.last_modified_by)
        query = sa.select(*cols).where(a.c.system == system, a.c.deleted.is_(False))
        out = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                current = r.upsync_fields if has_fields else None
                if isinstance(current, str):
                    current = json.loads(current)
                out[r.crm_id] = AccountState(
                    account_id=r.crm_id,
                    current=current or {},
                    last_modified_by=r.last_modified_by if has_modifier else None,
                    synced_at=r.synced_at,
                )
        return out

    def last_signals(self, system: str) -> dict[str, tuple[str, date]]:
        """Each account's most recent unblocked signal: (rule id, the day it last fired)."""
        sg = SIGNALS
        query = (
            sa.select(sg.c.account_id, sg.c.rule_id, sg.c.last_fired_on)
            .where(sg.c.system == system, sg.c.last_fired_on.is_not(None))
            .order_by(sg.c.account_id, sg.c.last_fired_on, sg.c.rule_id)
        )
        out: dict[str, tuple[str, date]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                out[r.account_id] = (r.rule_id, r.last_fired_on)
        return out

    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(META.c.value).where(META.c.key == key)).first()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        stmt = self._upsert(META)
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}),
                [{"key": key, "value": value}],
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

    def outcome_tables(self, system: str) -> OutcomeTables:
        """What the outcome measures read (:class:`rules.metrics.OutcomeTables`) for ``system``: the
        ledger, upsync's tasks as the pull read them back, the signal log, and the live opportunities,
        accounts and contracts, whole (a deal can follow its task by months)."""
        ld, act, opp, sg = LEDGER, TABLES["activities"], TABLES["opportunities"], SIGNALS
        a, c = ACCOUNTS, TABLES["contracts"]

        def cols(table: sa.Table, name: str) -> list[sa.ColumnElement[Any]]:
            return [table.c[col] if col in table.c else sa.null().label(col) for col in OUTCOME_SCHEMAS[name]]

        queries = {
            "ledger": sa.select(*cols(ld, "ledger")).where(ld.c.system == system),
            "tasks": sa.select(*cols(act, "tasks")).where(
                act.c.system == system, act.c.sync_key.is_not(None), act.c.deleted.is_(False)
            ),
            "opportunities": sa.select(*cols(opp, "opportunities")).where(
                opp.c.system == system, opp.c.deleted.is_(False)
            ),
            "signal_log": sa.select(*cols(sg, "signal_log")).where(sg.c.system == system),
            "accounts": sa.select(*cols(a, "accounts")).where(a.c.system == system, a.c.deleted.is_(False)),
            "contracts": sa.select(*cols(c, "contracts")).where(c.c.system == system, c.c.deleted.is_(False)),
        }
        frames: dict[str, pl.DataFrame] = {}
        with self.engine.connect() as conn:
            for name, query in queries.items():
                rows = [tuple(r) for r in conn.execute(query)]
                frames[name] = pl.DataFrame(rows, schema=OUTCOME_SCHEMAS[name], orient="row", strict=False)
        return OutcomeTables(**frames)


_MANAGED = frozenset(("seen_pass", "synced_at", "deleted", "modified_at", "source"))
TRACKED_ACCOUNT_FIELDS = ("employees", "parent_id", "owner_id", "account_type", "lifecycle_stage")
"""Account fields whose changes are kept in ``account_events`` (life events: S14)."""


def _row(k: Kind, record: Record, now: datetime, pass_id: str | None, stream: str) -> dict[str, Any]:
    row = {c: record.values.get(c) for c in k.columns if c not in _MANAGED}
    if "system" in k.columns:
        row["system"] = record.system
        row["crm_id"] = record.key
        row["deleted"] = record.deleted
        row["modified_at"] = record.cursor_value
        row["synced_at"] = now
        row["source"] = stream
        if pass_id is not None:
            row["seen_pass"] = pass_id
    for key in k.key:
        if row.get(key) is None:
            raise StateError(f"{k.name} record {record.key!r} has no {key}", hint="this is a bug in the stream")
    return row


def _frame(conn: Connection, query: sa.Select[Any], name: str) -> pl.DataFrame:
    """A query's rows as one input frame of the rules (columns and types of ``TABLE_SCHEMAS``).

    Dates and times come back as the database's text and booleans as integers, parsed by polars
    in one vectorised step: the per-value type processing of the ORM layer costs ten times more
    than reading the rows (1.1M usage rows: 19 s against under 2)."""
    schema = TABLE_SCHEMAS[name]
    sub = query.subquery()
    raw: dict[str, pl.DataType] = {}
    columns: list[sa.ColumnElement[Any]] = []
    for column in sub.columns:
        dtype = schema[column.name]
        if isinstance(dtype, pl.Date | pl.Datetime):
            columns.append(sa.cast(column, sa.Text).label(column.name))
            raw[column.name] = pl.String()
        elif isinstance(dtype, pl.Boolean):
            columns.append(sa.cast(column, sa.Integer).label(column.name))
            raw[column.name] = pl.Int64()
        else:
            columns.append(column)
            raw[column.name] = dtype
    rows = conn.execute(sa.select(*columns)).all()
    frame = pl.DataFrame(rows, schema=raw, orient="row", strict=False)
    casts = []
    for name, dtype in raw.items():
        target = schema[name]
        if isinstance(target, pl.Datetime):
            casts.append(pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC"))
        elif isinstance(target, pl.Date):
            casts.append(pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d"))
        elif isinstance(target, pl.Boolean):
            casts.append(pl.col(name).cast(pl.Boolean))
        elif dtype != target:
            casts.append(pl.col(name).cast(target, strict=False))
    return frame.with_columns(casts).select(list(schema))


def _cursor_state(row: Any) -> CursorState:
    return CursorState(
        version=row.version,
        last_value=row.last_value,
        last_key=row.last_key,
        pass_id=row.pass_id,
        window_end=row.window_end,
        full_at=row.full_at,
    )


def _cursor_values(stream: str, cursor: CursorState, now: datetime) -> dict[str, Any]:
    return {
        "stream": stream,
        "version": cursor.version,
        "last_value": cursor.last_value,
        "last_key": cursor.last_key,
        "updated_at": now,
        "pass_id": cursor.pass_id,
        "window_end": cursor.window_end,
        "full_at": cursor.full_at,
    }


def _group_deletions(deletions: Sequence[Deletion]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for d in deletions:
        groups.setdefault((d.kind, d.system), []).append(d.crm_id)
    return groups


def _provenance_json(p: Provenance | None) -> str | None:
    if p is None:
        return None
    return json.dumps(
        {"rule_id": p.rule_id, "rule_hash": p.rule_hash, "as_of": p.as_of.isoformat(), "inputs": dict(p.inputs)},
        default=str,
    )


def _provenance(raw: str | None) -> Provenance | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Provenance(
        rule_id=data["rule_id"],
        rule_hash=data["rule_hash"],
        as_of=datetime.fromisoformat(data["as_of"]),
        inputs=data.get("inputs") or {},
    )


def _ledger_entry(r: Any) -> LedgerEntry:
    return LedgerEntry(
        key=r.key,
        system=r.system,
        rule_id=r.rule_id,
        account_id=r.account_id,
        window=r.window,
        state=LedgerState(r.state),
        crm_id=r.crm_id,
        attempts=r.attempts,
        last_error=r.last_error,
        owner_id=r.owner_id,
        priority=r.priority,
        due_on=r.due_on,
        step=r.step,
        body=r.body,
        created_at=r.created_at,
        updated_at=r.updated_at,
        closed_at=r.closed_at,
        held=r.held,
        provenance=_provenance(r.provenance),
    )
