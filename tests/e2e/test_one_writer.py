"""One writer, never a duplicate: two processes on one state, a lost state, a kill mid-batch of 100,
a search that lags the CRM's writes, and runs that died without finishing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Fault, Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

pytestmark = pytest.mark.e2e

CREATE = {
    "salesforce": ("PATCH", r"/composite/sobjects/Task/Upsync_Sync_Key__c$"),
    "hubspot": ("POST", r"/crm/v3/objects/tasks/batch/create$"),
}
EVERY_CUSTOMER = """
[[rules]]
id = "every-customer"
kind = "upsell"
when = "is_customer"
playbook = "seat-expansion"
guards = []
"""
"""A rule that fires on every customer: enough tasks to fill a whole batch of 100."""


def _sync(sandbox: Sandbox, config: Path, state: str) -> list[str]:
    """One cycle as of the stand-ins' clock: what a run writes, the next run's pull reads back."""
    time.sleep(0.01)
    now = sandbox.world.now().isoformat()
    return upsync_cmd("sync", "--once", "--tasks", "--config", str(config), "--state", state, "--as-of", now)


def _unique(tasks: list[dict[str, Any]]) -> None:
    keys = [t["key"] for t in tasks]
    assert len(keys) == len(set(keys)), f"{len(keys) - len(set(keys))} duplicate tasks"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_on_one_state_write_each_task_once(
    tmp_path: Path, sandbox: Sandbox, backend: str, request: pytest.FixtureRequest
) -> None:
    state = str(tmp_path / "state.db") if backend == "sqlite" else str(request.getfixturevalue("postgres_url"))
    config = write_config(tmp_path, sandbox, "hubspot")
    env = sandbox_env(sandbox)
    cmd = _sync(sandbox, config, state)
    first, second = (subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab")
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [r[1].decode()[-2000:] for r in results]
    tasks = upsync_tasks(sandbox, "hubspot")
    _unique(tasks)
    assert sorted(t["account"] for t in tasks) == sorted(seat_heavy(sandbox, "hubspot"))


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_lost_state_finds_the_crms_tasks_and_creates_none_twice(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    config = write_config(tmp_path, sandbox, crm)
    env = sandbox_env(sandbox)
    state = tmp_path / "state.db"
    assert subprocess.run(_sync(sandbox, config, str(state)), env=env, capture_output=True, timeout=300).returncode == 0
    written = sorted(t["key"] for t in upsync_tasks(sandbox, crm))
    assert written

    for leftover in tmp_path.glob("state.db*"):  # the state is lost: a disk, a bad restore, a new host
        leftover.unlink()
    again = subprocess.run(_sync(sandbox, config, str(state)), env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()
    tasks = upsync_tasks(sandbox, crm)
    _unique(tasks)
    assert sorted(t["key"] for t in tasks) == written
    with sqlite3.connect(state) as conn:  # the new state knows them as upsync's
        rows = dict(conn.execute("SELECT key, state FROM ledger").fetchall())
    assert set(written) <= set(rows) and {rows[k] for k in written} == {"confirmed"}


def _kill_after_the_first_create(sandbox: Sandbox, crm: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
    box: list[subprocess.Popen[bytes]] = []

    def kill_client() -> None:  # the CRM stored the batch; the client never hears back
        os.kill(box[0].pid, signal.SIGKILL)
        box[0].wait(timeout=30)

    method, path = CREATE[crm]
    sandbox.services[crm].faults.add(Fault(method=method, path=path, after=kill_client))
    with log.open("wb") as out:
        box.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))
        box[0].wait(timeout=300)
    assert box[0].returncode == -signal.SIGKILL, log.read_text()


def test_a_kill_after_a_full_batch_of_100_is_reconciled_in_lookups_that_fit_the_search_limits(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = write_config(tmp_path, sandbox, "hubspot", extra=EVERY_CUSTOMER, writeback="owner_weekly_budget = 1000")
    env = sandbox_env(sandbox)
    state = tmp_path / "state.db"
    _kill_after_the_first_create(sandbox, "hubspot", _sync(sandbox, config, str(state)), env, tmp_path / "killed.log")
    with sqlite3.connect(state) as conn:
        pending = conn.execute("SELECT count(*) FROM ledger WHERE state = 'pending'").fetchone()[0]
    assert pending == 100  # one whole batch landed unconfirmed: one search for it would be too long

    again = subprocess.run(_sync(sandbox, config, str(state)), env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode() + again.stdout.decode()
    tasks = upsync_tasks(sandbox, "hubspot")
    _unique(tasks)
    with sqlite3.connect(state) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM ledger GROUP BY state").fetchall())
    assert states == {"confirmed": len(tasks)} and len(tasks) > 100


def test_a_write_whose_answer_was_lost_is_found_although_search_has_not_caught_up(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    hubspot: Any = sandbox.hubspot.app
    hubspot.state.search_lag_seconds = 3600  # nothing written this hour is searchable yet
    config = write_config(tmp_path, sandbox, "hubspot")
    env = sandbox_env(sandbox)
    state = tmp_path / "state.db"
    _kill_after_the_first_create(sandbox, "hubspot", _sync(sandbox, config, str(state)), env, tmp_path / "killed.log")
    landed = len(upsync_tasks(sandbox, "hubspot"))

    again = subprocess.run(_sync(sandbox, config, str(state)), env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()
    tasks = upsync_tasks(sandbox, "hubspot")
    _unique(tasks)
    assert len(tasks) == landed == len(seat_heavy(sandbox, "hubspot"))


def test_a_run_killed_mid_cycle_is_marked_killed_and_the_next_one_completes(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "salesforce")
    env = sandbox_env(sandbox)
    state = tmp_path / "state.db"
    _kill_after_the_first_create(
        sandbox, "salesforce", _sync(sandbox, config, str(state)), env, tmp_path / "killed.log"
    )
    with sqlite3.connect(state) as conn:
        assert [r[0] for r in conn.execute("SELECT status FROM runs")] == ["running"]

    again = subprocess.run(_sync(sandbox, config, str(state)), env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()
    with sqlite3.connect(state) as conn:
        assert [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")] == ["killed", "ok"]
    status = subprocess.run(
        upsync_cmd("status", "--config", str(config), "--state", str(state)), env=env, capture_output=True
    )
    assert status.returncode == 0 and b"killed" in status.stdout


def test_replicas_opening_one_new_postgres_state_at_once_both_start(tmp_path: Path, postgres_url: str) -> None:
    script = (
        "import sys; from sync.store import Store; s = Store.open(sys.argv[1]); print(s.schema_version()); s.close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, postgres_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1].decode()[-1500:] for o in outs]
    assert len({o[0] for o in outs}) == 1
