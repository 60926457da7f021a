"""One cycle end to end through simple-salesforce and hubspot-api-client over HTTPS to the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import make_clock
from core.records import LedgerState
from sandbox.server import Sandbox
from sync.runner import Context, connect_crm, connect_usage, run_cycle
from sync.settings import load_settings
from sync.store import Store
from tests.conftest import ANCHOR, sandbox_env, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

pytestmark = pytest.mark.e2e
CREATE_PATH = {"salesforce": r"/composite/sobjects/Task/", "hubspot": r"/crm/v3/objects/tasks/batch/create"}


def context(tmp_path: Path, sb: Sandbox, crm: str, state: str | None = None) -> Context:
    env = sandbox_env(sb)
    settings = load_settings(write_config(tmp_path, sb, crm), env)
    return Context(
        settings=settings,
        store=Store.open(state or str(tmp_path / f"state-{crm}.db")),
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=make_clock(ANCHOR.isoformat()),
    )


@pytest.mark.parametrize(
    ("crm", "backend"), [("salesforce", None), ("hubspot", None), ("hubspot", "postgresql")], ids=["sf", "hs", "hs-pg"]
)
def test_two_cycles_write_exactly_one_task_per_matching_account(
    tmp_path: Path, sandbox: Sandbox, crm: str, backend: str | None, request: pytest.FixtureRequest
) -> None:
    expected = seat_heavy(sandbox, crm)
    assert 5 <= len(expected) < 60  # the world has something to find, and guards hold some of it back

    ctx = context(tmp_path, sandbox, crm, state=request.getfixturevalue("postgres_url") if backend else None)
    first = run_cycle(ctx)
    assert first.ok, first.summary()
    tasks = upsync_tasks(sandbox, crm)
    assert sorted(t["account"] for t in tasks) == sorted(expected)
    assert all(t["owner"] == expected[t["account"]]["owner"] for t in tasks)
    assert len({t["key"] for t in tasks}) == len(tasks)
    assert first.applied is not None and first.applied.created == len(expected)

    creates_before = sandbox.services[crm].calls(None, CREATE_PATH[crm])
    second = run_cycle(ctx)
    assert second.ok
    assert len(upsync_tasks(sandbox, crm)) == len(expected)
    assert second.plan.writes == ()
    assert sandbox.services[crm].calls(None, CREATE_PATH[crm]) == creates_before  # nothing written at all
    assert {e.state for e in ctx.store.ledger(crm).values()} == {LedgerState.confirmed}
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_task_says_why_with_the_values_due_date_priority_and_playbook(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    ctx = context(tmp_path, sandbox, crm)
    run_cycle(ctx)
    expected = seat_heavy(sandbox, crm)
    task = upsync_tasks(sandbox, crm)[0]
    facts = expected[task["account"]]
    raw = task["raw"]
    if crm == "salesforce":
        subject, body, due, priority = raw["Subject"], raw["Description"], raw["ActivityDate"], raw["Priority"]
        assert (raw["Status"], priority) == ("Not Started", "High")
    else:
        p = raw["properties"]
        subject, body, due, priority = (
            p["hs_task_subject"],
            p["hs_task_body"],
            p["hs_timestamp"][:10],
            p["hs_task_priority"],
        )
        assert (p["hs_task_status"], priority) == ("NOT_STARTED", "HIGH")
    assert subject == f"Seats at {facts['used'] / facts['limit']:.0%} of plan: propose more seats"
    assert f"{facts['used']} of {facts['limit']} seats in use" in body
    assert "https://playbooks.example.com/seat-expansion" in body
    assert due == "2026-06-04"  # as of 2026-06-01 + due_in_days 3
    # in a rep's words: the values by their labels, the owner by name and role (expansion: CIS, played
    # by the account owner while [routing.roles.cis] names no pool)
    assert f"seat use: {facts['used'] / facts['limit']:.0%}" in body and "seat_utilisation" not in body
    [name] = [r["name"] for r in ctx.store.rows("owners") if r["crm_id"] == facts["owner"]]
    assert name and f"Owner: {name} (customer inside sales)" in body.replace("&#x27;", "'")
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_cycle_pulls_every_account_and_usage_row_into_the_store(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    ctx = context(tmp_path, sandbox, crm)
    report = run_cycle(ctx)
    counts = ctx.store.counts()
    assert counts["accounts"] == 120
    assert counts["usage_daily"] == len(sandbox.world.usage.rows)
    assert {p.stream: p.records for p in report.pulls}[
        f"{crm}.{'accounts' if crm == 'salesforce' else 'companies'}"
    ] == 120
    cursors = ctx.store.cursors()
    assert all(c.last_value <= ANCHOR for c in cursors.values())
    ctx.close()


def test_a_dry_run_plans_but_writes_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = context(tmp_path, sandbox, "hubspot")
    ctx.dry_run = True
    report = run_cycle(ctx)
    assert len(report.plan.creates) == len(seat_heavy(sandbox, "hubspot"))
    assert upsync_tasks(sandbox, "hubspot") == []
    assert ctx.store.ledger("hubspot") == {}
    ctx.close()
