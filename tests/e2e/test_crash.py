"""kill -9 between the CRM write and the ledger commit, then restart: still exactly one task each."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

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
