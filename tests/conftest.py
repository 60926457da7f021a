"""Shared fixtures: a fresh sandbox world per test and configs that point at it."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Sandbox, start_sandbox
from sandbox.world import build_world

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
"""The sandbox's "today" and the cycles' --as-of: tests run the same on any day."""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    world = build_world(seed=11, accounts=120, anchor=ANCHOR)
    with start_sandbox(world, ca_path=tmp_path / "ca" / "ca.pem") as sb:
        yield sb


def sandbox_env(sb: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()}
    env.update(
        SALESFORCE_TOKEN=sb.world.tokens["salesforce"],
        HUBSPOT_TOKEN=sb.world.tokens["hubspot"],
        USAGE_TOKEN=sb.world.tokens["usage"],
    )
    return env


def write_config(
    directory: Path,
    sb: Sandbox,
    crm: str,
    *,
    every_minutes: int = 15,
    extra: str = "",
    salesforce: str = "",
    hubspot: str = "",
    usage: str = "",
    writeback: str = "first_run_tasks = true",
) -> Path:
    """A config pointing at ``sb``; the keyword strings are TOML lines added to that section.

    Tasks are created from the first run (the flood guard's default holds them back once), so
    that a single cycle shows what it writes; flood-guard tests pass ``writeback=""``. No rule
    has a control group (``control_share = 0``): tests count every ripe account's task; the
    control-group tests set a rule's own share."""
    path = directory / f"config-{crm}.toml"
    path.write_text(
        f"""
[upsync]
crm = "{crm}"
state = "state-{crm}.db"

[schedule]
every_minutes = {every_minutes}
jitter_seconds = 0

[retry]
attempts = 3
initial_seconds = 0.05
max_seconds = 0.2
give_up_after_seconds = 5

[salesforce]
instance_url = "{sb.salesforce.url}"
ca_file = "{sb.ca_path}"
bulk_poll_seconds = 0.05
do_not_contact_field = "Do_Not_Contact__c"
nps_field = "NPS__c"
csat_field = "CSAT__c"
{salesforce}

[hubspot]
base_url = "{sb.hubspot.url}"
ca_file = "{sb.ca_path}"
do_not_contact_property = "do_not_contact"
nps_property = "nps_score"
csat_property = "csat_score"
{hubspot}

[usage]
base_url = "{sb.usage.url}"
ca_file = "{sb.ca_path}"
{usage if "page_size" in usage else "page_size = 1000" + chr(10) + usage}

[writeback]
control_share = 0
{writeback}

[[playbooks]]
id = "seat-expansion"
title = "Seat expansion"
url = "https://playbooks.example.com/seat-expansion"

[[rules]]
id = "seats-near-limit"
signal = "S5"
kind = "upsell"
when = "seat_utilisation >= 80%"
reason = "{{seats_used:.0f}} of {{seat_limit:.0f}} seats in use ({{seat_utilisation:.0%}})"
subject = "Seats at {{seat_utilisation:.0%}} of plan: propose more seats"
playbook = "seat-expansion"
priority = "high"
due_in_days = 3
{extra}
"""
    )
    return path


def upsync_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sync.cli", *args]


POSTGRES = os.environ.get("UPSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""The machine's PostgreSQL (CI has one); each test gets a throw-away database on it."""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import psycopg

    name = f"upsync_it_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES} is not reachable ({exc}); set UPSYNC_TEST_POSTGRES_URL")
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def make_context(
    directory: Path, sb: Sandbox, crm: str, *, state: str | None = None, as_of: datetime = ANCHOR, **sections: Any
) -> Any:
    """A cycle context (real connectors → sandbox) with its clock fixed at ``as_of``."""
    from sync.runner import Context, connect_crm, connect_usage
    from sync.settings import load_settings
    from sync.store import Store

    env = sandbox_env(sb)
    settings = load_settings(write_config(directory, sb, crm, **sections), env)
    return Context(
        settings=settings,
        store=Store.open(state or str(directory / f"state-{crm}.db")),
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=lambda: as_of,
    )
