"""Per-record refusals and schema removals in the stand-ins, as a real client sees them on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox import hubspot as hs
from sandbox import salesforce as sf
from sandbox.server import Sandbox
from tests.conftest import sandbox_env

pytestmark = pytest.mark.e2e
SF = "/services/data/v60.0"


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(sandbox.ca_path)
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would override verify
    yield session
    session.close()


def sf_call(sb: Sandbox, http: requests.Session, method: str, path: str, body: Any = None) -> requests.Response:
    token = sandbox_env(sb)["SALESFORCE_TOKEN"]
    return http.request(
        method, f"{sb.salesforce.url}{SF}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def hs_call(sb: Sandbox, http: requests.Session, path: str, body: Any) -> requests.Response:
    token = sandbox_env(sb)["HUBSPOT_TOKEN"]
    return http.post(f"{sb.hubspot.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})


def sf_task(n: int, account: str, owner: str) -> dict[str, Any]:
    return {
        "attributes": {"type": "Task"},
        "Subject": f"task {n}",
        "Upsync_Sync_Key__c": f"key-{n}",
        "WhatId": account,
        "OwnerId": owner,
    }


# -- Salesforce --------------------------------------------------------------------------------


def test_salesforce_collections_refuse_only_the_matching_record_and_only_times_times(
    sandbox: Sandbox, http: requests.Session
) -> None:
    world = sandbox.world
    account = world.account_keys[0].salesforce_id
    owner = next(u["Id"] for u in world.salesforce.objects["User"].values() if u["IsActive"])
    fault = sf.refuse_items(world, lambda v: v.get("Upsync_Sync_Key__c") == "key-1", sobject="Task")
    records = [sf_task(n, account, owner) for n in range(3)]

    created = sf_call(sandbox, http, "POST", "/composite/sobjects", {"allOrNone": False, "records": records}).json()
    assert [r["success"] for r in created] == [True, False, True]
    message = "unable to obtain exclusive access to this record or 1 records"
    assert created[1] == {
        "success": False,
        "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": message, "fields": []}],
    }
    assert fault.times == 0 and world.salesforce.item_faults == []

    upserted = sf_call(
        sandbox,
        http,
        "PATCH",
        "/composite/sobjects/Task/Upsync_Sync_Key__c",
        {"allOrNone": False, "records": [{k: v for k, v in r.items()} for r in records]},
    ).json()
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True), (True, False)]

    target = created[0]["id"]
    sf.refuse_items(world, lambda v: v.get("Id") == target, times=2)
    update = {"allOrNone": False, "records": [{"attributes": {"type": "Task"}, "Id": target, "Subject": "moved"}]}
    for _ in range(2):
        [refused] = sf_call(sandbox, http, "PATCH", "/composite/sobjects", update).json()
        assert refused["errors"][0]["message"].endswith(f"1 records: {target}")
    [done] = sf_call(sandbox, http, "PATCH", "/composite/sobjects", update).json()
    assert done["success"] and world.salesforce.objects["Task"][target]["Subject"] == "moved"


def test_salesforce_all_or_none_rolls_back_around_a_refused_record(sandbox: Sandbox, http: requests.Session) -> None:
    world = sandbox.world
    ids = [k.salesforce_id for k in world.account_keys[:3]]
    sf.refuse_items(world, lambda v: v.get("Id") == ids[1], status_code="UNABLE_TO_LOCK_ROW")
    records = [{"attributes": {"type": "Account"}, "Id": i, "Upsync_Health_Band__c": "green"} for i in ids]
    results = sf_call(sandbox, http, "PATCH", "/composite/sobjects", {"allOrNone": True, "records": records}).json()
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "UNABLE_TO_LOCK_ROW",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert all(world.salesforce.objects["Account"][i].get("Upsync_Health_Band__c") is None for i in ids)


def test_a_removed_salesforce_field_leaves_describe_soql_and_writes(sandbox: Sandbox, http: requests.Session) -> None:
    world = sandbox.world
    account = world.account_keys[0].salesforce_id
    sf.remove_field(world, "Account", "Upsync_Health_Band__c")
    fields = {f["name"] for f in sf_call(sandbox, http, "GET", "/sobjects/Account/describe").json()["fields"]}
    assert "Upsync_Health_Band__c" not in fields and "Upsync_Health_Score__c" in fields
    query = sf_call(sandbox, http, "GET", "/query?q=SELECT+Id,+Upsync_Health_Band__c+FROM+Account")
    assert (query.status_code, query.json()[0]["errorCode"]) == (400, "INVALID_FIELD")
    record = {"attributes": {"type": "Account"}, "Id": account, "Upsync_Health_Band__c": "green"}
    write = sf_call(sandbox, http, "PATCH", "/composite/sobjects", {"records": [record]})
    assert (write.status_code, write.json()[0]["errorCode"]) == (400, "INVALID_FIELD")
    with pytest.raises(KeyError):
        sf.remove_field(world, "Account", "No_Such_Field__c")


# -- HubSpot -----------------------------------------------------------------------------------


def hs_task(n: int, company: str, *, traced: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {
        "properties": {"hs_timestamp": "2026-06-04T09:00:00.000Z", "hs_task_subject": f"task {n}"},
        "associations": [
            {"to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}
        ],
    }
    if traced:
        item["objectWriteTraceId"] = f"trace-{n}"
    return item


def test_hubspot_batch_create_refuses_a_traced_input_in_a_207(sandbox: Sandbox, http: requests.Session) -> None:
    world = sandbox.world
    company = world.account_keys[0].hubspot_id
    hs.refuse_items(world, lambda v: v.get("hs_task_subject") == "task 1", message="try again", times=2)
    before = len(world.hubspot.objects.get("tasks", {}))

    create = "/crm/v3/objects/tasks/batch/create"
    response = hs_call(sandbox, http, create, {"inputs": [hs_task(n, company) for n in range(3)]})
    assert response.status_code == 207
    body = response.json()
    assert sorted(r["objectWriteTraceId"] for r in body["results"]) == ["trace-0", "trace-2"]
    assert body["numErrors"] == 1
    error = body["errors"][0]
    assert (error["category"], error["message"], error["context"]) == (
        "VALIDATION_ERROR",
        "try again",
        {"objectWriteTraceId": ["trace-1"]},
    )
    untraced = hs_call(sandbox, http, create, {"inputs": [hs_task(n, company, traced=False) for n in (1, 4)]})
    assert untraced.status_code == 400  # without trace ids the whole batch fails, nothing written
    assert len(world.hubspot.objects["tasks"]) == before + 2

    again = hs_call(sandbox, http, create, {"inputs": [hs_task(1, company)]})
    assert again.status_code == 201  # the fault fired twice and is spent


def test_hubspot_batch_update_refuses_a_traced_input_and_reports_missing_ids(
    sandbox: Sandbox, http: requests.Session
) -> None:
    world = sandbox.world
    ids = [k.hubspot_id for k in world.account_keys[:3]]
    hs.refuse_items(world, lambda v: v.get("hs_object_id") == ids[1], object_type="companies")
    inputs = [
        {"id": i, "properties": {"upsync_health_band": "green"}, "objectWriteTraceId": f"w-{i}"} for i in [*ids, "77"]
    ]
    response = hs_call(sandbox, http, "/crm/v3/objects/companies/batch/update", {"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert sorted(r["id"] for r in body["results"]) == sorted([ids[0], ids[2]])
    contexts = [e["context"] for e in body["errors"]]
    assert contexts == [{"ids": ["77"]}, {"objectWriteTraceId": [f"w-{ids[1]}"]}]
    bands = [world.hubspot.objects["companies"][i]["properties"].get("upsync_health_band") for i in ids]
    assert bands[0] == bands[2] == "green" and bands[1] != "green"


def test_hubspot_history_reads_take_at_most_fifty_records(sandbox: Sandbox, http: requests.Session) -> None:
    ids = [k.hubspot_id for k in sandbox.world.account_keys[:51]]
    body: dict[str, Any] = {
        "inputs": [{"id": i} for i in ids],
        "properties": ["name"],
        "propertiesWithHistory": ["name"],
    }
    response = hs_call(sandbox, http, "/crm/v3/objects/companies/batch/read", body)
    assert response.status_code == 400
    assert "property histories is 50" in response.json()["message"]
    body["inputs"] = body["inputs"][:50]
    assert len(hs_call(sandbox, http, "/crm/v3/objects/companies/batch/read", body).json()["results"]) == 50


def test_removed_hubspot_properties_and_groups_can_be_created_again(sandbox: Sandbox, http: requests.Session) -> None:
    world = sandbox.world
    token = sandbox_env(sandbox)["HUBSPOT_TOKEN"]

    def names(path: str) -> set[str]:
        got = http.get(f"{sandbox.hubspot.url}{path}", headers={"Authorization": f"Bearer {token}"}).json()
        return {r["name"] for r in got["results"]}

    hs.remove_property(world, "tasks", "upsync_sync_key")
    assert "upsync_sync_key" not in names("/crm/v3/properties/tasks")
    hs.remove_group(world, "companies", "upsync")
    assert "upsync" not in names("/crm/v3/properties/companies/groups")
    assert not {n for n in names("/crm/v3/properties/companies") if n.startswith("upsync_health")}
    assert hs_call(sandbox, http, "/crm/v3/properties/companies/groups", {"name": "upsync", "label": "Upsync"}).ok
    prop = {"name": "upsync_health_band", "label": "Band", "type": "string", "fieldType": "text", "groupName": "upsync"}
    assert hs_call(sandbox, http, "/crm/v3/properties/companies", prop).status_code == 201
    with pytest.raises(KeyError):
        hs.remove_property(world, "tasks", "upsync_sync_key")


def test_a_hubspot_ui_edit_records_the_user_on_the_record_and_the_api_cannot(
    sandbox: Sandbox, http: requests.Session
) -> None:
    company = sandbox.world.account_keys[0].hubspot_id
    obj = hs.edit_as_user(sandbox.world, "companies", company, {"industry": "RETAIL"}, 9000001)
    assert obj["properties"]["hs_updated_by_user_id"] == "9000001"
    inputs = [{"id": company, "properties": {"hs_updated_by_user_id": "1"}}]
    refused = hs_call(sandbox, http, "/crm/v3/objects/companies/batch/update", {"inputs": inputs})
    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (400, "READ_ONLY_VALUE")
