"""Usage from a SQL warehouse through SQLAlchemy: the connector of ``[usage] source = "sql"``.

The one importer of SQLAlchemy outside the store. PostgreSQL is built in (psycopg 3); Snowflake,
BigQuery, Redshift and DuckDB come with their dialect packages (``pip install 'upsync[snowflake]'``
and so on). The admin's query reads one row per (workspace, day) modified in the window
``[:since, :until)`` (bound parameters, never formatted into the text); upsync wraps it to select
the columns ``[usage.fields]`` names, in the order of the modification time, and reads it with a
server-side cursor ``batch_size`` rows at a time. Each batch becomes one page, committed with the
cursor it reaches, so a killed run resumes at the last batch stored and never skips a row.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, column, create_engine, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, SQLAlchemyError

from connectors.base import Page, Unchanged, to_page
from connectors.http import Route, call_with_retry, redact
from connectors.settings import RetrySettings
from connectors.usage.settings import UsageSettings
from connectors.usage.sql_rows import DAY_KEY, RowReader, gc_paused, json_loads
from connectors.usage.sql_settings import UsageSqlSettings
from connectors.usage.streams import METRICS, DailyUsage, Workspaces
from core.config import secret
from core.errors import ConfigError, ConfigProblem, ConnectorError, UnreachableError, UpstreamError
from core.records import CursorSpec, Deletion, Window

__all__ = ["DIALECT_EXTRAS", "SqlUsageConnector", "usage_engine"]

SYSTEM = "usage"
QUERY_KEY = "usage.sql.query"
WORKSPACES_KEY = "usage.sql.workspaces_query"

DIALECT_EXTRAS: Mapping[str, tuple[str, str]] = {
    "snowflake": ("snowflake", "snowflake-sqlalchemy"),
    "bigquery": ("bigquery", "sqlalchemy-bigquery"),
    "redshift": ("redshift", "sqlalchemy-redshift"),
    "duckdb": ("duckdb", "duckdb-engine"),
}
"""A warehouse's SQLAlchemy dialect → (upsync's extra that installs it, the dialect package)."""


def usage_engine(settings: UsageSqlSettings, env: Mapping[str, str]) -> tuple[Engine, URL]:
    """The engine for the URL in ``url_env``, and that URL (print it with ``hide_password``).
    A URL that does not parse, or whose dialect or driver is not installed, is a configuration
    error naming the variable (and the extra to install), never the URL itself."""
    where = f"usage.sql.url_env ({settings.url_env})"
    raw = secret(env, settings.url_env)
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise ConfigError(
            [ConfigProblem(where, "is not a SQLAlchemy URL", "e.g. postgresql+psycopg://user:password@host:5432/db")]
        ) from None
    if url.drivername == "postgresql":  # SQLAlchemy's default PostgreSQL driver is psycopg2; psycopg 3 ships
        url = url.set(drivername="postgresql+psycopg")
    dialect = url.get_backend_name()
    try:
        if url.drivername == "postgresql+psycopg":  # JSONB maps, parsed at the pace of the cursor
            return create_engine(url, json_deserializer=json_loads), url
        return create_engine(url), url
    except NoSuchModuleError:
        extra = DIALECT_EXTRAS.get(dialect)
        hint = (
            f"pip install 'upsync[{extra[0]}]' (the {extra[1]} dialect)"
            if extra
            else f"install the SQLAlchemy dialect package for {dialect!r}; "
            f"upsync's extras: {', '.join(sorted(DIALECT_EXTRAS))}"
        )
        raise ConfigError([ConfigProblem(where, f"the {dialect!r} database dialect is not installed", hint)]) from None
    except ImportError as exc:  # the dialect is known, its DBAPI driver is not installed
        extra = DIALECT_EXTRAS.get(dialect)
        hint = f"pip install 'upsync[{extra[0]}]'" if extra else "install the driver, or name another in the URL"
        if dialect == "postgresql":
            hint = "use postgresql+psycopg:// (psycopg 3 comes with upsync)"
        raise ConfigError(
            [ConfigProblem(where, f"the driver {url.drivername!r} is not installed ({exc.name or exc})", hint)]
        ) from None


def _first_line(exc: DBAPIError) -> str:
    """The database's own message, without SQLAlchemy's SQL echo and background link."""
    message = str(exc.orig) if exc.orig is not None else str(exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc.orig or exc).__name__


T = TypeVar("T")


def prefetched(batches: Iterator[T]) -> Generator[T, None, None]:
    """``batches``, the next one fetched on a thread while the caller converts and stores this one.

    The database streams the next rows while Python reads the last ones (the driver waits on its
    socket without the GIL): a warehouse read takes the longer of the two, not their sum. At most
    one batch waits ahead, so memory stays two batches. An error of the fetch is raised here, in
    the caller's frame; closing this generator stops the thread before the cursor is closed."""
    ahead: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for batch in batches:
                if not offer((True, batch)):
                    return
            offer((False, None))
        except BaseException as exc:  # handed to the caller, who translates it
            offer((False, exc))

    worker = threading.Thread(target=fetch, name="usage-sql-fetch", daemon=True)
    worker.start()
    try:
        while True:
            more, item = ahead.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join()


class Warehouse:
    """One SQL database read by queries: connections, batches and the errors' translation."""

    def __init__(
        self,
        settings: UsageSqlSettings,
        env: Mapping[str, str],
        retry: RetrySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self._sleep = sleep
        self.engine, url = usage_engine(settings, env)
        self._password = url.password or ""
        shown = url.render_as_string(hide_password=True)
        self.route = Route(SYSTEM, f"usage.sql.url_env ({settings.url_env})", shown)
        self.calls = 0

    def close(self) -> None:
        self.engine.dispose()

    def _connect(self, stream: str) -> Connection:
        def attempt() -> Connection:
            self.calls += 1
            try:
                return self.engine.connect()
            except DBAPIError as exc:
                failure = self.route.failure(exc, stream)  # a socket error the driver kept: refused, DNS, TLS
                if failure is not None:
                    raise failure from exc
                raise UnreachableError(
                    f"cannot connect to the usage database at {self.route.host}: "
                    f"{redact(_first_line(exc), self._password)}",
                    hint=f"check the host, port, user and password in {self.settings.url_env}, "
                    "and that the database is up",
                    system=SYSTEM,
                    stream=stream,
                ) from exc

        return call_with_retry(attempt, policy=self.retry, sleep=self._sleep, system=SYSTEM, stream=stream)

    @contextmanager
    def _translated(self, stream: str, key: str) -> Iterator[None]:
        """A query the database refused names the key that holds it and the database's message."""
        try:
            yield
        except OperationalError as exc:  # the connection dropped, the server cancelled the query
            raise UpstreamError(
                f"reading {key} failed: {redact(_first_line(exc), self._password)}",
                hint="the next run resumes at the last batch stored",
                system=SYSTEM,
                stream=stream,
            ) from exc
        except DBAPIError as exc:
            raise ConnectorError(
                f"{key} failed: {redact(_first_line(exc), self._password)}",
                hint=f"run the query by hand with :since and :until set; its columns must be the ones "
                f"[usage.fields] names (check {key} and [usage.fields])",
                system=SYSTEM,
                stream=stream,
            ) from exc
        except SQLAlchemyError as exc:  # not sent at all: a parameter without a value, a bad statement
            raise ConnectorError(
                f"{key} cannot be sent: {redact(str(exc).splitlines()[0], self._password)}",
                hint=f"check {key}",
                system=SYSTEM,
                stream=stream,
            ) from exc

    def batches(
        self, statement: Any, params: Mapping[str, Any], *, stream: str, key: str, plain: bool = False
    ) -> Generator[Sequence[Any], None, None]:
        """The rows of ``statement``, ``batch_size`` at a time, through a server-side cursor;
        ``plain``: as tuples where the driver can hand them over so (SQLAlchemy rows otherwise)."""
        size = self.settings.batch_size
        with self._connect(stream) as connection, self._translated(stream, key):
            if plain and connection.dialect.driver == "psycopg":
                yield from prefetched(_psycopg_batches(connection, statement, params, size))
                return
            streaming = connection.execution_options(stream_results=True, yield_per=size, max_row_buffer=size)
            result = streaming.execute(statement, dict(params))
            try:
                yield from prefetched(result.partitions(size))
            finally:  # a run stopped between batches closes its server-side cursor, not the garbage collector
                result.close()


def _psycopg_batches(
    connection: Connection, statement: Any, params: Mapping[str, Any], size: int
) -> Iterator[Sequence[Sequence[Any]]]:
    """PostgreSQL's rows as psycopg's own named (server-side) cursor hands them over, plain tuples:
    SQLAlchemy's row objects cost a third of a warehouse read. The statement is compiled by the
    dialect (its bound parameters stay parameters); a driver error is raised as SQLAlchemy's, so
    it is named as every other."""
    compiled = statement.compile(dialect=connection.dialect)
    sql, bound = str(compiled), compiled.construct_params(dict(params))
    driver = connection.connection.driver_connection
    assert driver is not None  # an open connection has its driver's
    dbapi = connection.dialect.loaded_dbapi
    try:
        with driver.cursor(name=f"upsync_usage_{uuid.uuid4().hex[:12]}") as cursor:
            cursor.itersize = size
            cursor.execute(sql, bound)
            while True:
                with gc_paused():
                    rows = cursor.fetchmany(size)
                if not rows:
                    return
                yield rows
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, bound, exc, dbapi.Error, dialect=connection.dialect) from exc


def _columns(settings: UsageSettings) -> dict[str, str]:
    """Canonical key (``DailyUsage``'s default mapping) → the column ``[usage.fields]`` names for it."""
    f = settings.fields
    named = {"workspace_id": f.workspace_id, DAY_KEY: f.day, "updated_at": f.updated_at}
    named |= {metric: path for metric in METRICS if (path := getattr(f, metric))}
    return named


def daily_statement(query: str, columns: Sequence[str], *, updated_at: str) -> Select[Any]:
    """``SELECT <columns> FROM (<query>) AS usage_rows ORDER BY <updated_at>``: only the mapped
    columns travel, in the order of the modification time, so each batch may move the cursor.
    Rows sharing a time stamp need no order among them: the next window starts at or before
    that time stamp (inclusive, a lookback earlier) and reads them all again. One sort key also
    lets the database read an index on that column instead of sorting the window."""
    rows = text(query).columns(*(column(name) for name in columns)).subquery("usage_rows")
    return select(*(rows.c[name] for name in columns)).order_by(rows.c[updated_at])


class _SqlDailyReader:
    name = DailyUsage.name
    kind = DailyUsage.kind

    def __init__(self, warehouse: Warehouse, settings: UsageSettings) -> None:
        assert settings.sql is not None
        self.warehouse = warehouse
        self.decl = DailyUsage(lookback=timedelta(seconds=settings.lookback_seconds))
        self.keys = _columns(settings)
        wanted = list(dict.fromkeys(self.keys.values()))
        self.statement = daily_statement(
            settings.sql.query,
            wanted,
            updated_at=self.keys["updated_at"],
        )
        positions = {key: wanted.index(name) for key, name in self.keys.items()}
        self.rows = RowReader(self.decl, positions, self.name)

    @property
    def spec(self) -> CursorSpec:
        return self.decl.spec

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        if window is None:
            raise ValueError("usage.daily is incremental: it needs a window")
        params = {"since": window.start, "until": window.end}
        with closing(
            self.warehouse.batches(self.statement, params, stream=self.name, key=QUERY_KEY, plain=True)
        ) as batches:
            for batch in batches:
                yield self.rows.page(batch)

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None  # a row deleted from the warehouse stays as last read (as the usage API's)


class _SqlWorkspaceReader:
    name = Workspaces.name
    kind = Workspaces.kind
    spec = None

    def __init__(self, warehouse: Warehouse, query: str) -> None:
        self.warehouse = warehouse
        self.decl = Workspaces()
        self.statement = text(query)

    def read(self, window: Window | None, *, unchanged: Unchanged | None = None) -> Iterator[Page]:
        with closing(self.warehouse.batches(self.statement, {}, stream=self.name, key=WORKSPACES_KEY)) as batches:
            for batch in batches:
                yield to_page([dict(row._mapping) for row in batch], self.decl.to_record, self.name)

    def deletions(self, start: datetime, end: datetime) -> Iterator[Sequence[Deletion]] | None:
        return None


class SqlUsageConnector:
    """``[usage] source = "sql"``: the usage API's streams, read from a warehouse."""

    system = SYSTEM

    def __init__(
        self,
        settings: UsageSettings,
        env: Mapping[str, str],
        retry: RetrySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if settings.sql is None:
            raise ConfigError('usage.source = "sql" needs a [usage.sql] section')
        self.warehouse = Warehouse(settings.sql, env, retry, sleep=sleep)
        readers: list[_SqlDailyReader | _SqlWorkspaceReader] = []
        if settings.sql.workspaces_query:
            readers.append(_SqlWorkspaceReader(self.warehouse, settings.sql.workspaces_query))
        readers.append(_SqlDailyReader(self.warehouse, settings))
        self.streams: tuple[_SqlDailyReader | _SqlWorkspaceReader, ...] = tuple(readers)

    def close(self) -> None:
        self.warehouse.close()
