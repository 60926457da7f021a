"""Usage read from a warehouse: the running PostgreSQL, a table named the warehouse's way, the
README's worked config and nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from connectors.columns import parse_utc
from sandbox.server import Sandbox
from sync.runner import Context, connect_crm, connect_usage, evaluate_now, pull_all
from sync.settings import load_settings
from sync.store import Store
from tests.conftest import ANCHOR, sandbox_env, upsync_cmd, write_config

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TABLE = "analytics.product_usage_daily"
COLUMNS = (
    "account_ref text, usage_date date, dau int, wau int, seats_active int, seats_purchased int, "
    "storage_mb numeric, storage_quota_mb numeric, api_requests bigint, api_quota bigint, integrations_enabled int, "
    "premium_views int, trials int, pricing_views int, events jsonb, departments text, loaded_at timestamptz"
)
METRICS = (  # canonical name → the warehouse's column, as the README's [usage.fields] maps them
    ("active_users", "dau"),
    ("weekly_active_users", "wau"),
    ("seats_used", "seats_active"),
    ("seats_limit", "seats_purchased"),
    ("api_calls_used", "api_requests"),
    ("api_calls_limit", "api_quota"),
    ("integrations", "integrations_enabled"),
    ("premium_feature_views", "premium_views"),
    ("trials_started", "trials"),
    ("pricing_page_views", "pricing_views"),
)


def readme_config() -> str:
    """The worked TOML of the README's "Usage from a warehouse" section, as a user copies it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Usage from a warehouse", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match, "the README's warehouse section has no TOML example"
    return match.group(1)


def mb(gb: Any) -> Decimal | None:
    return None if gb is None else Decimal(repr(gb)) * 1024


def table_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A usage row of the sandbox world as the warehouse holds it (storage in MB, maps as JSONB/JSON text)."""
    departments = row.get("users_by_department")
    return (
        row["workspace_id"],
        row["date"],
        *(row.get(name) for name, _ in METRICS),
        mb(row.get("storage_used_gb")),
        mb(row.get("storage_limit_gb")),
        Jsonb(row["feature_events"]) if row.get("feature_events") is not None else None,
        json.dumps(departments) if departments is not None else None,
        row["updated_at"] if isinstance(row["updated_at"], datetime) else parse_utc(row["updated_at"]),
    )


INSERT_COLUMNS = (
    "account_ref, usage_date, "
    + ", ".join(column for _, column in METRICS)
    + ", storage_mb, storage_quota_mb, events, departments, loaded_at"
)


def load(url: str, rows: Sequence[Mapping[str, Any]]) -> None:
    with psycopg.connect(url) as conn, conn.cursor().copy(f"COPY {TABLE} ({INSERT_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(table_row(row))


@pytest.fixture
def warehouse(postgres_url: str, sandbox: Sandbox) -> Iterator[str]:
    """A throw-away database (dropped after the test) whose ``analytics`` schema holds the world's usage."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA analytics")
        conn.execute(f"CREATE TABLE {TABLE} ({COLUMNS}, PRIMARY KEY (account_ref, usage_date))")
        conn.execute(
            "CREATE TABLE analytics.accounts (account_ref text PRIMARY KEY, web_domain text, account_name text)"
        )
    load(postgres_url, list(sandbox.world.usage.rows))
    yield postgres_url


def in_warehouse(url: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every row of the warehouse table, as upsync should store it."""
    names = ", ".join(column for _, column in METRICS)
    query = f"SELECT account_ref, usage_date, {names}, storage_mb, storage_quota_mb, events, departments, loaded_at"
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"{query} FROM {TABLE}").fetchall()
    return {
        (r[0], r[1].isoformat()): (
            *r[2:12],
            None if r[12] is None else float(r[12] / 1024),
            None if r[13] is None else float(r[13] / 1024),
            r[14],
            None if r[15] is None else json.loads(r[15]),
            r[16],
        )
        for r in rows
    }


def stored(ctx: Context) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r["workspace_id"], r["day"].isoformat()): (
            *(r[name] for name, _ in METRICS),
            r["storage_used_gb"],
            r["storage_limit_gb"],
            r["feature_events"],
            r["users_by_department"],
            r["updated_at"],
        )
        for r in ctx.store.rows("usage_daily")
    }


def sql_config(tmp_path: Path, sandbox: Sandbox, usage: str, crm: str = "hubspot") -> Path:
    """The suite's config with its ``[usage]`` section replaced by ``usage`` (no API left in it)."""
    path = write_config(tmp_path, sandbox, crm)
    text = path.read_text()
    start, end = text.index("\n[usage]\n"), text.index("\n[writeback]\n")
    path.write_text(text[:start] + "\n" + usage + "\n" + text[end:])
    return path


def env_for(sandbox: Sandbox, url: str) -> dict[str, str]:
    return {**sandbox_env(sandbox), "USAGE_SQL_URL": url}


def context(config: Path, env: dict[str, str], *, as_of: datetime = ANCHOR) -> Context:
    settings = load_settings(config, env)
    return Context(
        settings=settings,
        store=Store.open(str(config.parent / "state.db")),
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=lambda: as_of,
    )


def pull_usage(ctx: Context, *, as_of: datetime = ANCHOR, progress: Any = None) -> Any:
    [report] = pull_all(ctx, as_of=as_of, only=lambda n: n == "usage.daily", progress=progress)
    return report


def test_the_readme_config_reads_the_warehouse_exactly_and_a_cycle_runs_on_it(
    tmp_path: Path, sandbox: Sandbox, warehouse: str
) -> None:
    config = sql_config(tmp_path, sandbox, readme_config(), crm="salesforce")
    assert "base_url" not in config.read_text().split("[usage]", 1)[1].split("[writeback]")[0]
    accounts = sandbox.world.salesforce.objects["Account"]
    with_usage = {r["workspace_id"] for r in sandbox.world.usage.rows}
    by_domain = next(a for a in accounts.values() if a["Workspace_Id__c"] in with_usage)
    workspace, by_domain["Workspace_Id__c"] = by_domain["Workspace_Id__c"], None
    domain = by_domain["Website"].split("://", 1)[1].removeprefix("www.")
    with psycopg.connect(warehouse) as conn:
        conn.execute("INSERT INTO analytics.accounts VALUES (%s, %s, %s)", (workspace, domain, by_domain["Name"]))

    ctx = context(config, env_for(sandbox, warehouse))
    reports = pull_all(ctx, as_of=ANCHOR)
    assert not [r.error for r in reports if r.error]
    [daily] = [r for r in reports if r.stream == "usage.daily"]
    assert daily.records == len(in_warehouse(warehouse)) and not daily.problems
    assert stored(ctx) == in_warehouse(warehouse)  # every column, maps and units included
    features = evaluate_now(ctx.store, "salesforce", ctx.ruleset, as_of=ANCHOR).features
    [row] = features.filter(features["account"] == by_domain["Id"]).select("workspace_id", "seats_used").to_dicts()
    assert row["workspace_id"] == workspace and row["seats_used"] is not None  # matched by the warehouse's domain
    ctx.close()

    cycle = subprocess.run(
        upsync_cmd(
            "sync",
            "--once",
            "--config",
            str(config),
            "--state",
            str(tmp_path / "cli.db"),
            "--as-of",
            ANCHOR.isoformat(),
        ),
        env=env_for(sandbox, warehouse),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cycle.returncode == 0, cycle.stderr + cycle.stdout
    cli_store = Store.open(str(tmp_path / "cli.db"))
    assert len(cli_store.rows("usage_daily")) == len(in_warehouse(warehouse))
    cli_store.close()


def test_the_next_run_reads_only_rows_loaded_or_changed_since(tmp_path: Path, sandbox: Sandbox, warehouse: str) -> None:
    ctx = context(sql_config(tmp_path, sandbox, readme_config()), env_for(sandbox, warehouse))
    assert pull_usage(ctx).records == len(in_warehouse(warehouse))
    cursor = ctx.store.cursor("usage.daily")
    assert cursor is not None
    later = ANCHOR + timedelta(hours=6)
    with psycopg.connect(warehouse) as conn:
        # rows the first run may read again: its lookback before the saved cursor (committed late)
        lookback = timedelta(seconds=ctx.settings.usage.lookback_seconds if ctx.settings.usage else 0)
        [(again,)] = conn.execute(
            f"SELECT count(*) FROM {TABLE} WHERE loaded_at >= %s", (cursor.last_value - lookback,)
        ).fetchall()
        new = [
            {
                "workspace_id": f"ws-new-{i}",
                "date": "2026-05-31",
                "seats_used": i,
                "updated_at": later + timedelta(hours=i),
            }
            for i in range(1, 4)
        ]
        conn.execute(  # a late correction: two old rows reloaded with new numbers
            f"UPDATE {TABLE} SET seats_active = 999, loaded_at = %s WHERE (account_ref, usage_date) IN "
            f"(SELECT account_ref, usage_date FROM {TABLE} ORDER BY loaded_at LIMIT 2)",
            (ANCHOR + timedelta(hours=1),),
        )
    load(warehouse, new)
    report = pull_usage(ctx, as_of=later + timedelta(hours=6))
    assert report.error is None
    assert report.records == again + 2 + 3  # the lookback's, the two corrected, the three new: nothing else
    assert stored(ctx) == in_warehouse(warehouse)
    assert sum(1 for v in stored(ctx).values() if v[2] == 999) == 2
    ctx.close()


def test_a_row_at_the_window_end_is_read_by_the_next_run(tmp_path: Path, sandbox: Sandbox, warehouse: str) -> None:
    load(warehouse, [{"workspace_id": "ws-edge", "date": "2026-05-31", "seats_used": 7, "updated_at": ANCHOR}])
    ctx = context(sql_config(tmp_path, sandbox, readme_config()), env_for(sandbox, warehouse))
    pull_usage(ctx)
    assert ("ws-edge", "2026-05-31") not in stored(ctx)  # loaded at the run's own moment: the next run's
    pull_usage(ctx, as_of=ANCHOR + timedelta(minutes=15))
    assert stored(ctx) == in_warehouse(warehouse)
    ctx.close()


def test_a_stopped_run_resumes_at_its_last_batch_and_skips_nothing(
    tmp_path: Path, sandbox: Sandbox, warehouse: str
) -> None:
    usage = readme_config().replace('url_env = "USAGE_SQL_URL"', 'url_env = "USAGE_SQL_URL"\nbatch_size = 500')
    ctx = context(sql_config(tmp_path, sandbox, usage), env_for(sandbox, warehouse))
    assert pull_usage(ctx).error is None
    load(
        warehouse,
        [
            {
                "workspace_id": f"ws-late-{i:04d}",
                "date": "2026-06-01",
                "seats_used": i,
                "updated_at": ANCHOR + timedelta(seconds=i),
            }
            for i in range(1200)
        ],
    )
    # SIGTERM while the first batch is stored: the run ends after it
    stopped = pull_usage(ctx, as_of=ANCHOR + timedelta(hours=1), progress=lambda _name: lambda _n: ctx.stop.set())
    assert stopped.stopped and stopped.records == 500
    ctx.stop = threading.Event()
    resumed = pull_usage(ctx, as_of=ANCHOR + timedelta(hours=1))
    assert resumed.error is None and resumed.records < 1200  # from the stored batch on, not from the start
    assert stored(ctx) == in_warehouse(warehouse)
    ctx.close()


def test_a_bad_row_is_named_and_the_rest_is_stored(tmp_path: Path, sandbox: Sandbox, warehouse: str) -> None:
    some = next(iter(sandbox.world.usage.rows))
    with psycopg.connect(warehouse) as conn:
        conn.execute(
            f"UPDATE {TABLE} SET seats_active = -3 WHERE account_ref = %s AND usage_date = %s",
            (some["workspace_id"], some["date"]),
        )
    ctx = context(sql_config(tmp_path, sandbox, readme_config()), env_for(sandbox, warehouse))
    report = pull_usage(ctx)
    where = f"{some['workspace_id']}/{some['date']}"
    assert report.problems == [f"usage.daily record {where}: ValueError: seats_used must not be negative, got -3"]
    assert report.records == len(in_warehouse(warehouse)) - 1
    ctx.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('seats_used = "seats_active"', 'seats_used = "seats_in_use"'),
            "column usage_rows.seats_in_use does not exist",
        ),
        (("FROM analytics.product_usage_daily", "FORM analytics.product_usage_daily"), "syntax error at or near"),
    ],
    ids=["missing-column", "syntax"],
)
def test_a_query_the_database_refuses_is_named_with_its_message(
    tmp_path: Path, sandbox: Sandbox, warehouse: str, change: tuple[str, str], message: str
) -> None:
    ctx = context(sql_config(tmp_path, sandbox, readme_config().replace(*change)), env_for(sandbox, warehouse))
    report = pull_usage(ctx)
    assert report.error is not None and report.error.startswith("usage.daily: usage.sql.query failed: ")
    assert message in report.error and "Traceback" not in report.error
    assert report.hint and "[usage.fields]" in report.hint
    assert ctx.store.cursor("usage.daily") is None  # nothing read, nothing moved
    ctx.close()


def test_a_value_shaped_like_sql_travels_as_a_value(tmp_path: Path, sandbox: Sandbox, warehouse: str) -> None:
    evil = "x'; DROP TABLE analytics.product_usage_daily; --"
    last = ANCHOR - timedelta(minutes=1)  # the highest row: its key becomes the cursor's
    load(warehouse, [{"workspace_id": evil, "date": "2026-05-31", "seats_used": 1, "updated_at": last}])
    ctx = context(sql_config(tmp_path, sandbox, readme_config()), env_for(sandbox, warehouse))
    pull_usage(ctx)
    cursor = ctx.store.cursor("usage.daily")
    assert cursor is not None and cursor.last_key.startswith(evil)
    assert pull_usage(ctx, as_of=ANCHOR + timedelta(hours=1)).error is None  # read again from that cursor
    assert stored(ctx) == in_warehouse(warehouse) and (evil, "2026-05-31") in stored(ctx)  # the table stands
    ctx.close()


def test_an_unreachable_database_is_reported_like_an_unreachable_api_without_its_password(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    url = "postgresql://reader:s3cret-pw@127.0.0.1:1/analytics"
    ctx = context(sql_config(tmp_path, sandbox, readme_config()), env_for(sandbox, url))
    report = pull_usage(ctx)
    assert report.error is not None and report.error.startswith(
        "usage.daily: cannot connect to the usage database at 127.0.0.1:1: "
    )
    assert report.halts_system and "s3cret" not in report.error + (report.hint or "")
    assert report.hint and "USAGE_SQL_URL" in report.hint
    ctx.close()
