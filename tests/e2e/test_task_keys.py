"""Upgrading to readable task keys on both CRMs: tasks an older upsync wrote under its hash keys
are the same tasks after the upgrade, never created a second time, and still closed when their
signal clears; new tasks carry keys an admin can read."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from rules.plan import legacy_key, parse_key
from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Sandbox
from sync.runner import Context, run_cycle
from tests.e2e.expect import seat_heavy, upsync_tasks
from tests.e2e.test_writeback import a_person, context, edit_account, task_status

pytestmark = pytest.mark.e2e


def complete_task(sb: Sandbox, crm: str, task: dict[str, Any], user: str) -> None:
    if crm == "salesforce":
        sf_sandbox.edit_as_user(sb.world, "Task", task["raw"]["Id"], {"Status": "Completed"}, user)
    else:
        hs_sandbox.edit_as_user(sb.world, "tasks", task["raw"]["id"], {"hs_task_status": "COMPLETED"}, user)


def written_by_the_old_version(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """One cycle as upsync wrote it before readable keys: every task keyed by the old hash, through
    the real clients, into the CRM and the ledger."""
    with monkeypatch.context() as m:
        m.setattr("rules.plan.tasks.op_key", legacy_key)
        first = run_cycle(ctx)
    assert first.ok and first.applied is not None and first.applied.created > 0, first.summary()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_tasks_written_under_old_keys_are_not_duplicated_and_still_close_after_the_upgrade(
    tmp_path: Path, sandbox: Sandbox, crm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(tmp_path, sandbox, crm)
    written_by_the_old_version(ctx, monkeypatch)
    old = {t["key"]: t for t in upsync_tasks(sandbox, crm)}
    assert sorted(t["account"] for t in old.values()) == sorted(seat_heavy(sandbox, crm))
    assert all(len(k) == 40 and parse_key(k) is None for k in old)
    time.sleep(0.01)

    # a rep completes one task: its signal still holds, and this period already had its task
    done, cleared = sorted(old.values(), key=lambda t: str(t["account"]))[:2]
    complete_task(sandbox, crm, done, a_person(sandbox, crm))
    time.sleep(0.01)

    upgraded = run_cycle(ctx)
    assert upgraded.ok and upgraded.applied is not None, upgraded.summary()
    assert upgraded.plan.creates == () and upgraded.applied.created == 0
    assert {t["key"] for t in upsync_tasks(sandbox, crm)} == set(old)  # one task each, under its old key

    edit_account(sandbox, crm, cleared["account"], {"seats": 10_000}, a_person(sandbox, crm))
    time.sleep(0.01)
    third = run_cycle(ctx)
    assert third.ok and third.applied is not None and third.applied.closed == 1, third.summary()
    after = {t["key"]: t for t in upsync_tasks(sandbox, crm)}
    assert task_status(after[cleared["key"]], crm) in ("Completed", "COMPLETED") and set(after) == set(old)
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_lost_state_after_the_upgrade_adopts_old_key_tasks_instead_of_creating_them_again(
    tmp_path: Path, sandbox: Sandbox, crm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
    old_ctx = context(tmp_path / "old", sandbox, crm)
    written_by_the_old_version(old_ctx, monkeypatch)
    old_ctx.close()
    old = {t["key"] for t in upsync_tasks(sandbox, crm)}
    time.sleep(0.01)

    fresh = context(tmp_path / "new", sandbox, crm)  # a new state: no ledger at all
    cycle = run_cycle(fresh)
    assert cycle.ok and cycle.applied is not None, cycle.summary()
    assert cycle.plan.creates == () and {a.key for a in cycle.plan.adopted} == old
    assert {t["key"] for t in upsync_tasks(sandbox, crm)} == old
    fresh.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_new_installation_writes_keys_naming_rule_account_and_period(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    ctx = context(tmp_path, sandbox, crm)
    assert run_cycle(ctx).ok
    tasks = upsync_tasks(sandbox, crm)
    assert tasks
    period = f"{sandbox.world.now():%Y-%m}"
    assert {t["key"] for t in tasks} == {f"seats-near-limit|{t['account']}|{period}" for t in tasks}
    ctx.close()
