"""kill -9 between the CRM write and the ledger commit, then restart: still exactly one task each."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Fault, Sandbox
from tests.conftest import ANCHOR, sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

pytestmark = pytest.mark.e2e
CREATE = {
    "salesforce": ("PATCH", r"/composite/sobjects/Task/Upsync_Sync_Key__c$"),
    "hubspot": ("POST", r"/crm/v3/objects/tasks/batch/create$"),
}


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_killed_after_the_crm_stored_the_tasks_then_restarted_leaves_exactly_one_task_each(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    config = write_config(tmp_path, sandbox, crm)
    state = tmp_path / "state.db"
    cmd = upsync_cmd("sync", "--once", "--config", str(config), "--state", str(state), "--as-of", ANCHOR.isoformat())
    env = sandbox_env(sandbox)
    proc_box: list[subprocess.Popen[bytes]] = []

    def kill_client() -> None:  # the CRM has stored the batch; the client never hears back
        os.kill(proc_box[0].pid, signal.SIGKILL)
        proc_box[0].wait(timeout=30)

    method, path = CREATE[crm]
    sandbox.services[crm].faults.add(Fault(method=method, path=path, after=kill_client))
    with (tmp_path / "killed.log").open("wb") as log:
        proc_box.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        proc_box[0].wait(timeout=120)
    assert proc_box[0].returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()

    expected = seat_heavy(sandbox, crm)
    assert len(upsync_tasks(sandbox, crm)) == len(expected)  # the CRM got them...
    with sqlite3.connect(state) as conn:  # ...but the ledger never heard back
        states = {row[0] for row in conn.execute("SELECT state FROM ledger")}
    assert states == {"pending"}

    again = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    tasks = upsync_tasks(sandbox, crm)
    assert sorted(t["account"] for t in tasks) == sorted(expected)
    with sqlite3.connect(state) as conn:
        assert {row[0] for row in conn.execute("SELECT state FROM ledger")} == {"confirmed"}
        assert conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == len(expected)


WRITES = {
    ("salesforce", "create"): ("PATCH", r"/composite/sobjects/Task/Upsync_Sync_Key__c$"),
    ("salesforce", "close"): ("PATCH", r"/composite/sobjects$"),  # updates by Id go before fields
    ("salesforce", "fields"): ("PATCH", r"/composite/sobjects$"),
    ("hubspot", "create"): ("POST", r"/crm/v3/objects/tasks/batch/create$"),
    ("hubspot", "close"): ("POST", r"/crm/v3/objects/tasks/batch/update$"),
    ("hubspot", "fields"): ("POST", r"/crm/v3/objects/companies/batch/update$"),
}


def _status(task: dict[str, Any], crm: str) -> str:
    return str(task["raw"]["Status"] if crm == "salesforce" else task["raw"]["properties"]["hs_task_status"])


def _band(sb: Sandbox, crm: str, account: str) -> Any:
    if crm == "salesforce":
        return sb.world.salesforce.objects["Account"][account].get("Upsync_Health_Band__c")
    return sb.world.hubspot.objects["companies"][account]["properties"].get("upsync_health_band")


@pytest.mark.parametrize("op", ["create", "fields", "close"])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_killed_at_each_write_before_or_after_the_crm_acted_then_restarted(
    tmp_path: Path, sandbox: Sandbox, crm: str, when: str, op: str
) -> None:
    """kill -9 while a write is in flight: before the CRM acted on it (the request never
    landed) or after (it landed, the answer never came back). The restart neither loses nor
    repeats anything: tasks exactly once each, fields set, the cleared task closed once."""
    config = write_config(tmp_path, sandbox, crm)
    state = tmp_path / "state.db"
    env = sandbox_env(sandbox)

    def cmd() -> list[str]:  # the sandbox's clock: what this run writes, the next run's pull reads
        time.sleep(0.01)
        now = sandbox.world.now().isoformat()
        return upsync_cmd("sync", "--once", "--config", str(config), "--state", str(state), "--as-of", now)

    expected = seat_heavy(sandbox, crm)
    cleared = None
    if op == "close":
        first = subprocess.run(cmd(), env=env, capture_output=True, timeout=120)
        assert first.returncode == 0, first.stderr.decode()
        cleared = sorted(t["account"] for t in upsync_tasks(sandbox, crm))[0]
        user = next(
            str(uid)
            for uid, u in sandbox.world.salesforce.objects["User"].items()
            if u["IsActive"] and uid != sandbox.world.salesforce.integration_user_id
        )
        if crm == "salesforce":
            sf_sandbox.edit_as_user(sandbox.world, "Account", cleared, {"Seats_Purchased__c": 10_000}, user)
        else:
            hs_sandbox.edit_as_user(sandbox.world, "companies", cleared, {"upsync_seats_purchased": 10_000}, "1")

    proc_box: list[subprocess.Popen[bytes]] = []

    def kill_client() -> None:
        os.kill(proc_box[0].pid, signal.SIGKILL)
        proc_box[0].wait(timeout=30)

    method, path = WRITES[(crm, op)]
    fault = Fault(method=method, path=path, before=kill_client) if when == "before" else None
    fault = fault or Fault(method=method, path=path, after=kill_client)
    sandbox.services[crm].faults.add(fault)
    with (tmp_path / "killed.log").open("wb") as log:
        proc_box.append(subprocess.Popen(cmd(), env=env, stdout=log, stderr=subprocess.STDOUT))
        proc_box[0].wait(timeout=120)
    assert proc_box[0].returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()

    again = subprocess.run(cmd(), env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode() + again.stdout.decode()
    tasks = upsync_tasks(sandbox, crm)
    assert sorted(t["account"] for t in tasks) == sorted(expected)  # each exactly once, none lost
    assert len({t["key"] for t in tasks}) == len(tasks)
    with sqlite3.connect(state) as conn:
        assert {row[0] for row in conn.execute("SELECT state FROM ledger")} == {"confirmed"}
        assert not conn.execute("SELECT count(*) FROM field_ledger WHERE state != 'confirmed'").fetchone()[0]
    assert all(_band(sandbox, crm, account) in ("green", "yellow", "red") for account in expected)
    if cleared is not None:
        statuses = {t["account"]: _status(t, crm) for t in tasks}
        assert statuses.pop(cleared) in ("Completed", "COMPLETED")
        assert set(statuses.values()) <= {"Not Started", "NOT_STARTED"}
