"""`upsync backfill`: killed (SIGKILL) at random points and restarted, it ends with the same store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import Fault, Sandbox
from sync.store import Store
from tests.conftest import ANCHOR, sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import HS_KINDS, SF_KINDS, assert_store_matches, upsync_tasks

pytestmark = pytest.mark.e2e
READS = {"salesforce": r"/services/data/v[\d.]+/(query|queryAll)", "hubspot": r"/crm/v3/objects/\w+/search"}
VOLATILE = {"synced_at", "seen_pass"}  # when and in which pass a row was written differ by design


def dump(state: Path, crm: str) -> dict[str, dict[str, tuple[Any, ...]]]:
    kinds = SF_KINDS if crm == "salesforce" else HS_KINDS
    with Store.open(str(state)) as store:
        return {
            kind: {
                row["crm_id"]: tuple(sorted((k, str(v)) for k, v in row.items() if k not in VOLATILE))
                for row in store.rows(kind, system=crm)
            }
            for kind in kinds
        }


def backfill(
    crm: str, config: Path, state: Path, env: dict[str, str], log: Path, *, write: bool = False
) -> subprocess.Popen[bytes]:
    """A history load; without ``write`` it stops after the pull (the store is what is compared)."""
    cmd = upsync_cmd("backfill", "--source", crm, "--config", str(config), "--state", str(state))
    cmd += ["--as-of", ANCHOR.isoformat()] + ([] if write else ["--no-write"])
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.parametrize(("crm", "kills"), [("salesforce", 3), ("hubspot", 2)])
def test_a_backfill_killed_at_random_points_ends_with_the_same_store_as_an_uninterrupted_one(
    tmp_path: Path, sandbox: Sandbox, crm: str, kills: int
) -> None:
    if crm == "salesforce":
        sandbox.salesforce.app.state.salesforce.settings.max_batch_size = 200  # type: ignore[attr-defined]
        config = write_config(tmp_path, sandbox, crm, salesforce="page_size = 200")
    else:
        config = write_config(tmp_path, sandbox, crm, hubspot="search_per_second = 5\nrequests_per_10s = 190")
    env = sandbox_env(sandbox)
    log = tmp_path / "backfill.log"

    whole = tmp_path / "uninterrupted.db"
    proc = backfill(crm, config, whole, env, log)
    assert proc.wait(timeout=300) == 0, log.read_text()
    reads = sandbox.services[crm].calls("GET" if crm == "salesforce" else "POST", READS[crm])
    expected = dump(whole, crm)

    rng = random.Random(20261123)
    killed = tmp_path / "killed.db"
    kill_count = 0
    while kill_count < kills:  # each restart is itself killed after a random number of reads
        point = rng.randint(2, max(3, reads // (kills + 1)))
        seen = {"n": 0}
        box: list[subprocess.Popen[bytes]] = []

        def maybe_kill(point: int = point, seen: dict[str, int] = seen, box: list[Any] = box) -> None:
            seen["n"] += 1
            if seen["n"] == point and box:
                os.kill(box[0].pid, signal.SIGKILL)

        sandbox.services[crm].faults.add(Fault(path=READS[crm], after=maybe_kill, times=10**6))
        box.append(backfill(crm, config, killed, env, log))
        code = box[0].wait(timeout=300)
        sandbox.services[crm].faults.clear()
        assert code == -signal.SIGKILL, f"run finished before read {point}: {log.read_text()[-2000:]}"
        kill_count += 1
    final = backfill(crm, config, killed, env, log)
    assert final.wait(timeout=300) == 0, log.read_text()

    assert dump(killed, crm) == expected
    writes = r"/composite/sobjects|/crm/v3/objects/\w+/batch/(create|update)"
    assert sandbox.services[crm].calls(None, writes) == 0  # --no-write: the CRM is only read
    with Store.open(str(killed)) as store:
        assert_store_matches(store, sandbox, crm)
        assert not [name for name in store.cursors() if name.endswith("#backfill")]  # finished, folded in


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_backfill_sets_upsyncs_fields_but_creates_no_task_for_the_past(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    config = write_config(tmp_path, sandbox, crm)  # first_run_tasks = true: only --tasks may create them
    log = tmp_path / "backfill.log"
    proc = backfill(crm, config, tmp_path / "state.db", sandbox_env(sandbox), log, write=True)
    assert proc.wait(timeout=300) == 0, log.read_text()
    tasks = r"/composite/sobjects/Task/|/crm/v3/objects/tasks/batch/create"
    assert sandbox.services[crm].calls(None, tasks) == 0
    assert upsync_tasks(sandbox, crm) == []
    if crm == "salesforce":
        bands = [a.get("Upsync_Health_Band__c") for a in sandbox.world.salesforce.objects["Account"].values()]
    else:
        bands = [c["properties"].get("upsync_health_band") for c in sandbox.world.hubspot.objects["companies"].values()]
    assert sum(b in ("green", "yellow", "red") for b in bands) >= len(bands) // 2
    assert "no tasks for the past" in log.read_text()
