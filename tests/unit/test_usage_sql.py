"""``[usage] source = "sql"``: its settings and the warehouse URL, checked before any row is read."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.settings import RetrySettings
from connectors.usage.settings import UsageSettings
from connectors.usage.sql import SqlUsageConnector, daily_statement, prefetched
from core.errors import ConfigError
from sync.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
ENV = {"HUBSPOT_TOKEN": "t", "USAGE_SQL_URL": "postgresql://reader:s3cret@127.0.0.1:5432/analytics"}
QUERY = "SELECT * FROM usage WHERE loaded_at >= :since AND loaded_at < :until"


def with_usage(usage: dict[str, Any]) -> dict[str, Any]:
    raw = tomllib.loads((ROOT / "config.toml").read_text())
    raw["usage"] = usage
    return raw


def problems(usage: dict[str, Any], env: dict[str, str] = ENV) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(with_usage(usage), env)
    return [str(p) for p in info.value.problems]


def test_a_warehouse_needs_no_base_url_and_no_usage_token() -> None:
    loaded = parse_config(with_usage({"source": "sql", "sql": {"query": QUERY}}), ENV)
    usage = loaded.settings.usage
    assert usage is not None and usage.sql is not None
    assert usage.source == "sql" and usage.sql.url_env == "USAGE_SQL_URL" and usage.sql.batch_size == 50_000


def test_the_api_still_needs_its_base_url_and_sql_its_section() -> None:
    assert problems({"token_env": "HUBSPOT_TOKEN"}) == [
        'usage: base_url is required (the usage API\'s address), or source = "sql" with [usage.sql]'
    ]
    assert problems({"source": "sql"}) == ['usage: source = "sql" needs a [usage.sql] section (url_env, query)']


def test_the_url_variable_must_be_set_and_is_named() -> None:
    env = {"HUBSPOT_TOKEN": "t"}
    assert problems({"source": "sql", "sql": {"query": QUERY, "url_env": "WAREHOUSE_URL"}}, env) == [
        "usage.sql.url_env: environment variable WAREHOUSE_URL is not set "
        "(export WAREHOUSE_URL=<value> before running upsync)"
    ]


def test_the_query_binds_exactly_the_window() -> None:
    typo = "SELECT * FROM usage WHERE loaded_at >= :since AND loaded_at < :untill AND plan = :plan"
    [found] = problems({"source": "sql", "sql": {"query": typo}})
    assert found.startswith("usage.sql.query: the query uses :untill, :plan, which upsync does not bind")
    [found] = problems({"source": "sql", "sql": {"query": "SELECT * FROM usage"}})
    assert found.startswith("usage.sql.query: the query does not use :since, :until")
    # a PostgreSQL cast is no parameter; the window's own parameters may appear more than once
    cast = "SELECT * FROM u WHERE loaded_at::timestamptz >= :since AND loaded_at < :until AND :since < :until"
    assert parse_config(with_usage({"source": "sql", "sql": {"query": cast}}), ENV).settings.usage is not None
    [found] = problems({"source": "sql", "sql": {"query": QUERY, "workspaces_query": "SELECT * FROM w WHERE x = :x"}})
    assert found.startswith("usage.sql.workspaces_query: the workspaces query is read whole: it binds nothing")


def settings(**sql: Any) -> UsageSettings:
    return UsageSettings.model_validate({"source": "sql", "sql": {"query": QUERY, **sql}})


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("snowflake://reader:s3cret@acme-xy123/analytics/public?warehouse=wh", "snowflake"),
        ("bigquery://my-project/analytics", "bigquery"),
        ("redshift+redshift_connector://reader:s3cret@cluster.example.com:5439/dev", "redshift"),
        ("duckdb:////var/lib/usage.duckdb", "duckdb"),
    ],
)
def test_a_warehouse_whose_dialect_is_not_installed_names_the_extra(url: str, extra: str) -> None:
    with pytest.raises(ConfigError) as info:
        SqlUsageConnector(settings(), {"USAGE_SQL_URL": url}, RetrySettings())
    [problem] = info.value.problems
    assert problem.path == "usage.sql.url_env (USAGE_SQL_URL)"
    assert f"pip install 'upsync[{extra}]'" in str(problem)
    assert "s3cret" not in str(info.value)


def test_a_url_that_does_not_parse_or_a_missing_driver_is_named_without_the_url() -> None:
    with pytest.raises(ConfigError) as info:
        SqlUsageConnector(settings(), {"USAGE_SQL_URL": "reader:s3cret@warehouse/analytics"}, RetrySettings())
    assert "is not a SQLAlchemy URL" in str(info.value) and "s3cret" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        SqlUsageConnector(settings(), {"USAGE_SQL_URL": "postgresql+pg8000://reader:s3cret@h/db"}, RetrySettings())
    assert "the driver 'postgresql+pg8000' is not installed" in str(info.value)
    assert "use postgresql+psycopg://" in str(info.value) and "s3cret" not in str(info.value)


def test_a_plain_postgresql_url_is_read_with_the_built_in_psycopg() -> None:
    connector = SqlUsageConnector(settings(), ENV, RetrySettings())
    assert connector.warehouse.engine.dialect.driver == "psycopg"
    assert "s3cret" not in connector.warehouse.route.url
    connector.close()


def test_the_statement_binds_the_window_and_selects_only_the_mapped_columns_in_cursor_order() -> None:
    statement = daily_statement(QUERY, ["ws", "on", "at", "seats"], updated_at="at")
    assert str(statement.compile()) == (  # a reserved word ("on") is quoted; the window stays a parameter
        'SELECT usage_rows.ws, usage_rows."on", usage_rows.at, usage_rows.seats \n'
        "FROM (SELECT * FROM usage WHERE loaded_at >= :since AND loaded_at < :until) AS usage_rows "
        "ORDER BY usage_rows.at"
    )


def test_a_warehouse_row_becomes_exactly_the_record_the_api_mapping_makes_of_it() -> None:
    from datetime import date, datetime, timezone
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from connectors.base import to_page
    from connectors.usage.sql_rows import RowReader
    from connectors.usage.streams import METRICS, DailyUsage

    keys = ["workspace_id", "date", "updated_at", *METRICS]
    reader = RowReader(DailyUsage(), {key: i for i, key in enumerate(keys)}, "usage.daily")
    at = datetime(2026, 5, 2, 3, 4, 5, 600_000, tzinfo=timezone.utc)
    plain = ["ws-1", date(2026, 5, 1), at, 5, 9, 7, 10, Decimal("12.5"), 20.0, 100, 1000, 3, 0, 1, 2]
    plain += [{"search": 4}, '{"Sales": 2}']
    variants = {
        "plain": plain,
        "zone-less time stamp": [*plain[:2], at.replace(tzinfo=None), *plain[3:]],
        "other zone": [*plain[:2], at.astimezone(ZoneInfo("Europe/Paris")), *plain[3:]],
        "a count as text": [*plain[:3], "5", *plain[4:]],
        "a count past 2**53": [*plain[:3], 2**60 + 1, *plain[4:]],
        "a map of floats": [*plain[:-2], {"search": 4.0}, plain[-1]],
        "a negative count": [*plain[:3], -3, *plain[4:]],
        "NaN storage": [*plain[:7], float("nan"), *plain[8:]],
        "a map that is a list": [*plain[:-1], "[1, 2]"],
        "no workspace": [None, *plain[1:]],
    }
    for label, row in variants.items():
        item = dict(zip(keys, row, strict=True))
        if isinstance(item["updated_at"], datetime) and item["updated_at"].tzinfo is None:
            item["updated_at"] = item["updated_at"].replace(tzinfo=timezone.utc)  # warehouses keep UTC without a zone
        assert reader.page([row]) == to_page([item], DailyUsage().to_record, "usage.daily"), label
    assert reader._columns([plain]) is not None  # the common row takes the short way
    # a whole batch: read a column at a time when every value is plain, else row by row, alike
    blank = [*plain[:3], None, *plain[4:7], None, *plain[8:-2], None, plain[-1]]
    for batch in ([plain, blank, plain], list(variants.values())):
        items = [dict(zip(keys, row, strict=True)) for row in batch]
        for item in items:
            if isinstance(item["updated_at"], datetime) and item["updated_at"].tzinfo is None:
                item["updated_at"] = item["updated_at"].replace(tzinfo=timezone.utc)
        assert reader.page(batch) == to_page(items, DailyUsage().to_record, "usage.daily")
    assert reader._columns([plain, blank, plain]) is not None and reader._columns(list(variants.values())) is None
    [problem] = reader.page([variants["a negative count"]]).problems
    assert problem == "usage.daily record ws-1/2026-05-01: ValueError: active_users must not be negative, got -3"


def test_the_warehouse_password_is_redacted_from_every_log_line() -> None:
    from sync.observe.logs import secrets_of

    loaded = parse_config(with_usage({"source": "sql", "sql": {"query": QUERY}}), ENV)
    found = secrets_of(loaded.settings, ENV)
    assert ENV["USAGE_SQL_URL"] in found and "s3cret" in found


def test_batches_fetched_ahead_arrive_in_order_and_a_fetch_error_reaches_the_reader() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("connection lost")

    got: list[int] = []
    with pytest.raises(RuntimeError, match="connection lost"):
        for batch in prefetched(failing()):
            got.append(batch)
    assert got == [1, 2]


def test_a_read_stopped_early_stops_the_fetching_thread_one_batch_ahead() -> None:
    pulled: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            pulled.append(n)
            yield n
            n += 1

    reader = prefetched(endless())
    assert next(reader) == 0
    reader.close()  # what a stopped run does: the cursor is closed after this returns
    assert not any(t.name == "usage-sql-fetch" for t in threading.enumerate())
    assert len(pulled) <= 3  # the one handed over, one waiting, one being offered: never the whole table


def test_the_garbage_collector_is_paused_while_a_batch_is_built_and_back_after_the_last_holder() -> None:
    import gc

    from connectors.usage.sql_rows import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # the fetch thread and the reader overlap
            assert not gc.isenabled()
        assert not gc.isenabled()  # one holder still builds its batch
    assert gc.isenabled()
    gc.disable()  # an application that runs without it keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("a batch that fails")
    assert gc.isenabled()
