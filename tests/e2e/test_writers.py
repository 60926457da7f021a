"""The CRM writers through simple-salesforce and hubspot-api-client over HTTPS to the sandbox:
tasks created, refused one by one, updated and closed; upsync's account fields written and read
back by the pull; who edited what; and the schema checks an admin runs before the first write."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import TaskWriter
from connectors.salesforce.writes import SalesforceTaskWriter
from core.records import FieldWrite, LedgerState, TaskIntent, TaskUpdate
from sandbox import hubspot as hs_sandbox
from sandbox import salesforce as sf_sandbox
from sandbox.server import Sandbox
from sync.runner import Context, connect_crm, connect_usage, pull_all
from sync.settings import load_settings
from sync.store import Store
from tests.conftest import sandbox_env, write_config

pytestmark = pytest.mark.e2e
CRMS = ["salesforce", "hubspot"]
TASK_WRITE = {
    "salesforce": ("PATCH", r"/composite/sobjects"),
    "hubspot": ("POST", r"/crm/v3/objects/tasks/batch/(create|update)$"),
}
FIELD_WRITE = {
    "salesforce": ("PATCH", r"/composite/sobjects$"),
    "hubspot": ("POST", r"/crm/v3/objects/companies/batch"),
}
KEY = {"salesforce": "Upsync_Sync_Key__c", "hubspot": "upsync_sync_key"}


def connect(tmp_path: Path, sb: Sandbox, crm: str, *, salesforce: str = "", hubspot: str = "") -> Any:
    env = sandbox_env(sb)
    config = write_config(tmp_path, sb, crm, salesforce=salesforce, hubspot=hubspot)
    return connect_crm(load_settings(config, env), env)


def accounts(sb: Sandbox, crm: str) -> list[str]:
    return [k.salesforce_id if crm == "salesforce" else k.hubspot_id for k in sb.world.account_keys]


def owners(sb: Sandbox, crm: str) -> list[str]:
    """Active owners, the integration user excluded."""
    if crm == "salesforce":
        users = sb.world.salesforce.objects["User"].values()
        me = sb.world.salesforce.integration_user_id
        return sorted(u["Id"] for u in users if u["IsActive"] and u["Id"] != me)
    return sorted(o["id"] for o in sb.world.hubspot.objects["owners"].values() if not o.get("archived"))


def intent(sb: Sandbox, crm: str, n: int, *, key: str | None = None) -> TaskIntent:
    return TaskIntent(
        key=key or f"writer-test-{crm}-{n}",
        rule_id="seats-near-limit",
        system=crm,  # type: ignore[arg-type]
        account_id=accounts(sb, crm)[n],
        owner_id=owners(sb, crm)[n % 3],
        subject=f"Seats near the limit #{n}",
        body=f"Plain body {n}\nhttps://playbooks.example.com/seat-expansion",
        body_html=f"<p>HTML body {n}</p>",
        due_on=date(2026, 6, 4),
        priority="high",
        playbook_url="https://playbooks.example.com/seat-expansion",
        window="2026-W23",
    )


def stored_task(sb: Sandbox, crm: str, key: str) -> dict[str, Any]:
    """The sandbox's own record of the task with ``key`` (flat: Salesforce fields or HubSpot properties)."""
    if crm == "salesforce":
        found = [t for t in sb.world.salesforce.objects.get("Task", {}).values() if t.get(KEY[crm]) == key]
    else:
        found = [
            {"id": t["id"], **t["properties"]}
            for t in sb.world.hubspot.objects.get("tasks", {}).values()
            if t["properties"].get(KEY[crm]) == key
        ]
    assert len(found) == 1, f"{len(found)} tasks carry {key}"
    return found[0]


def account_values(sb: Sandbox, crm: str, account: str) -> dict[str, Any]:
    if crm == "salesforce":
        return dict(sb.world.salesforce.objects["Account"][account])
    return dict(sb.world.hubspot.objects["companies"][account]["properties"])


def calls(sb: Sandbox, crm: str, what: dict[str, tuple[str, str]]) -> int:
    method, path = what[crm]
    return sb.services[crm].calls(method, path)


def refuse(sb: Sandbox, crm: str, field: str, value: str, *, times: int = 1) -> None:
    """Arm a per-record refusal for the record whose ``field`` (API name) is ``value``."""
    if crm == "salesforce":
        sf_sandbox.refuse_items(sb.world, lambda v: v.get(field) == value, times=times)
    else:
        hs_sandbox.refuse_items(
            sb.world, lambda v: v.get(field) == value, category="VALIDATION_ERROR", message="busy", times=times
        )


# -- tasks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("crm", CRMS)
def test_a_second_write_of_the_same_keys_adds_no_task(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    connector = connect(tmp_path, sandbox, crm)
    writer: TaskWriter = connector.writer
    tasks = [intent(sandbox, crm, n) for n in range(3)]
    first = writer.create(tasks)
    assert [r.state for r in first] == [LedgerState.confirmed] * 3
    assert [r.key for r in first] == [t.key for t in tasks]
    for task, result in zip(tasks, first, strict=True):
        stored = stored_task(sandbox, crm, task.key)
        assert result.crm_id == stored["Id" if crm == "salesforce" else "id"]
        if crm == "salesforce":
            assert stored["Description"] == task.body  # plain text
        else:
            assert stored["hs_task_body"] == task.body_html  # the HTML as given

    if crm == "salesforce":  # an upsert on the sync key: the same records again
        again = writer.create(tasks)
        assert [(r.state, r.crm_id) for r in again] == [(r.state, r.crm_id) for r in first]
    else:  # batch create is not idempotent: the write-back looks keys up before it creates again
        assert writer.find([t.key for t in tasks]) == {r.key: r.crm_id for r in first}
    assert all(stored_task(sandbox, crm, t.key) for t in tasks)  # still exactly one each
    connector.close()


@pytest.mark.parametrize("crm", CRMS)
def test_a_refused_task_fails_alone_and_its_retry_succeeds(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    connector = connect(tmp_path, sandbox, crm)
    tasks = [intent(sandbox, crm, n) for n in range(4)]
    refuse(sandbox, crm, KEY[crm], tasks[2].key)
    before = calls(sandbox, crm, TASK_WRITE)
    results = connector.writer.create(tasks)
    assert calls(sandbox, crm, TASK_WRITE) == before + 1
    assert [r.state for r in results] == [LedgerState.confirmed] * 2 + [LedgerState.failed, LedgerState.confirmed]
    failed = results[2]
    assert failed.crm_id is None and failed.error is not None and len(failed.error) <= 500
    assert failed.error.startswith(
        "UNABLE_TO_LOCK_ROW: unable to obtain" if crm == "salesforce" else "VALIDATION_ERROR"
    )
    for task in (tasks[0], tasks[1], tasks[3]):
        stored_task(sandbox, crm, task.key)

    retry = connector.writer.create([tasks[2]])
    assert retry[0].state is LedgerState.confirmed
    assert retry[0].crm_id == stored_task(sandbox, crm, tasks[2].key)["Id" if crm == "salesforce" else "id"]
    connector.close()


@pytest.mark.parametrize("crm", CRMS)
def test_updates_reassign_reprioritise_and_close_in_one_call(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    connector = connect(tmp_path, sandbox, crm)
    writer: TaskWriter = connector.writer
    tasks = [intent(sandbox, crm, n) for n in range(2)]
    created = writer.create(tasks)
    new_owner = owners(sandbox, crm)[5]
    updates = [
        TaskUpdate(
            key=tasks[0].key,
            crm_id=created[0].crm_id,
            rule_id="seats-near-limit",
            system=crm,  # type: ignore[arg-type]
            account_id=tasks[0].account_id,
            owner_id=new_owner,
            priority="low",
            due_on=date(2026, 6, 10),
        ),
        TaskUpdate(
            key=tasks[1].key,
            crm_id=created[1].crm_id,
            rule_id="seats-near-limit",
            system=crm,  # type: ignore[arg-type]
            account_id=tasks[1].account_id,
            close=True,
            body="Plain body 1\n\nClosed by upsync: the signal cleared.",
            body_html="<p>HTML body 1</p><p>Closed by upsync: the signal cleared.</p>",
        ),
        TaskUpdate(
            key="never-read-back",
            crm_id=None,
            rule_id="seats-near-limit",
            system=crm,  # type: ignore[arg-type]
            account_id=tasks[1].account_id,
            close=True,
        ),
    ]
    before = calls(sandbox, crm, TASK_WRITE)
    results = writer.update(updates)
    assert calls(sandbox, crm, TASK_WRITE) == before + 1
    assert [r.key for r in results] == [u.key for u in updates]
    assert [r.state for r in results] == [LedgerState.confirmed, LedgerState.confirmed, LedgerState.failed]
    assert "reconcile" in (results[2].error or "")

    moved, closed = stored_task(sandbox, crm, tasks[0].key), stored_task(sandbox, crm, tasks[1].key)
    if crm == "salesforce":
        assert (moved["OwnerId"], moved["Priority"], moved["ActivityDate"]) == (new_owner, "Low", "2026-06-10")
        assert moved["Subject"] == tasks[0].subject  # untouched
        assert (closed["Status"], closed["IsClosed"]) == ("Completed", True)
        assert closed["Description"].endswith("Closed by upsync: the signal cleared.")
    else:
        assert (moved["hubspot_owner_id"], moved["hs_task_priority"]) == (new_owner, "LOW")
        assert moved["hs_timestamp"].startswith("2026-06-10")
        assert moved["hs_task_subject"] == tasks[0].subject
        assert closed["hs_task_status"] == "COMPLETED"
        assert closed["hs_task_body"] == "<p>HTML body 1</p><p>Closed by upsync: the signal cleared.</p>"
    connector.close()


def test_an_update_of_a_deleted_salesforce_task_fails_instead_of_recreating_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    connector = connect(tmp_path, sandbox, "salesforce")
    task = intent(sandbox, "salesforce", 0)
    [created] = connector.writer.create([task])
    assert created.crm_id is not None
    sf_sandbox.soft_delete(sandbox.world, "Task", created.crm_id)
    update = TaskUpdate(
        key=task.key, crm_id=created.crm_id, rule_id=task.rule_id, system="salesforce", account_id=task.account_id
    )
    [result] = connector.writer.update([replace(update, close=True)])
    assert result.state is LedgerState.failed and (result.error or "").startswith("ENTITY_IS_DELETED")
    live = [t for t in sandbox.world.salesforce.objects["Task"].values() if t.get(KEY["salesforce"]) == task.key]
    assert [t["IsDeleted"] for t in live] == [True]  # no bare task re-created
    connector.close()


# -- account fields ---------------------------------------------------------------------------

SF_FIELDS_WITHOUT_LAST_SIGNAL = """account_fields = { health_score = "Upsync_Health_Score__c", \
health_band = "Upsync_Health_Band__c", expansion_score = "Upsync_Expansion_Score__c", \
next_best_action = "Upsync_Next_Best_Action__c", playbook_url = "Upsync_Playbook_Url__c", as_of = "Upsync_As_Of__c" }"""
HS_FIELDS_WITHOUT_LAST_SIGNAL = """company_properties = { health_score = "upsync_health_score", \
health_band = "upsync_health_band", expansion_score = "upsync_expansion_score", \
next_best_action = "upsync_next_best_action", playbook_url = "upsync_playbook_url", as_of = "upsync_as_of" }"""


def field_write(crm: str, account: str, n: int) -> FieldWrite:
    return FieldWrite(
        key=f"fields-{account}-{n}",
        system=crm,  # type: ignore[arg-type]
        account_id=account,
        values={
            "health_score": 40.0 + n % 50 + 0.5,
            "health_band": "green" if n % 2 else "amber",
            "expansion_score": 1200.0,
            "next_best_action": f"Propose {n} more seats",
            "last_signal": "not owned in this config: never written",
            "playbook_url": "https://playbooks.example.com/seat-expansion",
            "as_of": "2026-06-01T12:00:00Z",
        },
    )


@pytest.mark.parametrize("crm", CRMS)
def test_fields_are_written_in_one_call_per_batch_and_read_back(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    owned = {"salesforce": SF_FIELDS_WITHOUT_LAST_SIGNAL, "hubspot": HS_FIELDS_WITHOUT_LAST_SIGNAL}[crm]
    connector = connect(tmp_path, sandbox, crm, **{crm: owned})
    writer: TaskWriter = connector.writer
    ids = accounts(sandbox, crm)
    writes = [field_write(crm, account, n) for n, account in enumerate(ids)]
    missing = "001Dn0000099999AAA" if crm == "salesforce" else "30000099999"
    writes.append(replace(writes[0], key="fields-missing", account_id=missing))
    if crm == "salesforce":
        refuse(sandbox, crm, "Id", ids[7])
    else:
        refuse(sandbox, crm, "hs_object_id", ids[7])

    before = calls(sandbox, crm, FIELD_WRITE)
    results = []
    for start in range(0, len(writes), writer.batch_size):
        results.extend(writer.write_fields(writes[start : start + writer.batch_size]))
    batches = -(-len(writes) // writer.batch_size)
    assert calls(sandbox, crm, FIELD_WRITE) - before == batches == (1 if crm == "salesforce" else 2)
    assert [r.key for r in results] == [w.key for w in writes]
    failed = {r.key: r.error or "" for r in results if r.state is not LedgerState.confirmed}
    assert set(failed) == {writes[7].key, "fields-missing"}
    assert [r.crm_id for r in results] == [w.account_id for w in writes]
    assert failed["fields-missing"].startswith(
        "INVALID_CROSS_REFERENCE_KEY" if crm == "salesforce" else "OBJECT_NOT_FOUND"
    )

    values = account_values(sandbox, crm, ids[3])
    untouched = account_values(sandbox, crm, ids[7])
    if crm == "salesforce":
        assert values["Upsync_Health_Score__c"] == 43.5
        assert values["Upsync_Health_Band__c"] == "green"
        assert values["Upsync_Expansion_Score__c"] == 1200.0
        assert values["Upsync_Next_Best_Action__c"] == "Propose 3 more seats"
        assert values["Upsync_Playbook_Url__c"] == "https://playbooks.example.com/seat-expansion"
        assert values["Upsync_As_Of__c"] == "2026-06-01T12:00:00.000+0000"
        assert values.get("Upsync_Last_Signal__c") is None  # not owned: never written
        assert values["LastModifiedById"] == sandbox.world.salesforce.integration_user_id
        assert untouched.get("Upsync_Health_Score__c") is None
    else:
        assert values["upsync_health_score"] == "43.5"
        assert values["upsync_expansion_score"] == "1200"  # no spurious ".0"
        assert values["upsync_health_band"] == "green"
        assert values["upsync_as_of"] == "2026-06-01T12:00:00.000Z"
        assert values.get("upsync_last_signal") in (None, "")
        assert untouched.get("upsync_health_score") in (None, "")

    cleared = FieldWrite(key="clear", system=crm, account_id=ids[3], values={"health_band": None})  # type: ignore[arg-type]
    assert writer.write_fields([cleared])[0].state is LedgerState.confirmed
    band = account_values(sandbox, crm, ids[3])[
        "Upsync_Health_Band__c" if crm == "salesforce" else "upsync_health_band"
    ]
    assert band in (None, "")
    connector.close()


# -- who changed what -------------------------------------------------------------------------


@pytest.mark.parametrize("crm", CRMS)
def test_edit_sources_tell_upsyncs_writes_from_a_persons(tmp_path: Path, sandbox: Sandbox, crm: str) -> None:
    connector = connect(tmp_path, sandbox, crm)
    writer: TaskWriter = connector.writer
    tasks = [intent(sandbox, crm, n) for n in range(2)]
    created = writer.create(tasks)
    ids = accounts(sandbox, crm)
    writer.write_fields([field_write(crm, ids[0], 0), field_write(crm, ids[1], 1)])
    person = owners(sandbox, crm)[1]
    if crm == "salesforce":
        sf_sandbox.edit_as_user(sandbox.world, "Account", ids[1], {"Upsync_Health_Band__c": "red"}, person)
        sf_sandbox.edit_as_user(sandbox.world, "Task", str(created[1].crm_id), {"Subject": "Call Ken first"}, person)
        who = person
    else:
        user = sandbox.world.hubspot.objects["owners"][person]["userId"]
        hs_sandbox.edit_as_user(sandbox.world, "companies", ids[1], {"upsync_health_band": "red"}, user)
        hs_sandbox.edit_as_user(sandbox.world, "tasks", str(created[1].crm_id), {"hs_task_subject": "Call Ken"}, user)
        who = f"userId:{user}"

    fields = writer.edit_sources("accounts", {ids[0]: ["health_band"], ids[1]: ["health_band", "health_score"]})
    assert fields[ids[0]].origin == "upsync"
    assert (fields[ids[1]].origin, fields[ids[1]].who) == ("person", who)
    person_at, upsync_at = fields[ids[1]].at, fields[ids[0]].at
    assert person_at is not None and upsync_at is not None
    assert person_at.tzinfo is not None and person_at >= upsync_at
    edited = writer.edit_sources("tasks", {str(r.crm_id): ["subject", "owner_id"] for r in created})
    assert edited[str(created[0].crm_id)].origin == "upsync"
    assert (edited[str(created[1].crm_id)].origin, edited[str(created[1].crm_id)].who) == ("person", who)
    assert writer.edit_sources("accounts", {}) == {}
    connector.close()


def test_hubspot_history_is_read_fifty_records_a_call(tmp_path: Path, sandbox: Sandbox) -> None:
    connector = connect(tmp_path, sandbox, "hubspot")
    ids = accounts(sandbox, "hubspot")
    connector.writer.write_fields([field_write("hubspot", i, n) for n, i in enumerate(ids[:100])])
    before = sandbox.hubspot.calls("POST", r"/crm/v3/objects/companies/batch/read$")
    sources = connector.writer.edit_sources("accounts", {i: ["health_score"] for i in ids})
    assert sandbox.hubspot.calls("POST", r"/crm/v3/objects/companies/batch/read$") - before == 3  # 50 + 50 + 20
    assert {sources[i].origin for i in ids[:100]} == {"upsync"}
    assert all(i not in sources for i in ids[100:])  # never written, no history: not upsync's
    connector.close()


def test_the_salesforce_integration_user_comes_from_the_oauth_identity(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = sandbox.world.auth["salesforce"]
    monkeypatch.setenv("SF_CLIENT_ID", auth.client_id)
    monkeypatch.setenv("SF_CLIENT_SECRET", auth.client_secret)
    monkeypatch.setenv("SF_REFRESH", "sandbox-refresh-token")
    oauth = (
        '[salesforce.oauth]\nclient_id_env = "SF_CLIENT_ID"\nclient_secret_env = "SF_CLIENT_SECRET"\n'
        'refresh_token_env = "SF_REFRESH"'
    )
    env = {k: v for k, v in sandbox_env(sandbox).items() if k != "SALESFORCE_TOKEN"}
    connector = connect_crm(load_settings(write_config(tmp_path, sandbox, "salesforce", salesforce=oauth), env), env)
    queries = sandbox.salesforce.calls("GET", r"/query")
    assert isinstance(connector.writer, SalesforceTaskWriter)
    assert connector.writer.integration_user() == sandbox.world.salesforce.integration_user_id
    assert sandbox.salesforce.calls("GET", r"/query") == queries  # known from the token response
    connector.close()


# -- schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize("crm", CRMS)
def test_check_schema_passes_on_the_sandbox_and_names_a_removed_field(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    connector = connect(tmp_path, sandbox, crm)
    report = connector.writer.check_schema()
    assert report.ok, report.missing
    # 7 fields + key (+ 2 groups), and the fields the pull reads: 6 Account fields, or 7 company properties
    assert len(report.present) == (8 + 6 if crm == "salesforce" else 10 + 7)

    if crm == "salesforce":
        sf_sandbox.remove_field(sandbox.world, "Account", "Upsync_Health_Band__c")
        sf_sandbox.remove_field(sandbox.world, "Task", "Upsync_Sync_Key__c")
    else:
        hs_sandbox.remove_property(sandbox.world, "companies", "upsync_health_band")
        hs_sandbox.remove_property(sandbox.world, "tasks", "upsync_sync_key")
    report = connector.writer.check_schema()
    assert not report.ok
    assert len(report.missing) == len(report.instructions) == 2
    band, key = report.missing
    if crm == "salesforce":
        assert band.startswith("Account.Upsync_Health_Band__c (health_band)")
        assert key.startswith("Task.Upsync_Sync_Key__c")
        assert "Text(20)" in report.instructions[0] and "API name Upsync_Health_Band__c" in report.instructions[0]
        assert "External ID" in report.instructions[1] and "Text(80)" in report.instructions[1]
        assert connector.writer.setup_schema() == report  # the REST API cannot create fields
    else:
        assert band.startswith("companies property upsync_health_band")
        assert key.startswith("tasks property upsync_sync_key")
        assert "upsync crm setup" in report.instructions[0]
    connector.close()


def test_a_salesforce_field_of_the_wrong_type_is_reported(tmp_path: Path, sandbox: Sandbox) -> None:
    # health_score mapped onto a text field: it exists, but cannot hold a number
    mapping = SF_FIELDS_WITHOUT_LAST_SIGNAL.replace('"Upsync_Health_Score__c"', '"Upsync_Last_Signal__c"')
    connector = connect(tmp_path, sandbox, "salesforce", salesforce=mapping)
    report = connector.writer.check_schema()
    assert report.missing == ("Account.Upsync_Last_Signal__c (health_score): type string, upsync writes Number(5, 1)",)
    connector.close()


def test_hubspot_setup_creates_the_group_and_properties_once(tmp_path: Path, sandbox: Sandbox) -> None:
    for object_type in ("companies", "tasks"):
        hs_sandbox.remove_group(sandbox.world, object_type, "upsync")
    connector = connect(tmp_path, sandbox, "hubspot")
    assert len(connector.writer.check_schema().missing) == 10  # 2 groups, 7 company properties, the key

    report = connector.writer.setup_schema()
    assert report.ok and report.missing == ()
    assert report.created[:2] == ("companies property group upsync", "tasks property group upsync")
    assert len(report.created) == 10
    assert connector.writer.check_schema().ok
    created = {p.name: p for p in connector.client._properties.get_all("companies").results}
    assert (created["upsync_health_score"].type, created["upsync_as_of"].type) == ("number", "datetime")
    assert created["upsync_health_band"].group_name == "upsync"

    posts = sandbox.hubspot.calls("POST", r"/crm/v3/properties/")
    again = connector.writer.setup_schema()
    assert (again.created, again.missing) == ((), ())
    assert sandbox.hubspot.calls("POST", r"/crm/v3/properties/") == posts  # nothing to create the second time

    # the properties it made are writable at once
    ids = accounts(sandbox, "hubspot")
    assert connector.writer.write_fields([field_write("hubspot", ids[0], 0)])[0].state is LedgerState.confirmed
    connector.close()


# -- the pull reads what upsync owns ----------------------------------------------------------


@pytest.mark.parametrize("crm", CRMS)
def test_a_pulled_account_carries_upsyncs_fields_and_its_last_editor(
    tmp_path: Path, sandbox: Sandbox, crm: str
) -> None:
    env = sandbox_env(sandbox)
    settings = load_settings(write_config(tmp_path, sandbox, crm), env)
    ctx = Context(
        settings=settings,
        store=Store.open(str(tmp_path / "state.db")),
        crm=connect_crm(settings, env),
        usage=connect_usage(settings, env),
        clock=sandbox.world.now,
    )
    ids = accounts(sandbox, crm)
    ctx.crm.writer.write_fields([field_write(crm, ids[0], 0)])
    person = owners(sandbox, crm)[2]
    if crm == "salesforce":
        sf_sandbox.edit_as_user(sandbox.world, "Account", ids[1], {"Industry": "Retail"}, person)
        expected_editor = person
    else:
        user = sandbox.world.hubspot.objects["owners"][person]["userId"]
        hs_sandbox.edit_as_user(sandbox.world, "companies", ids[1], {"industry": "RETAIL"}, user)
        expected_editor = str(user)

    stream = "salesforce.accounts" if crm == "salesforce" else "hubspot.companies"
    # SOQL compares whole milliseconds: start the run a moment after the edit, as a later run would
    started = sandbox.world.now() + timedelta(milliseconds=5)
    reports = pull_all(ctx, as_of=started, only=lambda name: name == stream)
    assert [r.error for r in reports if r.error] == []
    rows = {r["crm_id"]: r for r in ctx.store.rows("accounts", system=crm)}
    assert rows[ids[0]]["upsync_fields"] == {
        "health_score": 40.5,
        "health_band": "amber",
        "expansion_score": 1200.0,
        "next_best_action": "Propose 0 more seats",
        "last_signal": "not owned in this config: never written",
        "playbook_url": "https://playbooks.example.com/seat-expansion",
        "as_of": "2026-06-01T12:00:00Z",
    }
    assert rows[ids[1]]["upsync_fields"] == {}
    assert rows[ids[1]]["last_modified_by"] == expected_editor
    if crm == "salesforce":
        assert rows[ids[0]]["last_modified_by"] == sandbox.world.salesforce.integration_user_id
    state = ctx.store.account_states(crm)[ids[0]]
    assert state.current["health_band"] == "amber"
    ctx.close()


def test_a_state_db_from_before_the_owned_columns_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(str(path)).close()
    with sqlite3.connect(path) as conn:  # as an older upsync left it: schema version 4, before migrations
        conn.execute("ALTER TABLE accounts DROP COLUMN upsync_fields")
        conn.execute("ALTER TABLE accounts DROP COLUMN last_modified_by")
        conn.execute("DROP TABLE alembic_version")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        conn.execute(
            "INSERT INTO accounts (system, crm_id, deleted, name, modified_at, synced_at) "
            "VALUES ('salesforce', '001A', 0, 'Acme', :at, :at)",
            {"at": datetime(2026, 5, 1).isoformat(sep=" ")},
        )
    with Store.open(str(path)) as store:
        columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(accounts)")}
        assert {"upsync_fields", "last_modified_by"} <= columns
        assert store.rows("accounts")[0]["name"] == "Acme"
        assert store.account_states("salesforce")["001A"].current == {}
