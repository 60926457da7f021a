"""Write-back end to end on both CRMs, through the real clients over HTTPS to the sandbox: what a
rep sees (tasks, fields) and what upsync must never do (duplicate, overwrite a person, flood)."""

from __future__ import annotations

import json
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from core.records import LedgerState
from rules.plan import op_key, period_of
from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Sandbox
from sync.runner import Context, connect_crm, connect_usage, run_cycle
from sync.settings import load_settings
from sync.store import Store
from tests.conftest import ANCHOR, sandbox_env, upsync_cmd, write_config
from tests.e2e.expect import seat_heavy, upsync_tasks

pytestmark = pytest.mark.e2e
WRITE_PATHS = {
    "salesforce": ("PATCH", r"/composite/sobjects"),
    "hubspot": ("POST", r"/crm/v3/objects/(tasks|companies)/batch/(create|update)$"),
}


def context(tmp_path: Path, sb: Sandbox, crm: str, writeback: str = "first_run_tasks = true") -> Context:
    """A context whose clock is the sandbox's (anchor + real time elapsed), so that what upsync
    writes is read back by the next cycle's pull, as in production."""
    env = sandbox_env(sb)
    settings = load_settings(write_config(tmp_path, sb, crm, writeback=writeback), env)
    return Context(
        settings=settings,
        store=Store.open(str(tmp_path / f"state-{crm}.db")),
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=sb.world.now,
    )


def writes(sb: Sandbox, crm: str) -> int:
    method, path = WRITE_PATHS[crm]
    return sb.services[crm].calls(method, path)


def account_field(sb: Sandbox, crm: str, account: str, name: str) -> Any:
    if crm == "salesforce":
        field = {"health_score": "Upsync_Health_Score__c", "health_band": "Upsync_Health_Band__c"}[name]
        return sb.world.salesforce.objects["Account"][account].get(field)
    return sb.world.hubspot.objects["companies"][account]["properties"].get(f"upsync_{name}")


def edit_task(sb: Sandbox, crm: str, task: dict[str, Any], user: str) -> None:
    if crm == "salesforce":
        sf_sandbox.edit_as_user(sb.world, "Task", task["raw"]["Id"], {"Subject": "Call Ken first"}, user)
    else:
        hs_sandbox.edit_as_user(sb.world, "tasks", task["raw"]["id"], {"hs_task_subject": "Call Ken first"}, user)


def edit_account(sb: Sandbox, crm: str, account: str, values: dict[str, Any], user: str) -> None:
    if crm == "salesforce":
        names = {
            "health_band": "Upsync_Health_Band__c",
            "seats": "Seats_Purchased__c",
        }
        sf_sandbox.edit_as_user(sb.world, "Account", account, {names[k]: v for k, v in values.items()}, user)
    else:
        names = {"health_band": "upsync_health_band", "seats": "upsync_seats_purchased"}
        hs_sandbox.edit_as_user(sb.world, "companies", account, {names[k]: v for k, v in values.items()}, user)


def a_person(sb: Sandbox, crm: str) -> str:
    """An active user who is not upsync's integration user: a rep."""
    if crm == "salesforce":
        users = sb.world.salesforce.objects["User"]
        api = sb.world.salesforce.integration_user_id
        return next(str(uid) for uid, u in users.items() if u["IsActive"] and uid != api)
    return str(next(iter(sb.world.hubspot.objects["owners"].values()))["userId"])


def task_status(task: dict[str, Any], crm: str) -> str:
    return str(task["raw"]["Status"] if crm == "salesforce" else task["raw"]["properties"]["hs_task_status"])


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_first_run_sets_fields_only_then_tasks_then_nothing_when_nothing_changed(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    ctx = context(tmp_path, sandbox, crm, writeback="")
    expected = seat_heavy(sandbox, crm)

    first = run_cycle(ctx)
    assert first.ok, first.summary()
    assert first.applied is not None and first.applied.created == 0 and upsync_tasks(sandbox, crm) == []
    assert first.applied.fields >= len(expected)
    assert "first run" in first.tasks_held
    some = next(iter(expected))
    assert account_field(sandbox, crm, some, "health_band") in ("green", "yellow", "red")

    second = run_cycle(ctx)
    assert second.ok and second.applied is not None
    assert sorted(t["account"] for t in upsync_tasks(sandbox, crm)) == sorted(expected)

    before = writes(sandbox, crm)
    third = run_cycle(ctx)
    assert third.ok and third.plan.empty, third.summary()
    assert writes(sandbox, crm) == before  # nothing changed: not one write call
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_cleared_signal_closes_only_upsyncs_untouched_task_and_people_are_left_alone(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    ctx = context(tmp_path, sandbox, crm)
    assert run_cycle(ctx).ok
    tasks = sorted(upsync_tasks(sandbox, crm), key=lambda t: str(t["account"]))
    assert len(tasks) >= 3
    rep = a_person(sandbox, crm)
    edited, untouched, field_account = tasks[0], tasks[1], tasks[2]["account"]

    # A rep edits one task; both tasks' signals clear (the customers bought more seats);
    # a rep overrides upsync's health band on a third account.
    edit_task(sandbox, crm, edited, rep)
    for t in (edited, untouched):
        edit_account(sandbox, crm, t["account"], {"seats": 10_000}, rep)
    edit_account(sandbox, crm, field_account, {"health_band": "watch: exec sponsor left"}, rep)
    time.sleep(0.01)  # a cycle starting in the same millisecond reads these edits only next time

    second = run_cycle(ctx)
    assert second.ok, second.summary()
    after = {t["key"]: t for t in upsync_tasks(sandbox, crm)}
    assert task_status(after[untouched["key"]], crm) in ("Completed", "COMPLETED")
    assert task_status(after[edited["key"]], crm) in ("Not Started", "NOT_STARTED")
    subject = after[edited["key"]]["raw"]["Subject" if crm == "salesforce" else "properties"]
    assert "Call Ken first" in (subject if isinstance(subject, str) else subject["hs_task_subject"])
    assert account_field(sandbox, crm, field_account, "health_band") == "watch: exec sponsor left"
    assert second.applied is not None and second.applied.closed == 1

    ledger = ctx.store.ledger(crm)
    assert "upsync leaves this task alone" in (ledger[edited["key"]].held or "")
    assert ledger[untouched["key"]].closed_at is not None
    held = [h for h in second.plan.holds if h.kind == "field"]
    assert [(h.account_id, h.target) for h in held] == [(field_account, "health_band")]

    third = run_cycle(ctx)  # the holds persist: still nothing written over the person
    assert third.ok and third.plan.updates == () and not [f for f in third.plan.fields if f.account_id == field_account]
    assert account_field(sandbox, crm, field_account, "health_band") == "watch: exec sponsor left"
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_owner_budget_caps_tasks_per_owner_and_week(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    ctx = context(tmp_path, sandbox, crm, writeback="first_run_tasks = true\nowner_weekly_budget = 1")
    report = run_cycle(ctx)
    assert report.ok
    owners = [t["owner"] for t in upsync_tasks(sandbox, crm)]
    assert owners and len(owners) == len(set(owners))  # one each
    assert any("budget" in s.reason for s in report.plan.skipped)
    again = run_cycle(ctx)  # same week: the budget is still spent
    assert again.applied is not None and again.applied.created == 0
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_plan_prints_what_apply_then_writes(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    config = write_config(tmp_path, sandbox, crm)
    env = sandbox_env(sandbox)
    state = str(tmp_path / "state.db")
    common = ["--config", str(config), "--state", state, "--as-of", ANCHOR.isoformat()]
    pulled = subprocess.run(
        upsync_cmd("sync", "--once", "--dry-run", *common), env=env, capture_output=True, timeout=180
    )
    assert pulled.returncode == 0, pulled.stderr.decode()
    assert upsync_tasks(sandbox, crm) == []

    planned = subprocess.run(upsync_cmd("plan", "--json", *common), env=env, capture_output=True, timeout=120)
    assert planned.returncode == 0, planned.stderr.decode()
    plan = json.loads(planned.stdout)
    keys = sorted(t["key"] for t in plan["create"])
    assert keys and all(t["provenance"]["rule_hash"] for t in plan["create"])
    assert plan["fields"] and all("as_of" in f["values"] for f in plan["fields"])

    human = subprocess.run(upsync_cmd("plan", *common), env=env, capture_output=True, timeout=120)
    assert human.returncode == 0 and b"by rule and owner" in human.stdout

    applied = subprocess.run(upsync_cmd("apply", *common), env=env, capture_output=True, timeout=120)
    assert applied.returncode == 0, applied.stderr.decode() + applied.stdout.decode()
    assert sorted(t["key"] for t in upsync_tasks(sandbox, crm)) == keys

    after = subprocess.run(upsync_cmd("plan", "--json", *common), env=env, capture_output=True, timeout=120)
    assert json.loads(after.stdout)["create"] == [] and json.loads(after.stdout)["fields"] == []


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_crm_check_passes_on_a_prepared_crm(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    config = write_config(tmp_path, sandbox, crm)
    env = sandbox_env(sandbox)
    verb = "setup" if crm == "hubspot" else "check"
    done = subprocess.run(upsync_cmd("crm", verb, "--config", str(config)), env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert b"ready" in done.stdout


def test_ledger_states_after_a_clean_cycle(tmp_path: Path, sandbox: Sandbox) -> None:
    ctx = context(tmp_path, sandbox, "salesforce")
    assert run_cycle(ctx).ok
    entries = ctx.store.ledger("salesforce")
    assert entries and {e.state for e in entries.values()} == {LedgerState.confirmed}
    assert all(e.owner_id and e.body and e.provenance for e in entries.values())
    ctx.close()


def tags_in(markup: str) -> set[str]:
    """Every element an HTML parser finds, with any attribute but a link's href counted as a tag."""
    found: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.add(tag)
            found.update(f"{tag}[{name}]" for name, _ in attrs if not (tag == "a" and name == "href"))

    Collect().feed(markup)
    return found


HOSTILE = (
    "<script>alert('x')</script><img src=x onerror=alert(1)> O'Brien \\' OR 1=1 -- "
    "株式会社テスト شركة 👩‍👩‍👧 " + "Ω" * 100_000
)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_hostile_account_data_renders_safely_within_the_crms_limits(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    target = sorted(seat_heavy(sandbox, crm))[0]
    if crm == "salesforce":
        sandbox.world.salesforce.objects["Account"][target]["Name"] = HOSTILE
    else:
        sandbox.world.hubspot.objects["companies"][target]["properties"]["name"] = HOSTILE
        hs_sandbox.invalidate(sandbox.world)
    ctx = context(tmp_path, sandbox, crm)
    report = run_cycle(ctx)
    assert report.ok and report.applied is not None and report.applied.failed == 0, report.summary()
    task = next(t for t in upsync_tasks(sandbox, crm) if t["account"] == target)
    if crm == "salesforce":
        body, subject = task["raw"]["Description"], task["raw"]["Subject"]
        assert len(body) <= 32_000 and len(subject) <= 255
        assert "<script>alert('x')</script>" in body and "株式会社テスト" in body  # plain text: kept as written
    else:
        body, subject = task["raw"]["properties"]["hs_task_body"], task["raw"]["properties"]["hs_task_subject"]
        assert len(body) <= 65_536 and len(subject) <= 255
        assert tags_in(body) <= {"p", "br", "ul", "li", "strong", "a"}  # the data made no element of its own
        assert "&lt;script&gt;" in body and "株式会社テスト" in body
    assert task["key"] in body  # the sync-key footer survives any truncation
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_partial_batch_failure_retries_only_the_refused_items(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    expected = seat_heavy(sandbox, crm)
    task_target, field_target = sorted(expected)[:2]
    ctx = context(tmp_path, sandbox, crm)
    key = op_key("seats-near-limit", crm, task_target, period_of("month", sandbox.world.now()))
    band = {"salesforce": "Upsync_Health_Band__c", "hubspot": "upsync_health_band"}[crm]
    if crm == "salesforce":
        sf_sandbox.refuse_items(sandbox.world, lambda r: r.get("Upsync_Sync_Key__c") == key, sobject="Task")
        sf_sandbox.refuse_items(sandbox.world, lambda r: r.get("Id") == field_target and band in r, sobject="Account")
    else:
        hs_sandbox.refuse_items(sandbox.world, lambda p: p.get("upsync_sync_key") == key, object_type="tasks")
        hs_sandbox.refuse_items(
            sandbox.world, lambda p: p.get("hs_object_id") == field_target and band in p, object_type="companies"
        )

    first = run_cycle(ctx)
    assert first.applied is not None
    assert first.applied.created == len(expected) - 1 and first.applied.failed == 2
    assert sorted(t["account"] for t in upsync_tasks(sandbox, crm)) == sorted(set(expected) - {task_target})
    assert ctx.store.ledger(crm)[key].state is LedgerState.failed
    assert account_field(sandbox, crm, field_target, "health_band") is None
    time.sleep(0.01)

    second = run_cycle(ctx)
    assert second.ok and second.applied is not None, second.summary()
    assert [t.account_id for t in second.plan.writes] == [task_target]  # only the refused task…
    assert [f.account_id for f in second.plan.fields] == [field_target]  # …and the refused fields
    assert second.applied.created == 1 and second.applied.fields == 1
    tasks = upsync_tasks(sandbox, crm)
    assert sorted(t["account"] for t in tasks) == sorted(expected) and len({t["key"] for t in tasks}) == len(tasks)
    assert account_field(sandbox, crm, field_target, "health_band") in ("green", "yellow", "red")
    ctx.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_plan_reads_the_store_only_and_works_with_every_stand_in_stopped(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    ctx = context(tmp_path, sandbox, crm)
    assert run_cycle(ctx).ok
    task = sorted(upsync_tasks(sandbox, crm), key=lambda t: str(t["account"]))[0]
    sandbox.world.started -= 300  # five minutes later, a rep edits it: `apply` would ask the CRM who
    edit_task(sandbox, crm, task, a_person(sandbox, crm))
    time.sleep(0.01)
    ctx.dry_run = True
    assert run_cycle(ctx).ok  # pulls the edit; writes nothing
    ctx.close()
    as_of = sandbox.world.now().isoformat()
    common = ["--config", str(tmp_path / f"config-{crm}.toml"), "--state", str(tmp_path / f"state-{crm}.db")]
    plan = [*upsync_cmd("plan", "--json", *common, "--as-of", as_of)]
    env = sandbox_env(sandbox)

    before = {name: len(service.requests) for name, service in sandbox.services.items()}
    online = subprocess.run(plan, env=env, capture_output=True, timeout=120)
    assert online.returncode == 0, online.stderr.decode()
    assert {name: len(service.requests) for name, service in sandbox.services.items()} == before

    sandbox.stop()  # Salesforce, HubSpot and the usage API: a call to any of them now fails
    offline = subprocess.run(plan, env=env, capture_output=True, timeout=120)
    assert offline.returncode == 0, offline.stderr.decode()
    assert json.loads(offline.stdout) == json.loads(online.stdout)
    assert task["raw"]["Id" if crm == "salesforce" else "id"] in json.loads(offline.stdout)["unasked"]
