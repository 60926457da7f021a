"""What HubSpot answers to a batch of task writes, and what upsync records of it: a refusal named only
by its place in the batch, an answer that leaves items out, and credentials refused at the door."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Fault, Sandbox
from tests.conftest import sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

pytestmark = pytest.mark.e2e

CREATE = r"/crm/v3/objects/tasks/batch/create$"


def _sync(sandbox: Sandbox, config: Path, state: Path) -> subprocess.CompletedProcess[str]:
    time.sleep(0.01)
    now = sandbox.world.now().isoformat()
    cmd = upsync_cmd("sync", "--once", "--tasks", "--config", str(config), "--state", str(state), "--as-of", now)
    return subprocess.run(cmd, env=sandbox_env(sandbox), capture_output=True, text=True, timeout=300)


def _ledger(state: Path) -> list[tuple[str, int, str | None]]:
    with sqlite3.connect(state) as conn:
        return conn.execute("SELECT state, attempts, last_error FROM ledger ORDER BY key").fetchall()


def _multi_status(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A 207 as HubSpot's batch create sends it (results for what was created, errors for the rest)."""
    now = "2026-06-01T12:00:00.000Z"
    return {
        "status": "COMPLETE",
        "results": [],
        "numErrors": len(errors),
        "errors": errors,
        "startedAt": now,
        "completedAt": now,
    }


def test_a_refusal_named_only_by_its_input_index_keeps_its_reason(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    errors = [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": f"Property values were not valid: hs_task_subject of input {i}",
            "context": {"inputIndex": [str(i)]},
        }
        for i in range(100)
    ]
    sandbox.hubspot.faults.add(Fault(method="POST", path=CREATE, status=207, body=_multi_status(errors)))
    state = tmp_path / "state.db"
    run = _sync(sandbox, config, state)
    ledger = _ledger(state)
    assert ledger and {row[0] for row in ledger} == {"failed"}, run.stdout
    assert all(row[2] and row[2].startswith("VALIDATION_ERROR: Property values were not valid") for row in ledger)
    assert f"{len(ledger)} refused, 0 unconfirmed" in run.stdout


def test_an_answer_that_leaves_items_out_is_an_error_like_a_timeout(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    sandbox.hubspot.faults.add(Fault(method="POST", path=CREATE, status=207, body=_multi_status([])))
    state = tmp_path / "state.db"
    run = _sync(sandbox, config, state)
    assert run.returncode == 1, run.stdout  # as after a batch that timed out: someone should know
    assert "task writes unconfirmed: looked up by key on the next run" in run.stdout + run.stderr
    assert {row[0] for row in _ledger(state)} == {"unknown"}

    again = _sync(sandbox, config, state)
    assert again.returncode == 0, again.stdout + again.stderr
    tasks = upsync_tasks(sandbox, "hubspot")
    assert sorted(t["account"] for t in tasks) == sorted(seat_heavy(sandbox, "hubspot"))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
        ),
        (
            403,
            {
                "status": "error",
                "message": "This app hasn't been granted all required scopes to make this call.",
                "category": "MISSING_SCOPES",
                "errors": [
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["crm.objects.tasks.write"]},
                    }
                ],
            },
        ),
    ],
)
def test_credentials_refused_on_a_write_are_recorded_as_refused_and_stop_the_writes(
    tmp_path: Path, sandbox: Sandbox, status: int, body: dict[str, Any]
) -> None:
    config = write_config(tmp_path, sandbox, "hubspot")
    sandbox.hubspot.faults.add(Fault(method="POST", path=CREATE, status=status, body=body))
    state = tmp_path / "state.db"
    run = _sync(sandbox, config, state)
    assert run.returncode == 1, run.stdout
    ledger = _ledger(state)
    assert ledger and {row[0] for row in ledger} == {"failed"}  # refused, not "unconfirmed": nothing to look up
    assert {row[1] for row in ledger} == {0}  # and not counted against the task
    assert not upsync_tasks(sandbox, "hubspot")

    again = _sync(sandbox, config, state)  # the admin fixed the app's scopes
    assert again.returncode == 0, again.stdout + again.stderr
    tasks = upsync_tasks(sandbox, "hubspot")
    assert sorted(t["account"] for t in tasks) == sorted(seat_heavy(sandbox, "hubspot"))
    assert {row[0] for row in _ledger(state)} == {"confirmed"}
