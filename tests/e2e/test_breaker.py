"""The circuit breaker and stale inputs, as an operator meets them: most companies archived at once,
a usage API down for days. Nothing is written from either until a person has looked."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.hubspot.edits import archive
from sandbox.server import Fault, Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import upsync_tasks
from tests.e2e.test_observe import Receiver, receiver

pytestmark = pytest.mark.e2e
__all__ = ["receiver"]  # the webhook receiver fixture, shared with the observability tests

HELD = 4  # the exit code of a cycle the breaker held


def _run(sandbox: Sandbox, config: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    time.sleep(0.01)
    now = sandbox.world.now().isoformat()
    cmd = upsync_cmd(*args, "--config", str(config), "--state", str(state), "--as-of", now)
    return subprocess.run(cmd, env=sandbox_env(sandbox), capture_output=True, text=True, timeout=300)


def _open_tasks(sandbox: Sandbox) -> set[str]:
    tasks = upsync_tasks(sandbox, "hubspot")
    return {t["key"] for t in tasks if t["raw"]["properties"]["hs_task_status"] != "COMPLETED"}


def _runs(state: Path) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(state) as conn:
        rows = conn.execute("SELECT status, summary FROM runs ORDER BY id").fetchall()
    return [(status, json.loads(summary)) for status, summary in rows]


def test_most_companies_archived_at_once_hold_the_cycle_until_a_person_confirms(
    tmp_path: Path, sandbox: Sandbox, receiver: Receiver
) -> None:
    alerts = f'\n[alerts]\nwebhook_url = "{receiver.url}"'
    config = write_config(tmp_path, sandbox, "hubspot", hubspot="deletes_every_hours = 1", extra=alerts)
    state = tmp_path / "state.db"
    first = _run(sandbox, config, state, "sync", "--once", "--tasks")
    assert first.returncode == 0, first.stderr
    opened = _open_tasks(sandbox)
    assert opened

    companies = sorted(sandbox.world.hubspot.objects["companies"])
    gone = companies[: len(companies) * 5 // 6]  # an import gone wrong archives most of the portal
    for company in gone:
        archive(sandbox.world, "companies", company)
    sandbox.world.anchor += timedelta(hours=2)  # the deletes are listed hourly

    held = _run(sandbox, config, state, "sync", "--once")
    assert held.returncode == HELD, held.stderr + held.stdout
    assert "held" in held.stdout and f"{len(gone)} accounts deleted or archived" in held.stdout
    assert "upsync apply --confirm" in held.stdout + held.stderr
    assert _open_tasks(sandbox) == opened  # not one task closed, not one field moved
    [alert] = receiver.received  # the person who must look is told
    assert alert["event"] == "held" and f"{len(gone)} accounts deleted or archived" in alert["summary"]

    again = _run(sandbox, config, state, "sync", "--once")  # the deletes are old news now: still held
    assert again.returncode == HELD and _open_tasks(sandbox) == opened
    assert [status for status, _ in _runs(state)] == ["ok", "held", "held"]

    confirmed = _run(sandbox, config, state, "apply", "--confirm")
    assert confirmed.returncode == 0, confirmed.stderr + confirmed.stdout
    still_open = _open_tasks(sandbox)
    assert still_open < opened  # the archived accounts' tasks are closed once a person said so
    after = _run(sandbox, config, state, "sync", "--once")
    assert after.returncode == 0, after.stderr + after.stdout
    assert [status for status, _ in _runs(state)][-2:] == ["ok", "ok"]


GONE_QUIET = """
[[rules]]
id = "gone-quiet"
kind = "save"
when = "is_customer and days_since(usage_day) >= 7"
playbook = "seat-expansion"
guards = []

[breaker]
enabled = false  # ten days of fields catching up at once would trip the volume check: not this test's subject
"""
"""A save rule that reads usage: on stale usage every customer looks gone quiet."""


def test_a_usage_api_down_for_days_holds_the_rules_that_read_usage(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot", extra=GONE_QUIET, writeback="owner_weekly_budget = 1000")
    state = tmp_path / "state.db"
    first = _run(sandbox, config, state, "sync", "--once", "--tasks")
    assert first.returncode == 0, first.stderr
    opened = _open_tasks(sandbox)
    assert opened

    sandbox.usage.faults.add(Fault(path=".", status=503, times=100_000))
    sandbox.world.anchor += timedelta(days=10)  # ten days without usage: every customer looks gone quiet
    down = _run(sandbox, config, state, "sync", "--once")
    assert down.returncode == 1, down.stderr  # the usage pull failed, and says so
    assert "rule gone-quiet held: stale input: usage last pulled successfully" in down.stdout
    assert _open_tasks(sandbox) == opened  # old usage neither closed a task nor wrote a save task
    status, summary = _runs(state)[-1]
    assert status == "errors" and set(summary["held_rules"]) == {"seats-near-limit", "gone-quiet"}

    sandbox.usage.faults.clear()
    back = _run(sandbox, config, state, "sync", "--once")
    assert back.returncode == 0, back.stderr + back.stdout
    assert _runs(state)[-1][1]["held_rules"] == {}
